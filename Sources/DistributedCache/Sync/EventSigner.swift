// EventSigner: HMAC-SHA256 signatures on events, so that only holders of a shared secret can
// publish what instances apply.
//
// A signed event is the event's JSON with one more field at its end:
//   {"key":...,"version":V,"ttl":T,"sig":"<base64 of the 32-byte HMAC-SHA256>"}
// and the signature covers the event as it would be without that field, i.e. the bytes before
// `,"sig":"` followed by `}`. Every field is covered, the version included: in signed mode the
// writer chooses the version itself and the write script only accepts it when it is above the
// namespace's counter (RedisLayout.signedWriteScript), so the client can sign the final bytes.
// Reference instances (the Go library) ignore the unknown field and read signed events as usual.
//
// Key rotation: `secrets` lists every secret accepted; the first one signs. Roll a new secret
// out as the second of the list everywhere, then make it the first, then drop the old one.
// Comparison is constant-time (swift-crypto's isValidAuthenticationCode).

import Crypto
import Foundation

/// `@unchecked Sendable`: `keys` is immutable after `init`, and a `SymmetricKey` is a value type
/// over storage that is never mutated once built (swift-crypto 3 does not declare it Sendable);
/// signing and verifying only read it.
struct EventSigner: @unchecked Sendable {
    /// The shortest secret accepted, in UTF-8 bytes (128 bits).
    static let minimumSecretLength = 16

    private let keys: [SymmetricKey]

    /// nil when `secrets` is empty (signing off).
    init?(secrets: [String]) {
        guard !secrets.isEmpty else { return nil }
        keys = secrets.map { SymmetricKey(data: Data($0.utf8)) }
    }

    private static let fieldStart = Array(#","sig":""#.utf8)

    /// `event` (a JSON object ending in `}`) with its signature field appended.
    func sign(_ event: [UInt8]) -> [UInt8] {
        precondition(event.last == UInt8(ascii: "}"), "an event is a JSON object")
        let code = HMAC<SHA256>.authenticationCode(for: event, using: keys[0])
        var signed = event
        signed.removeLast()
        signed.append(contentsOf: Self.fieldStart)
        signed.append(contentsOf: Data(code).base64EncodedString().utf8)
        signed.append(contentsOf: #""}"#.utf8)
        return signed
    }

    /// The event without its signature field if `payload` carries a valid signature by one of
    /// the secrets; nil when it is unsigned or badly signed.
    func verify(_ payload: [UInt8]) -> [UInt8]? {
        // ,"sig":"<44 base64 characters>"}  at the very end.
        let signatureLength = 44
        let tail = Self.fieldStart.count + signatureLength + 2
        guard payload.count > tail, payload.suffix(2).elementsEqual(#""}"#.utf8) else { return nil }
        let fieldIndex = payload.count - tail
        guard payload[fieldIndex..<(fieldIndex + Self.fieldStart.count)].elementsEqual(Self.fieldStart),
            let code = Data(base64Encoded: Data(payload[(fieldIndex + Self.fieldStart.count)..<(payload.count - 2)])),
            code.count == 32
        else { return nil }
        var event = Array(payload[..<fieldIndex])
        event.append(UInt8(ascii: "}"))
        for key in keys where HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: event, using: key) {
            return event
        }
        return nil
    }
}
