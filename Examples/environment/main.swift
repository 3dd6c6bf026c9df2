// environment: configuration from CACHE_* environment variables, as in a Kubernetes deployment.
//
// `SyncedCache.Options.fromEnvironment()` reads the reference library's variable names (plus
// CACHE_* names for the settings it lacks) over a base of options, and validates the result: a
// value it cannot parse is an error naming the variable, so a typo in a manifest stops the pod at
// start-up instead of running it with a default. The README has a sample Deployment.

import DistributedCache
import ExampleSupport
import Foundation

await runExample("Configuration from the environment") { redisAddress in
    // What the variables are applied over. Here, the example's own Redis (CACHE_REDIS_ADDR, when
    // set, still wins); in a deployment the base is usually just `.init()`.
    var base = SyncedCache.Options()
    base.redisAddress = redisAddress
    base.namespace = "examples:environment"

    let environment = ProcessInfo.processInfo.environment
    section("1. CACHE_* variables of this process")
    let present = SyncedCache.Options.environmentVariables.filter { environment[$0.name] != nil }
    if present.isEmpty {
        print("  none set; try: CACHE_LOCAL_CACHE=lru CACHE_SERIALIZATION_FORMAT=msgpack swift run environment")
    }
    for variable in present { print("  \(variable.name)=\(environment[variable.name]!)  ->  \(variable.option)") }

    section("2. Two replicas start, each with its pod name as CACHE_POD_ID (from the Downward API)")
    var replicas: [SyncedCache] = []
    for podName in ["web-5d8c7b9f4-k2x7q", "web-5d8c7b9f4-p9m3z"] {
        var podEnvironment = environment
        podEnvironment["CACHE_POD_ID"] = podName
        let options = try SyncedCache.Options.fromEnvironment(podEnvironment, base: base)
        replicas.append(try await SyncedCache(options: options))
    }
    let options = replicas[0].options
    print("  pod id          \(options.podID ?? "-")")
    print("  redis           \(options.redisAddress), db \(options.redisDatabase)")
    print("  local cache     \(options.localCache)")
    print("  serialization   \(options.serializationFormat.rawValue)")
    print("  timeout         \(options.operationTimeout)")
    print("  debug mode      \(options.debugMode)")

    section("3. The replicas stay in sync")
    let before = replicas[1].stats.eventsApplied
    try await replicas[0].set("feature:new-checkout", true)
    _ = await waitUntil { replicas[1].stats.eventsApplied > before }
    let flag = try await replicas[1].get("feature:new-checkout", as: Bool.self)
    print("  \(replicas[1].podID) reads feature:new-checkout -> \(flag.map(String.init) ?? "nil")")

    section("4. An invalid value stops start-up with the variable's name")
    let typos: [[String: String]] = [
        ["CACHE_CONTEXT_TIMEOUT": "5 seconds"],
        ["CACHE_LOCAL_CACHE": "arc"],
        ["CACHE_REDIS_DB": "-1"],
    ]
    for typo in typos {
        do {
            _ = try SyncedCache.Options.fromEnvironment(typo, base: base)
        } catch {
            print("  \(typo.first!.key)=\(typo.first!.value): \(error)")
        }
    }

    for replica in replicas { await replica.close() }
}
