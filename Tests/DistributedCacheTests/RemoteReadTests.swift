import CSupport
import Foundation
import Primitives
import Testing
import TestSupport

@testable import DistributedCache

/// The remote read: one GET per value (the stored header carries version and expiry), one MGET
/// per batch, single flight without a task per miss.
@Suite struct RemoteReadTests {
    /// Now on the wall clock, in Unix milliseconds (what the stored deadline is measured in).
    static var nowMilliseconds: Int64 { dc_clock_wall_ns() / 1_000_000 }
    /// A short time to live for the expiry tests: 400 ms, scaled for sanitizer runs.
    static var lifeMilliseconds: Int64 { Duration.milliseconds(400).scaledForTests.saturatingMilliseconds }

    @Test func writeScript_storesVersionAndDeadline() async throws {
        try await withCaches(1, configure: { $0.readerCanSetToRedis = true }) { caches, server async throws in
            let before = Self.nowMilliseconds
            try await caches[0].set("timed", "v", ttl: .milliseconds(800))
            try await caches[0].set("forever", "w")
            let raw = try await rawClient(server)
            let timed = try #require(try await raw.get("dcache:timed"))
            let parsed = RedisLayout.parseStored(timed)
            #expect(parsed.version > 0)
            #expect(parsed.bytes == Array("\"v\"".utf8))
            guard case .at(let deadline) = parsed.expiry else {
                Issue.record("no deadline in \(String(decoding: timed, as: UTF8.self))")
                return
            }
            #expect(deadline >= before + 800 - 50 && deadline <= Self.nowMilliseconds + 800 + 50)
            let forever = RedisLayout.parseStored(try #require(try await raw.get("dcache:forever")))
            #expect(forever.expiry == .never && forever.bytes == Array("\"w\"".utf8))
            await raw.close()
        }
    }

    @Test func remoteHit_isOneGET_andKeepsTheStoredExpiry() async throws {
        try await withCaches(1, configure: { $0.pingInterval = .zero }) { caches, server async throws in
            let raw = try await rawClient(server)
            // Lives long enough for the read under a sanitizer (scaled), not much longer.
            let life = Self.lifeMilliseconds
            let deadline = Self.nowMilliseconds + life
            _ = try await raw.send("SET", "dcache:k", "12@\(deadline):\"remote\"", "PX", String(life))
            let gets = try await commandCalls(raw, "get")
            let pttls = try await commandCalls(raw, "pttl")
            #expect(try await caches[0].get("k", as: String.self) == "remote")
            #expect(try await commandCalls(raw, "get") - gets == 1)
            #expect(try await commandCalls(raw, "pttl") - pttls == 0)
            // Cached with the stored deadline: present while it holds (a slow machine may already
            // be past it, which is no failure), gone once it passed, and not before.
            let cached = caches[0].localValue(forKey: "k", as: String.self)
            if Self.nowMilliseconds < deadline - 20 { #expect(cached == "remote") }
            await eventually("the local copy expires with the stored deadline") {
                caches[0].localValue(forKey: "k", as: String.self) == nil
            }
            #expect(Self.nowMilliseconds >= deadline - 5, "not before the stored deadline")
            await raw.close()
        }
    }

    @Test func legacyHeader_asksPTTL_once() async throws {
        try await withCaches(1, configure: { $0.pingInterval = .zero }) { caches, server async throws in
            let raw = try await rawClient(server)
            let life = Self.lifeMilliseconds
            _ = try await raw.send("SET", "dcache:old", "7:\"legacy\"", "PX", String(life))
            let pttls = try await commandCalls(raw, "pttl")
            #expect(try await caches[0].get("old", as: String.self) == "legacy")
            #expect(try await commandCalls(raw, "pttl") - pttls == 1)
            #expect(caches[0].localValue(forKey: "old", as: String.self) == "legacy")
            try await Task.sleep(for: .milliseconds(life + 100))
            #expect(caches[0].localValue(forKey: "old", as: String.self) == nil)
            await raw.close()
        }
    }

    /// A value whose stored deadline has passed on our clock (skew, or read at the last moment)
    /// is returned but not cached.
    @Test func dueValue_isReturnedButNotCached() async throws {
        try await withCaches(1, configure: { $0.pingInterval = .zero }) { caches, server async throws in
            let raw = try await rawClient(server)
            _ = try await raw.set("dcache:due", to: "3@\(Self.nowMilliseconds - 1_000):\"late\"")
            #expect(try await caches[0].get("due", as: String.self) == "late")
            #expect(caches[0].localValue(forKey: "due", as: String.self) == nil)
            await raw.close()
        }
    }

    @Test func getMany_isOneMGET() async throws {
        try await withCaches(1, configure: { $0.pingInterval = .zero }) { caches, server async throws in
            let raw = try await rawClient(server)
            for index in 0..<20 { _ = try await raw.set("dcache:m\(index)", to: "\(index + 1)@0:\(index)") }
            let counts = { (command: String) in try await commandCalls(raw, command) }
            let before = (try await counts("mget"), try await counts("get"), try await counts("pttl"))
            let values = try await caches[0].getMany((0..<25).map { "m\($0)" }, as: Int.self)
            #expect(values.count == 20 && values["m7"] == 7)
            #expect(try await counts("mget") - before.0 == 1)
            #expect(try await counts("get") - before.1 == 0)
            #expect(try await counts("pttl") - before.2 == 0)
            #expect(caches[0].localValue(forKey: "m3", as: Int.self) == 3)
            await raw.close()
        }
    }

    @Test func parseStored_acceptsOnlyWellFormedHeaders() {
        let cases: [(String, UInt64, RedisLayout.StoredExpiry, String)] = [
            ("5@0:abc", 5, .never, "abc"),
            ("5@1700000000000:abc", 5, .at(unixMilliseconds: 1_700_000_000_000), "abc"),
            ("5:abc", 5, .unknown, "abc"),
            ("5@:abc", 0, .unknown, "5@:abc"),
            ("5@12", 0, .unknown, "5@12"),
            ("5@12x:abc", 0, .unknown, "5@12x:abc"),
            ("@1:abc", 0, .unknown, "@1:abc"),
            ("12345678901234567@0:abc", 0, .unknown, "12345678901234567@0:abc"),
            ("9007199254740993@0:abc", 0, .unknown, "9007199254740993@0:abc"),
            ("5@12345678901234567:abc", 0, .unknown, "5@12345678901234567:abc"),
            ("5@0:", 5, .never, ""),
            ("0:abc", 0, .unknown, "0:abc"),
            ("0@0:abc", 0, .unknown, "0@0:abc"),
            ("plain", 0, .unknown, "plain"),
        ]
        for (stored, version, expiry, bytes) in cases {
            let parsed = RedisLayout.parseStored(Array(stored.utf8))
            #expect(parsed.version == version, "\(stored)")
            #expect(parsed.expiry == expiry, "\(stored)")
            #expect(parsed.bytes == Array(bytes.utf8), "\(stored)")
        }
    }

    @Test func remainingTTL_isBounded() {
        #expect(RedisLayout.remainingTTL(untilUnixMilliseconds: Self.nowMilliseconds - 1) == .zero)
        #expect(RedisLayout.remainingTTL(untilUnixMilliseconds: 9_999_999_999_999_999) == SyncedCache.maximumTTL)
        #expect(RedisLayout.remainingTTL(milliseconds: -2) == .zero)
        #expect(RedisLayout.remainingTTL(milliseconds: -1) == nil)
        #expect(RedisLayout.remainingTTL(milliseconds: .max) == SyncedCache.maximumTTL)
    }

    /// A cancelled leader fails alone: the caller waiting on it leads the next execution.
    @Test func singleFlight_cancelledLeader_doesNotFailTheOthers() async throws {
        let flight = SingleFlight<Int>()
        let leader = Task { try await flight.run("k") { try await Task.sleep(for: .seconds(30)); return 1 } }
        while flight.inFlight == 0 { await Task.yield() }
        let follower = Task { try await flight.run("k") { 2 } }
        while flight.waiters("k") != 1 { await Task.yield() }
        leader.cancel()
        #expect(try await follower.value == 2)
        await #expect(throws: CancellationError.self) { try await leader.value }
        #expect(flight.inFlight == 0)
    }

    @Test func singleFlight_sharesOneExecution_andItsFailure() async throws {
        struct Failure: Error {}
        let flight = SingleFlight<Int>()
        let runs = Locked<Int>(0)
        let gate = Locked<Bool>(false)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await flight.run("k") {
                        runs.withLock { $0 += 1 }
                        while !gate.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
                        return 9
                    }
                }
            }
            while (flight.waiters("k") ?? 0) < 49 { try await Task.sleep(for: .milliseconds(1)) }
            gate.withLock { $0 = true }
            for try await value in group { #expect(value == 9) }
        }
        #expect(runs.withLock { $0 } == 1)
        await #expect(throws: Failure.self) { try await flight.run("f") { throw Failure() } }
    }
}
