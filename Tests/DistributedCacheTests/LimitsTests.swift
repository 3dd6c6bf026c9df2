import Foundation
import Testing
import TestSupport

@testable import DistributedCache

/// Every limit is answered with a typed error on the writing side and a counted skip on the
/// receiving side.
@Suite struct LimitsTests {
    @Test func batches_pastMaximumBatchSize_areRefusedBeforeAnythingIsSent() async throws {
        try await withCaches(1, configure: { $0.maximumBatchSize = 3; $0.readerCanSetToRedis = true }) { caches, _ async throws in
            let cache = caches[0]
            let keys = ["a", "b", "c", "d"]
            await #expect(throws: CacheError.batchTooLarge(size: 4, limit: 3)) { _ = try await cache.getMany(keys, as: Int.self) }
            await #expect(throws: CacheError.batchTooLarge(size: 4, limit: 3)) {
                try await cache.setMany(Dictionary(uniqueKeysWithValues: keys.map { ($0, 1) }))
            }
            await #expect(throws: CacheError.batchTooLarge(size: 4, limit: 3)) { try await cache.deleteMany(keys) }
            #expect(cache.localValue(forKey: "a", as: Int.self) == nil)
            try await cache.setMany(["a": 1, "b": 2, "c": 3])
            #expect(try await cache.getMany(["a", "b", "c"], as: Int.self).count == 3)
        }
    }

    @Test func keysAndValues_pastTheirLimits_areTypedErrors() async throws {
        try await withCaches(1, configure: { $0.maximumKeySize = 8; $0.maximumValueSize = 16 }) { caches, _ async throws in
            let cache = caches[0]
            await #expect(throws: CacheError.self) { try await cache.set("123456789", "v") }
            await #expect(throws: CacheError.valueTooLarge(size: 22, limit: 16)) { try await cache.set("k", String(repeating: "x", count: 20)) }
            try await cache.set("12345678", "v")
        }
    }

    /// What no instance with the same options could have published is skipped and counted: a key
    /// longer than the limit, a value larger than it, an event larger than the largest event.
    @Test func receivedEvents_pastTheLimits_areCountedAndSkipped() async throws {
        try await withCaches(1, configure: { $0.maximumKeySize = 8; $0.maximumValueSize = 16 }) { caches, server async throws in
            let cache = caches[0]
            let raw = try await rawClient(server)
            let longKey = #"{"key":"123456789","sender":"ghost","action":"set","value":"InYi","version":1}"#
            let bigValue = #"{"key":"k","sender":"ghost","action":"set","value":"\#(Data(repeating: 65, count: 17).base64EncodedString())","version":2}"#
            let oversized = #"{"key":"k","sender":"ghost","action":"invalidate","pad":"\#(String(repeating: "x", count: cache.maximumEventSize))"}"#
            for payload in [longKey, bigValue, oversized] { _ = try await raw.publish(payload, to: "cache:invalidate") }
            _ = try await raw.publish(#"{"key":"ok","sender":"ghost","action":"set","value":"InYi","version":3}"#, to: "cache:invalidate")
            await eventually("the good event arrived") { cache.localValue(forKey: "ok", as: String.self) == "v" }
            #expect(cache.stats.eventsMalformed == 3)
            #expect(cache.localValue(forKey: "123456789", as: String.self) == nil)
            #expect(cache.localValue(forKey: "k", as: String.self) == nil)
            await raw.close()
        }
    }

    @Test func marshallers_refuseNestingPastTheirDepth_onBothSides() throws {
        struct Nest: Codable { var inner: [Nest] }
        var deep = Nest(inner: [])
        for _ in 0..<JSONMarshaller.maximumDepth { deep = Nest(inner: [deep]) }
        let json = JSONMarshaller()
        #expect(throws: EncodingError.self) { try json.marshal(deep) }
        let text = Array((String(repeating: "[", count: 200) + String(repeating: "]", count: 200)).utf8)
        #expect(throws: DecodingError.self) { try json.unmarshal([[Int]].self, from: text) }
        // Brackets inside strings do not count.
        let quoted = Array(("\"" + String(repeating: "[", count: 300) + "\"").utf8)
        #expect(try json.unmarshal(String.self, from: quoted) == String(repeating: "[", count: 300))
        let msgpack = MessagePackMarshaller()
        #expect(throws: (any Error).self) { try msgpack.marshal(deep) }
        let nestedArrays = [UInt8](repeating: 0x91, count: 64) + [0x90]  // 64 one-element arrays
        #expect(throws: (any Error).self) { try msgpack.unmarshal([[Int]].self, from: nestedArrays) }
    }
}
