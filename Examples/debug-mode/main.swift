// debug-mode: every operation and every received event, logged.
//
// `debugMode` raises the instance's logger to debug level and logs each set, delete and clear,
// each read that goes to Redis (hit or miss), and each event received from another instance with
// its action, key, sender and version. Local hits are never logged: they are the nanosecond path
// and stay silent, so debug mode costs nothing there (count them with `stats` instead).

import DistributedCache
import ExampleSupport
import Logging

// Standard output rather than the default standard error, so that the log lines and the example's
// own lines come out interleaved in the order they happened. Bootstrap before creating any
// options: `Options.logger` is created with whatever the logging system is when `Options()` runs.
LoggingSystem.bootstrap { label in StreamLogHandler.standardOutput(label: label) }

await runExample("Debug mode: every operation and event logged") { redisAddress in
    var options = SyncedCache.Options()
    options.redisAddress = redisAddress
    options.namespace = "examples:debug"
    options.readerCanSetToRedis = true
    options.debugMode = true  // CACHE_DEBUG_MODE=true does the same from the environment

    options.podID = "writer"
    let writer = try await SyncedCache(options: options)
    options.podID = "reader"
    let reader = try await SyncedCache(options: options)

    func eventsOnReader() -> UInt64 { reader.stats.eventsApplied }

    section("1. writer sets product:1 -> 'set' on the writer, 'event' (action=set) on the reader")
    var before = eventsOnReader()
    try await writer.set("product:1", "Espresso machine")
    _ = await waitUntil { eventsOnReader() > before }

    section("2. reader gets product:1 -> a local hit: nothing is logged")
    _ = try await reader.get("product:1", as: String.self)

    section("3. reader gets product:404 -> 'get: miss' (asked Redis, which has nothing)")
    _ = try await reader.get("product:404", as: String.self)

    section("4. writer setWithInvalidate -> 'event' (action=invalidate); the reader's next get is a 'remote hit'")
    before = eventsOnReader()
    try await writer.setWithInvalidate("product:1", "Espresso machine, 2nd edition")
    _ = await waitUntil { eventsOnReader() > before }
    _ = try await reader.get("product:1", as: String.self)

    section("5. reader reads product:1 as the wrong type -> logged at error level, and thrown")
    do {
        _ = try await reader.get("product:1", as: Int.self)
    } catch {
        print("  caught: \(error)")
    }

    section("6. writer deletes, then clears -> 'delete' / 'clear' on the writer, events on the reader")
    before = eventsOnReader()
    try await writer.delete("product:1")
    try await writer.clear()
    _ = await waitUntil { eventsOnReader() >= before + 2 }

    section("7. closing -> 'cache closed'")
    await writer.close()
    await reader.close()
}
