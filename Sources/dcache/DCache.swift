// dcache: run a cache instance from a shell, watch its channel, inspect it, measure it.

import ArgumentParser

@main
struct DCache: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dcache",
        abstract: "Drive, watch and measure swift-distributed-cache instances.",
        subcommands: [Demo.self, Pod.self, Watch.self, Stats.self, Bench.self]
    )
}
