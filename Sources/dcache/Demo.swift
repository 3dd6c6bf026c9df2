// dcache demo: two cache instances, in two processes, staying in step through a throwaway Redis.

import ArgumentParser
import Dispatch
import EmbeddedRedis
import Foundation
import Primitives

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show two cache instances (separate processes) staying in sync through Redis.",
        discussion: """
            Without --redis, starts a throwaway redis-server on a free loopback port and stops it \
            at the end, also on Ctrl-C. Each instance is a `dcache pod` child process driven \
            through a pipe; every command and its answer is printed.
            """)

    @Option(help: "Use this Redis (HOST:PORT) instead of a throwaway one.") var redis: String?

    func run() async throws {
        let server: RedisServerProcess?
        let address: String
        if let redis {
            server = nil
            address = redis
        } else {
            say("Starting a throwaway redis-server on loopback ...")
            let started = try await RedisServerProcess.start()
            server = started
            address = started.address
            say("  redis-server pid \(started.pid ?? 0) listening on \(address) (no persistence)")
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        say("Starting two cache instances, each its own process:")
        let pods = [
            try PodDriver(name: "pod-A", executable: executable, redis: address),
            try PodDriver(name: "pod-B", executable: executable, redis: address),
        ]
        let interrupt = DemoInterrupt.install {
            for pod in pods { pod.process.kill() }
            server?.stop()
        }
        defer {
            interrupt.cancel()
            for pod in pods { pod.process.kill() }
            server?.stop()
        }
        for pod in pods {
            _ = try pod.run("ping")
            say("  \(pod.name) (pid \(pod.process.pid)) is connected and subscribed")
        }
        let (a, b) = (pods[0], pods[1])

        section("1. Set on pod-A: the value travels to pod-B with the event (no Redis read on pod-B)")
        _ = try a.run(#"set user:42 {"name":"Ada","role":"admin"}"#)
        _ = try b.waitFor("peek user:42") { $0.hasPrefix("hit") }

        section("2. Set with invalidation on pod-A: pod-B drops its copy, then reads the new value from Redis")
        _ = try a.run(#"setinv user:42 {"name":"Ada","role":"owner"}"#)
        _ = try b.waitFor("peek user:42") { $0 == "miss" }
        _ = try b.run("get user:42")

        section("3. Delete on pod-B: gone from Redis and from pod-A")
        _ = try b.run("del user:42")
        _ = try a.waitFor("peek user:42") { $0 == "miss" }

        section("4. Clear on pod-B: every key of this cache's namespace, on every instance")
        _ = try a.run("set greeting hello")
        _ = try a.run("set counter 7")
        _ = try b.waitFor("peek counter") { $0 == "hit 7" }
        _ = try b.run("clear")
        _ = try a.waitFor("peek greeting") { $0 == "miss" }

        section("5. Statistics of each instance")
        for pod in pods { _ = try pod.run("stats") }

        section("Done")
        for pod in pods {
            _ = try pod.run("quit")
            _ = pod.process.waitForExit()
        }
        if let server {
            server.stop()
            say("redis-server stopped.")
        }
    }

    private func section(_ title: String) {
        say("")
        say(title)
    }
}

/// One `dcache pod` child and its narration.
struct PodDriver {
    let name: String
    let process: InteractiveProcess

    init(name: String, executable: String, redis: String) throws {
        self.name = name
        // The demo writes Redis on set, as the reference's diagrams show (its default does not).
        process = try InteractiveProcess(executable, ["pod", "--redis", redis, "--pod", name, "--reader-can-set-to-redis"])
    }

    /// Sends a command and prints it with its answer.
    func run(_ command: String) throws -> String {
        let answer = try process.request(command, timeout: .seconds(15))
        say("  [\(name)] \(command)  ->  \(answer)")
        return answer
    }

    /// Repeats a (read-only) command until the answer satisfies `done`, then prints the last
    /// exchange with the time it took.
    func waitFor(_ command: String, _ done: (String) -> Bool) throws -> String {
        let started = ContinuousClock.now
        var answer = try process.request(command)
        while !done(answer) && ContinuousClock.now - started < .seconds(5) {
            Thread.sleep(forTimeInterval: 0.001)
            answer = try process.request(command)
        }
        let elapsed = ContinuousClock.now - started
        let milliseconds = elapsed.secondsAsDouble * 1_000
        say("  [\(name)] \(command)  ->  \(answer)   (after \(String(format: "%.1f", milliseconds)) ms)")
        return answer
    }
}

/// Runs a clean-up on SIGINT/SIGTERM, then exits 130.
struct DemoInterrupt {
    let sources: [any DispatchSourceSignal]

    static func install(_ cleanUp: @escaping @Sendable () -> Void) -> DemoInterrupt {
        let sources = [SIGINT, SIGTERM].map { signalNumber -> any DispatchSourceSignal in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                say("\ninterrupted: stopping the instances and redis-server")
                cleanUp()
                exit(130)
            }
            source.resume()
            return source
        }
        return DemoInterrupt(sources: sources)
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}

func say(_ line: String) { writeLine(line) }
