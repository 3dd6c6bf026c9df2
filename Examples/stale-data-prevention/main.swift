// stale-data-prevention: the same faults, injected live into two fleets, and what each ends with.
//
// Each fleet is a writer and a reader on one Redis:
//   reference  the reference library's wire format (unversioned events, plain values). The
//              writer is a SyncedCache with `wireFormat = .reference`, so its events are byte for
//              byte the reference's; the reader is `ReferenceReader` below, the reference's
//              receive rules transcribed from its wire format (apply every event, no versions,
//              nothing learned after a disconnect).
//   versioned  this library's default: versioned writes, tombstones, resynchronization.
//
// The faults are what networks and restarts do to pub/sub:
//   1. a late event: the event of an older write arrives after the newer one (here a tap that
//      captured it publishes it again; two writers whose SET and PUBLISH interleave do the same);
//   2. a late set after a delete: the same, with a delete in between;
//   3. a lost event: the reader's subscription is cut (CLIENT KILL) and a write happens before it
//      is back.
// After each, the example prints what the reader serves and what Redis holds.

import DistributedCache
import ExampleSupport
import Foundation
import RedisTransport
import Synchronization

/// The reference library's receiving side, from its wire format (../shared/reference): a local
/// dictionary that applies every event on the channel except its own; `get` answers locally and
/// falls back to Redis. It keeps no versions and does not resynchronize after a reconnect.
final class ReferenceReader: Sendable {
    let podID = "reader"
    private let local = Mutex<[String: String]>([:])
    private let subscriber: RedisSubscriber
    private let redis: RedisClient
    /// Messages seen, to know when a resubscription is live again.
    private let received = Atomic<Int>(0)

    init(address: String, channel: String, reconnectAfter delay: Duration) async throws {
        var configuration = try RedisConfiguration(address: address)
        configuration.backoff = .init(initialDelay: delay, maximumDelay: delay)
        subscriber = try RedisSubscriber(configuration: configuration)
        redis = try RedisClient(configuration: configuration)
        try await subscriber.connect()
        try await redis.connect()
        _ = subscriber.addMessageHandler { [weak self] message in self?.apply(message) }
        try await subscriber.subscribe([channel])
    }

    /// The reference's receive rules.
    private func apply(_ message: RedisPubSubMessage) {
        received.add(1, ordering: .relaxed)
        guard let event = eventFields(message.payload),
            let key = event["key"] as? String, let action = event["action"] as? String,
            event["sender"] as? String != podID
        else { return }
        local.withLock { entries in
            switch action {
            case "set":
                if let base64 = event["value"] as? String, let bytes = Data(base64Encoded: base64),
                    let value = try? JSONDecoder().decode(String.self, from: bytes)
                {
                    entries[key] = value
                }
            case "invalidate", "delete": entries[key] = nil
            case "clear": entries.removeAll()
            default: break
            }
        }
    }

    var messagesReceived: Int { received.load(ordering: .relaxed) }

    func get(_ key: String) async throws -> String? {
        if let value = local.withLock({ $0[key] }) { return value }
        guard let bytes = try await redis.get(key) else { return nil }
        let value = try JSONDecoder().decode(String.self, from: Data(bytes))
        local.withLock { $0[key] = value }
        return value
    }

    func close() async {
        await subscriber.close()
        await redis.close()
    }
}

/// Every payload published on the fleets' channels, to publish one again later: a stand-in for a
/// network that delays or duplicates a message.
final class Tap: Sendable {
    private let subscriber: RedisSubscriber
    private let captured = Mutex<[(channel: String, payload: [UInt8])]>([])

    init(address: String, channels: [String]) async throws {
        subscriber = try RedisSubscriber(configuration: try RedisConfiguration(address: address))
        try await subscriber.connect()
        _ = subscriber.addMessageHandler { [weak self] message in
            self?.captured.withLock { $0.append((message.channel, message.payload)) }
        }
        try await subscriber.subscribe(channels)
    }

