// dcache-fuzz: libFuzzer targets for every decoder that reads bytes from the network.
//
// One executable, the target chosen by DCACHE_FUZZ_TARGET (event, stored, json, msgpack, resp),
// built only by scripts/fuzz (with `-sanitize=fuzzer,address`; Package.swift declares it when
// DCACHE_FUZZ is set). Each target checks more than "does not crash" where a property is cheap:
// what decodes must re-encode to something that decodes to the same value, and the JSON fast
// paths must agree with Foundation's decoder.

import CSupport
import Foundation
import PodLineProtocol
import RedisTransport

@testable import DistributedCache

enum FuzzTarget: String {
    case event, stored, json, msgpack, resp, pod
}

let fuzzTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["DCACHE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("set DCACHE_FUZZ_TARGET to one of: event, stored, json, msgpack, resp, pod (got \"\(name)\")")
    }
    return target
}()

/// A value of many shapes, for the marshallers.
struct Sample: Codable, Equatable {
    var name: String
    var count: Int
    var ratio: Double?
    var tags: [String]
    var nested: [String: [Int]]
    var flag: Bool
    var data: Data?
}

let json = JSONMarshaller()
let foundationJSON = JSONDecoder()
let msgpack = MessagePackMarshaller()

/// libFuzzer's driver (its `main` runs it; SwiftPM links an executable's entry as
/// `dcache_fuzz_main`, below).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("dcache_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch fuzzTarget {
    case .event: fuzzEvent(bytes)
    case .stored: fuzzStored(bytes)
    case .json: fuzzJSON(bytes)
    case .msgpack: fuzzMessagePack(bytes)
    case .resp: fuzzRESP(bytes)
    case .pod: fuzzPodLine(bytes)
    }
    return 0
}

let signer = EventSigner(secrets: ["a fuzzing secret of enough bytes"])!

/// Events as published on the channel: decode; what decodes re-encodes to an equal event. (An
/// unversioned event is the reference's, which carries no TTL and no tags: the decoder accepts
/// them, the encoder writes neither, as the reference library does.)
func fuzzEvent(_ bytes: [UInt8]) {
    // The signature check reads every payload first when signing is on.
    if let unsigned = signer.verify(bytes) { precondition(signer.verify(signer.sign(unsigned)) == unsigned, "sign/verify") }
    guard case .success(var event) = EventCodec.decode(bytes) else { return }
    guard case .success(let again) = EventCodec.decode(EventCodec.encode(event)) else {
        fatalError("a decoded event does not decode after re-encoding: \(event)")
    }
    if event.version == nil {
        event.ttlMilliseconds = nil
        event.tags = [:]
    }
    precondition(again == event, "event round trip changed \(event) into \(again)")
}

/// Stored values as read from Redis: the header parser keeps every bound.
func fuzzStored(_ bytes: [UInt8]) {
    let parsed = RedisLayout.parseStored(bytes)
    precondition(parsed.version <= SyncedCache.maximumVersion, "version past the bound")
    if parsed.version == 0 {
        precondition(parsed.bytes == bytes && parsed.expiry == .unknown, "an unversioned value must stay whole")
    } else {
        precondition(parsed.bytes.count < bytes.count && bytes.suffix(parsed.bytes.count).elementsEqual(parsed.bytes), "header not a prefix")
    }
    if case .at(let deadline) = parsed.expiry {
        precondition(deadline > 0, "a zero deadline means none")
        _ = RedisLayout.remainingTTL(untilUnixMilliseconds: deadline)
    }
}

/// JSON values: the fast paths agree with Foundation; a decoded sample re-encodes and decodes
/// to the same value.
func fuzzJSON(_ bytes: [UInt8]) {
    let fastString = try? json.unmarshal(String.self, from: bytes)
    precondition(fastString == (try? foundationJSON.decode(String.self, from: Data(bytes))), "String decode differs")
    let fastInt = try? json.unmarshal(Int.self, from: bytes)
    precondition(fastInt == (try? foundationJSON.decode(Int.self, from: Data(bytes))), "Int decode differs")
    if let sample = try? json.unmarshal(Sample.self, from: bytes), let again = try? json.marshal(sample) {
        precondition((try? json.unmarshal(Sample.self, from: again)) == sample, "JSON round trip changed a value")
    }
    _ = try? json.unmarshal([String: [Double]].self, from: bytes)
}

/// MessagePack values: decode into several shapes; a decoded value re-encodes and decodes to the
/// same value.
func fuzzMessagePack(_ bytes: [UInt8]) {
    if let sample = try? msgpack.unmarshal(Sample.self, from: bytes), let again = try? msgpack.marshal(sample) {
        precondition((try? msgpack.unmarshal(Sample.self, from: again)) == sample, "MessagePack round trip changed a value")
    }
    if let map = try? msgpack.unmarshal([String: [Int64]].self, from: bytes), let again = try? msgpack.marshal(map) {
        precondition((try? msgpack.unmarshal([String: [Int64]].self, from: again)) == map, "map round trip changed")
    }
    _ = try? msgpack.unmarshal(String.self, from: bytes)
    _ = try? msgpack.unmarshal([UInt8].self, from: bytes)
}

/// Replies as read from a Redis connection, through hiredis's reader and our reply objects.
func fuzzRESP(_ bytes: [UInt8]) {
    guard let replies = try? RESPValue.parseReplies(bytes) else { return }
    for reply in replies { _ = reply.description }
}

/// Lines of the `dcache pod` protocol: parse; a parsed `set` keeps its key and value whole.
func fuzzPodLine(_ bytes: [UInt8]) {
    let line = String(decoding: bytes, as: UTF8.self)
    guard case .success(let command) = PodCommand.parse(Substring(line)) else { return }
    if case .set(let key, let value, let ttl, _, let tags) = command {
        precondition(!key.isEmpty && !key.contains(" "), "a key is one word")
        precondition(ttl.map { $0 > 0 } ?? true, "a TTL is positive")
        precondition(value.isEmpty || line.contains(value), "the value comes from the line")
        precondition(tags.allSatisfy { !$0.isEmpty && !$0.contains(" ") && !$0.contains(",") }, "a tag is one non-empty word")
    }
}
