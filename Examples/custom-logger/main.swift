// custom-logger: the cache's logs through a LogHandler of your own.
//
// The cache logs through swift-log. Give it any `Logger` in `Options.logger`: here one whose
// handler writes JSON lines. (To send the logs of every library in the process to one place,
// call `LoggingSystem.bootstrap` with the handler instead, before creating any options.)

import DistributedCache
import ExampleSupport
import Logging

await runExample("Custom logger: JSON lines through a swift-log LogHandler") { redisAddress in
    let sink = JSONLineSink()
    var options = SyncedCache.Options()
    options.redisAddress = redisAddress
    options.namespace = "examples:custom-logger"
    options.readerCanSetToRedis = true
    options.logger = Logger(label: "dcache") { label in JSONLineLogHandler(label: label, sink: sink) }

    section("1. At the default level (info), normal operations log nothing")
    options.podID = "web-1"
    let web1 = try await SyncedCache(options: options)
    try await web1.set("greeting", "hello")
    _ = try await web1.get("greeting", as: String.self)
    print("  records so far: \(sink.countsByLevel.values.reduce(0, +))")

    section("2. Problems are logged: a second instance reusing the pod id web-1 gets a warning")
    let duplicate = try await SyncedCache(options: options)
    await duplicate.close()

    section("3. So is an error: reading a value as the wrong type")
    do {
        _ = try await web1.get("greeting", as: [Int].self)
    } catch {
        print("  caught: \(error)")
    }

    section("4. With debugMode, every operation and event is logged, through the same handler")
    options.podID = "web-2"
    options.debugMode = true  // raises this instance's logger to debug
    let web2 = try await SyncedCache(options: options)
    try await web2.set("visits", 1)
    try await web2.delete("visits")
    await web2.close()

    await web1.close()
    section("Records per level")
    for (level, count) in sink.countsByLevel.sorted(by: { $0.key < $1.key }) {
        print("  \(level): \(count)")
    }
}
