import Foundation
import LocalStore
import Testing

@testable import DistributedCache

/// The hand-written event codec, checked against Foundation's JSON and base64 as an oracle.
@Suite struct EventCodecTests {
    typealias Event = SyncedCache.Event

    /// What Foundation makes of a payload: the oracle the scanner replaced.
    struct OracleWire: Decodable, Equatable {
        var key: String?
        var sender: String?
        var action: String?
        var value: String?
        var version: UInt64?
        var ttl: Int64?
    }

    func oracle(_ payload: [UInt8]) -> Result<Event, EventCodec.Malformed> {
        // JSONDecoder skips unknown fields without validating them; Go's decoder (and ours)
        // rejects a payload that is not valid JSON anywhere, so validate it all first.
        guard (try? JSONSerialization.jsonObject(with: Data(payload))) is [String: Any] else { return .failure(.notJSON) }
        guard let wire = try? JSONDecoder().decode(OracleWire.self, from: Data(payload)) else { return .failure(.notJSON) }
        // The protocol's bounds (SyncedCache+Limits.swift), checked before the required fields.
        if let version = wire.version, version > SyncedCache.maximumVersion { return .failure(.outOfRange("version")) }
        if let ttl = wire.ttl, ttl < 1 || ttl > SyncedCache.maximumTTL.saturatingMilliseconds {
            return .failure(.outOfRange("ttl"))
        }
        guard let key = wire.key else { return .failure(.missingField("key")) }
        guard let sender = wire.sender else { return .failure(.missingField("sender")) }
        guard let actionName = wire.action else { return .failure(.missingField("action")) }
        guard let action = SyncedCache.Action(rawValue: actionName) else { return .failure(.unknownAction(actionName)) }
        var value: [UInt8] = []
        if let encoded = wire.value, !encoded.isEmpty {
            // Go's base64 (strict padding) rather than Foundation's, which accepts "AB=": the
            // base64 rules are checked on their own in base64_matchesFoundation.
            guard let decoded = Array(encoded.utf8).withUnsafeBytes({ Base64.decode($0) }) else { return .failure(.badValue) }
            value = decoded
        }
        return .success(Event(key: key, sender: sender, action: action, value: value, version: wire.version,
                              ttlMilliseconds: wire.ttl))
    }

    func randomString(_ generator: inout SplitMix64) -> String {
        let pieces: [String] = ["a", "Z", "9", " ", "\"", "\\", "/", "<", ">", "&", "\n", "\t", "\u{0}", "\u{1F}",
                                "\u{7F}", "é", "中", "\u{2028}", "\u{2029}", "😀", ":", "*", "{", "}"]
        return String((0..<Int.random(in: 0...12, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }
            .joined())
    }

    func randomEvent(_ generator: inout SplitMix64) -> Event {
        let action = SyncedCache.Action.allCases.randomElement(using: &generator)!
        let value = action == .set ? (0..<Int.random(in: 1...40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) } : []
        let versioned = Bool.random(using: &generator)
        return Event(
            key: randomString(&generator), sender: randomString(&generator), action: action, value: value,
            version: versioned ? UInt64.random(in: 1...SyncedCache.maximumVersion, using: &generator) : nil,
            ttlMilliseconds: versioned && Bool.random(using: &generator) ? Int64.random(in: 1...1 << 40, using: &generator) : nil)
    }

    @Test func randomEvents_roundTripAndAreValidJSONForFoundation() {
        var generator = SplitMix64(seed: 11)
        for _ in 0..<2_000 {
            let event = randomEvent(&generator)
            let payload = EventCodec.encode(event)
            #expect(EventCodec.decode(payload) == .success(event))
            #expect(oracle(payload) == .success(event))
        }
    }

    @Test func base64_matchesFoundation() {
        var generator = SplitMix64(seed: 12)
        for length in 0..<64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var encoded: [UInt8] = []
            Base64.encode(bytes, to: &encoded)
            #expect(String(decoding: encoded, as: UTF8.self) == Data(bytes).base64EncodedString())
            #expect(encoded.withUnsafeBytes { Base64.decode($0) } == bytes)
        }
        // Stricter than Foundation, which accepts some unpadded forms; as Go's StdEncoding.
        for bad in ["A", "AB=", "A===", "AB=C", "ABC$", "AB==AB==", "====", "AB\n=="] {
            #expect(Array(bad.utf8).withUnsafeBytes { Base64.decode($0) } == nil, "\(bad)")
        }
    }