    /// The first captured set event for `key` on `channel` (each step uses a key of its own, so
    /// this is the event of the step's first write).
    func firstSet(of key: String, on channel: String) -> [UInt8]? {
        captured.withLock { entries in
            entries.first { entry in
                guard entry.channel == channel,
                    let event = eventFields(entry.payload)
                else { return false }
                return event["key"] as? String == key && event["action"] as? String == "set"
            }?.payload
        }
    }

    func close() async { await subscriber.close() }
}

await runExample("Stale-data prevention: the same faults, reference format vs versioned") { redisAddress in
    let referenceChannel = "examples:stale:reference"
    let versionedChannel = "examples:stale:versioned"
    // Readers wait 350-700 ms (a jittered 700) before reconnecting, so that fault 3's write surely
    // falls in the gap.
    let reconnectDelay = Duration.milliseconds(700)

    var base = SyncedCache.Options()
    base.redisAddress = redisAddress
    base.readerCanSetToRedis = true  // both fleets keep values in Redis, so misses can read them
    base.reconnectBackoff = .init(initialDelay: reconnectDelay, maximumDelay: reconnectDelay)

    var referenceOptions = base
    referenceOptions.wireFormat = .reference
    referenceOptions.invalidationChannel = referenceChannel
    referenceOptions.podID = "writer"
    let referenceWriter = try await SyncedCache(options: referenceOptions)
    let referenceReader = try await ReferenceReader(
        address: redisAddress, channel: referenceChannel, reconnectAfter: reconnectDelay)

    var versionedOptions = base
    versionedOptions.namespace = "examples:stale"
    versionedOptions.invalidationChannel = versionedChannel
    versionedOptions.podID = "writer"
    let versionedWriter = try await SyncedCache(options: versionedOptions)
    versionedOptions.podID = "reader"
    let versionedReader = try await SyncedCache(options: versionedOptions)

    let tap = try await Tap(address: redisAddress, channels: [referenceChannel, versionedChannel])
    let raw = try RedisClient(configuration: try RedisConfiguration(address: redisAddress))
    try await raw.connect()
    print("Two fleets on \(redisAddress): a writer and a reader each, on channels of their own.")

    /// The value Redis holds for a key. The versioned format stores `<version>@<deadline>:<value>`;
    /// only the value is shown.
    func stored(_ redisKey: String) async throws -> String {
        guard let bytes = try await raw.get(redisKey) else { return "nothing" }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let header = text.firstIndex(of: "@"), let colon = text[header...].firstIndex(of: ":") else { return text }
        return String(text[text.index(after: colon)...])
    }
    /// One line of the outcome: what the reader serves, what Redis holds, and whether that is
    /// what the writer last wrote.
    var versionedStale: [String] = []
    func report(_ fleet: String, serves: String?, expected: String?, redis: String) {
        let verdict = serves == expected ? "fresh" : "STALE"
        if fleet == "versioned" && serves != expected { versionedStale.append("\(expected ?? "nil")") }
        let shown = serves.map { "\"\($0)\"" } ?? "nil"
        func column(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        print("  \(column(fleet, 10)) reader serves \(column(shown, 5))  Redis holds \(column(redis, 14))  \(verdict)")
    }
    /// Both readers have applied the writers' latest changes of `key` (or the step failed).
    func settle(_ key: String, to value: String?) async throws {
        let settled = try await waitUntil(timeout: .seconds(10), every: .milliseconds(5)) {
            try await referenceReader.get(key) == value && versionedReader.localValue(forKey: key, as: String.self) == value
        }
        guard settled != nil else { throw ExampleFailure("the readers did not receive the changes of \(key)") }
    }
    /// Publishes the first set event of `key` again on both channels, as a late delivery, and
    /// waits until both readers have received it.
    func redeliverFirstSet(of key: String) async throws {
        let referenceBefore = referenceReader.messagesReceived
        let versionedBefore = versionedReader.stats.eventsReceived
        for channel in [referenceChannel, versionedChannel] {
            guard let payload = tap.firstSet(of: key, on: channel) else {
                throw ExampleFailure("the tap did not capture the set of \(key) on \(channel)")
            }
            _ = try await raw.publish(payload, to: channel)
        }
        let received = await waitUntil(timeout: .seconds(10), every: .milliseconds(5)) {
            referenceReader.messagesReceived > referenceBefore && versionedReader.stats.eventsReceived > versionedBefore
        }
        guard received != nil else { throw ExampleFailure("the late events were not delivered") }
    }

    section("1. A late event: v1 then v2 are written; v1's event arrives once more, last")
    for writer in [referenceWriter, versionedWriter] {
        try await writer.set("price", "v1")
        try await writer.set("price", "v2")
    }
    try await settle("price", to: "v2")
    try await redeliverFirstSet(of: "price")
    report("reference", serves: try await referenceReader.get("price"), expected: "v2", redis: try await stored("price"))
    report(
        "versioned", serves: try await versionedReader.get("price", as: String.self), expected: "v2",
        redis: try await stored("examples:stale:price"))
    print("  (the late versioned event carries v1's version, older than the reader's copy: ignored)")

    section("2. A late set after a delete: v1 is written and deleted; v1's event arrives once more")
    for writer in [referenceWriter, versionedWriter] {
        try await writer.set("session", "v1")
        try await writer.delete("session")
    }
    try await settle("session", to: nil)
    try await redeliverFirstSet(of: "session")
    report("reference", serves: try await referenceReader.get("session"), expected: nil, redis: try await stored("session"))
    report(
        "versioned", serves: try await versionedReader.get("session", as: String.self), expected: nil,
        redis: try await stored("examples:stale:session"))
    print("  (the delete left a tombstone with its version on the reader; an older set cannot pass it)")

    section("3. A lost event: the readers' subscriptions are cut, and v2 is written before they are back")
    for writer in [referenceWriter, versionedWriter] { try await writer.set("stock", "v1") }
    try await settle("stock", to: "v1")
    let resyncsBefore = versionedReader.stats.resyncs
    let cut = ContinuousClock.now
    _ = try await raw.send("CLIENT", "KILL", "TYPE", "pubsub")
    for writer in [referenceWriter, versionedWriter] { try await writer.set("stock", "v2") }
    // The versioned reader is fresh again once it has resubscribed and resynchronized.
    let versionedFresh = try await waitUntil(timeout: .seconds(10), every: .milliseconds(5)) {
        try await versionedReader.get("stock", as: String.self) == "v2"
    } != nil
    let freshAfter = ContinuousClock.now - cut
    // The reference reader is subscribed again once a probe on its channel reaches it.
    let probesBefore = referenceReader.messagesReceived
    let resubscribed = try await waitUntil(timeout: .seconds(10), every: .milliseconds(5)) {
        _ = try await raw.publish(#"{"key":"probe","sender":"probe","action":"invalidate"}"#, to: referenceChannel)
        return referenceReader.messagesReceived > probesBefore
    }
    guard resubscribed != nil else { throw ExampleFailure("the reference reader did not resubscribe") }
    report("reference", serves: try await referenceReader.get("stock"), expected: "v2", redis: try await stored("stock"))
    report(
        "versioned", serves: try await versionedReader.get("stock", as: String.self), expected: "v2",
        redis: try await stored("examples:stale:stock"))
    if versionedFresh {
        let resyncs = versionedReader.stats.resyncs - resyncsBefore
        print("  (the versioned reader resynchronized on reconnecting (\(resyncs)x) and served v2 again"
              + " \(freshAfter.millisecondsText) after the cut)")
    }

    // The example doubles as a check (CI runs it): the versioned fleet must end fresh every time.
    guard versionedStale.isEmpty else { throw ExampleFailure("the versioned reader served stale values") }
    section("Outcome")
    print("  The reference format serves stale values after each fault, with no error and no end.")
    print("  The versioned format ignores the late events and resynchronizes after the lost one.")
    _ = try await raw.send("DEL", "price", "session", "stock")
    try await versionedWriter.clear()

    await tap.close()
    await raw.close()
    await referenceReader.close()
    await referenceWriter.close()
    await versionedWriter.close()
    await versionedReader.close()
}

/// The fields of an event payload (a JSON object, in both wire formats), or nil for anything else.
func eventFields(_ payload: [UInt8]) -> [String: Any]? {
    try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
}

/// A step of the example that did not happen as it must (the example then exits with status 1).
struct ExampleFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