    @Test func goEscaping_isByteExact() {
        let event = Event(key: "a<b>&\"\\\n\u{1}\u{2028}é", sender: "p", action: .invalidate)
        #expect(String(decoding: EventCodec.encode(event), as: UTF8.self)
            == #"{"key":"a\u003cb\u003e\u0026\"\\\n\u0001\u2028é","sender":"p","action":"invalidate"}"#)
    }

    @Test func acceptsAnyValidJSONSpellingOfAnEvent() {
        let cases: [(String, Event)] = [
            (" {\n \"action\" : \"delete\" ,\t\"sender\":\"b\", \"key\":\"k\" } \r\n",
             Event(key: "k", sender: "b", action: .delete)),
            (#"{"\u006bey":"k\/x","sender":"s","action":"set","value":"AQI=","extra":{"a":[1,2.5e-3,true,null,{"b":"c"}]}}"#,
             Event(key: "k/x", sender: "s", action: .set, value: [1, 2])),
            (#"{"key":"a","key":"b","sender":"s","action":"clear","version":null,"ttl":null}"#,
             Event(key: "b", sender: "s", action: .clear)),
            (#"{"key":"\ud83d\ude00 \ud800x","sender":"s","action":"invalidate","version":7,"ttl":1}"#,
             Event(key: "😀 \u{FFFD}x", sender: "s", action: .invalidate, version: 7, ttlMilliseconds: 1)),
            // The largest bounded numbers, and a bad number that a later occurrence replaces.
            (#"{"key":"k","sender":"s","action":"delete","version":9007199254740992,"ttl":3155760000000}"#,
             Event(key: "k", sender: "s", action: .delete, version: 1 << 53, ttlMilliseconds: 3_155_760_000_000)),
            (#"{"key":"k","sender":"s","action":"delete","ttl":0,"ttl":5,"version":9007199254740993,"version":null}"#,
             Event(key: "k", sender: "s", action: .delete, ttlMilliseconds: 5)),
            (#"{"key":"k","sender":"s","action":"set","value":""}"#, Event(key: "k", sender: "s", action: .set)),
        ]
        for (text, event) in cases {
            #expect(EventCodec.decode(Array(text.utf8)) == .success(event), "\(text)")
        }
    }

    @Test func rejectsWhatIsNotAnEvent() {
        let cases: [(String, EventCodec.Malformed)] = [
            ("", .notJSON), ("null", .notJSON), ("[]", .notJSON), (#""key""#, .notJSON),
            (#"{"key":"k","sender":"s","action":"set"} x"#, .notJSON),
            (#"{"key":"k","sender":"s","action":"set",}"#, .notJSON),
            (#"{"key":1,"sender":"s","action":"set"}"#, .notJSON),
            (#"{"key":"k","sender":"s","action":"set","version":1.5}"#, .notJSON),
            (#"{"key":"k","sender":"s","action":"set","version":-1}"#, .notJSON),
            (#"{"key":"k","sender":"s","action":"set","version":01}"#, .notJSON),
            (#"{"key":"k","sender":"s","action":"set","version":99999999999999999999}"#, .notJSON),
            ("{\"key\":\"a\u{1}b\",\"sender\":\"s\",\"action\":\"set\"}", .notJSON),
            (#"{"key":"\x","sender":"s","action":"set"}"#, .notJSON),
            (#"{"key":"\u12","sender":"s","action":"set"}"#, .notJSON),
            (#"{"key":"k","sender":"s","action":"set","x":tru}"#, .notJSON),
            (#"{"key":"k","sender":"s","action":"set","x":-}"#, .notJSON),
            (#"{"sender":"s","action":"set"}"#, .missingField("key")),
            (#"{"key":"k","action":"set"}"#, .missingField("sender")),
            (#"{"key":"k","sender":"s"}"#, .missingField("action")),
            (#"{"key":"k","sender":"s","action":"explode"}"#, .unknownAction("explode")),
            (#"{"key":"k","sender":"s","action":"set","value":"not base64!"}"#, .badValue),
            (String(repeating: "[", count: 100), .notJSON),
            // Bounds (SyncedCache+Limits.swift): the numbers that crashed receivers, and the edges.
            (#"{"key":"k","sender":"s","action":"set","value":"AQI=","ttl":9007199254740992}"#, .outOfRange("ttl")),
            (#"{"key":"k","sender":"s","action":"set","value":"AQI=","ttl":9223372036854775807}"#, .outOfRange("ttl")),
            (#"{"key":"k","sender":"s","action":"set","value":"AQI=","ttl":-9223372036854775808}"#, .outOfRange("ttl")),
            (#"{"key":"k","sender":"s","action":"set","value":"AQI=","ttl":9223372036854775808}"#, .notJSON),
            (#"{"key":"k","sender":"s","action":"set","value":"AQI=","ttl":3155760000001}"#, .outOfRange("ttl")),
            (#"{"key":"k","sender":"s","action":"set","value":"AQI=","ttl":0}"#, .outOfRange("ttl")),
            (#"{"key":"k","sender":"s","action":"set","value":"AQI=","ttl":-1}"#, .outOfRange("ttl")),
            (#"{"key":"k","sender":"s","action":"set","version":9007199254740993}"#, .outOfRange("version")),
            (#"{"key":"k","sender":"s","action":"set","version":18446744073709551615}"#, .outOfRange("version")),
            (#"{"sender":"s","action":"set","version":9223372036854775807}"#, .outOfRange("version")),
            ("{\"x\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}", .notJSON),
        ]
        for (text, failure) in cases {
            #expect(EventCodec.decode(Array(text.utf8)) == .failure(failure), "\(text)")
        }
    }

    /// Where Foundation accepts what JSON (RFC 8259) and Go reject: a trailing comma in an
    /// object, or a fraction in an integer field (which Foundation truncates).
    func foundationIsLenient(_ payload: [UInt8]) -> Bool {
        let text = String(decoding: payload, as: UTF8.self)
        return text.contains(",}") || text.contains(",]")
            || text.contains(/"(version|ttl)":-?[0-9]+\./)
    }

    /// Mutated payloads never crash the scanner, and it agrees with Foundation on every one that
    /// is valid UTF-8 (Foundation rejects invalid UTF-8; we replace it with U+FFFD, as Go does).
    @Test func mutatedPayloads_agreeWithFoundation() {
        var generator = SplitMix64(seed: 13)
        // No "e" or "E": an exponent like 1e400 overflows Foundation's Double, which then rejects
        // the payload, while Go and we only check the grammar of a field we skip.
        let alphabet = Array(#"{}[]":,\ u0123456789.-+abAZ/="#.utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF]
        var disagreements: [String] = []
        for _ in 0..<20_000 {
            var payload = EventCodec.encode(randomEvent(&generator))
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let index = Int.random(in: 0...payload.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0 where index < payload.count: payload.remove(at: index)
                case 1: payload.insert(alphabet.randomElement(using: &generator)!, at: index)
                default: if index < payload.count { payload[index] = alphabet.randomElement(using: &generator)! }
                }
            }
            let ours = EventCodec.decode(payload)
            guard String(validating: payload, as: UTF8.self) != nil else { continue }
            let theirs = oracle(payload)
            if ours != theirs, !(ours == .failure(.notJSON) && foundationIsLenient(payload)) { disagreements.append("\(String(decoding: payload, as: UTF8.self)): ours \(ours), Foundation \(theirs)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements, e.g. \(disagreements.prefix(5))")
    }
}
