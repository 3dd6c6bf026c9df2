// FaultProxy: a loopback TCP proxy between cache instances and Redis that misbehaves on demand.
//
// Design note. Fault-injection tests need the network to fail in ways a real one does, and to do
// it separately for the two connections an instance keeps: the command connection and the
// subscription. The proxy listens on a free loopback port and forwards every accepted connection
// to Redis. It tells the two kinds apart by what the client sends: a connection becomes a
// subscription when its first SUBSCRIBE or PSUBSCRIBE goes through (until then, including the
// handshake, it counts as a command connection). Each kind has a mode:
//
//   pass           forward both ways
//   delay(d)       forward, each chunk from Redis held back for d (slow replies and pushes)
//   blackHole      keep the connection open, forward nothing either way (a silent partition,
//                  a hung server seen from one connection). Nothing is thrown away: the proxy
//                  stops reading, so the bytes wait in the kernel's buffers and flow on, in
//                  order, once the mode changes back, as TCP itself behaves across a partition
//                  that heals before its retransmission timeout. (Discarding them would break
//                  TCP's guarantee and desynchronize every pipelined reply after it.)
//   slow(bytes/s)  forward at most that many bytes per second each way
//
// plus `cut` (close the kind's live connections now, like a reset) and `refusesConnections`
// (accept and close at once, like a server that is down). SIGKILL/SIGSTOP of Redis itself is the
// RedisServer fixture's job (kill, restart, pause, resume).
//
// Threads: one accept thread, and two pump threads per connection (one per direction), all
// plain blocking sockets with a 20 ms poll so that `close()` and mode changes take effect
// promptly. Everything shared is behind one lock. For tests only: loopback, no TLS.

import Foundation
import Primitives

#if canImport(Glibc)
import Glibc
#endif

/// A misbehaving TCP proxy in front of a Redis server. See the design note above.
public final class FaultProxy: @unchecked Sendable {
    // @unchecked Sendable: mutable state is inside `state` (a lock); file descriptors are owned
    // by the threads that close them, as described on `Link`.

    /// Which of an instance's connections a mode applies to.
    public enum Kind: Sendable, Hashable, CaseIterable {
        /// Command connections (and every connection before its first SUBSCRIBE).
        case command
        /// Connections that have subscribed.
        case subscription
    }

    /// How a kind of connection is treated.
    public enum Mode: Sendable, Equatable {
        /// Forward both ways.
        case pass
        /// Forward, each chunk from Redis held back for this long.
        case delay(Duration)
        /// Forward nothing either way; keep the connection open and the bytes queued.
        case blackHole
        /// Forward at most this many bytes per second each way.
        case slow(bytesPerSecond: Int)
    }

    /// One proxied connection: the client's socket and ours to Redis. Each pump thread owns the
    /// direction it reads; the last of the two to finish closes both descriptors.
    private final class Link: @unchecked Sendable {
        let client: Int32
        let upstream: Int32
        var kind: Kind = .command
        var closed = false
        var pumpsRunning = 2

        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }
    }

    private struct State {
        var modes: [Kind: Mode] = [.command: .pass, .subscription: .pass]
        var links: [ObjectIdentifier: Link] = [:]
        var refuses = false
        var stopped = false
        var accepted = 0
    }

    /// The address to give instances instead of Redis's, "127.0.0.1:port".
    public let address: String
    /// The port the proxy listens on.
    public let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let state = Locked(State())
    private let acceptorDone = DispatchSemaphore(value: 0)

    /// Starts a proxy in front of `server`.
    public convenience init(to server: RedisServer) throws {
        try self.init(upstreamPort: server.port)
    }

    /// Starts a proxy in front of a server on 127.0.0.1:`upstreamPort`.
    public init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RedisServer.Failure.system("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = FaultProxy.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            Glibc.close(fd)
            throw RedisServer.Failure.system("bind/listen: \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        self.address = "127.0.0.1:\(port)"
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "fault-proxy-accept"
        thread.start()
    }

    deinit { close() }

    // MARK: - Faults

    /// Sets the mode of one kind of connection (nil: both), for live and future connections.
    public func set(_ mode: Mode, for kind: Kind? = nil) {
        state.withLock { state in
            for each in kind.map({ [$0] }) ?? Kind.allCases { state.modes[each] = mode }
        }
    }

    /// Closes the live connections of one kind (nil: all) at once, as a network reset would.
    public func cut(_ kind: Kind? = nil) {
        let doomed = state.withLock { state in state.links.values.filter { kind == nil || $0.kind == kind } }
        for link in doomed { shutDown(link) }
    }

    /// While true, new connections are accepted and closed at once (a server that is down).
    public var refusesConnections: Bool {
        get { state.withLock { $0.refuses } }
        set { state.withLock { $0.refuses = newValue } }
    }

    /// Live connections of a kind.
    public func connectionCount(_ kind: Kind) -> Int {
        state.withLock { state in state.links.values.filter { $0.kind == kind && !$0.closed }.count }
    }

    /// Connections accepted since the start (including refused ones).
    public var acceptedCount: Int { state.withLock { $0.accepted } }

    /// Stops accepting, closes every connection and waits for the accept thread. Idempotent.
    public func close() {
        let (first, links) = state.withLock { state -> (Bool, [Link]) in
            defer { state.stopped = true }
            return (!state.stopped, Array(state.links.values))
        }
        guard first else { return }
        for link in links { shutDown(link) }
        acceptorDone.wait()
        Glibc.close(listener)
    }

    // MARK: - Threads

    private func acceptLoop() {
        defer { acceptorDone.signal() }
        while !state.withLock({ $0.stopped }) {
            guard FaultProxy.waitReadable(listener) else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            let refuse = state.withLock { state -> Bool in
                state.accepted += 1
                return state.refuses
            }
            if refuse {
                Glibc.close(client)
                continue
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = FaultProxy.loopback(port: upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                Glibc.close(upstream)
                Glibc.close(client)
                continue
            }
            let link = Link(client: client, upstream: upstream)
            state.withLock { $0.links[ObjectIdentifier(link)] = link }
            for towardsRedis in [true, false] {
                let thread = Thread { [self] in pump(link, towardsRedis: towardsRedis) }
                thread.name = "fault-proxy-pump"
                thread.start()
            }
        }
    }

    /// Copies one direction of a link, applying its kind's mode chunk by chunk.
    private func pump(_ link: Link, towardsRedis: Bool) {
        let source = towardsRedis ? link.client : link.upstream
        let destination = towardsRedis ? link.upstream : link.client
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var subscribeScan: [UInt8] = []
        loop: while true {
            if state.withLock({ $0.stopped || link.closed }) { break }
            if state.withLock({ $0.modes[link.kind] == .blackHole }) {
                // Stall: leave the bytes where TCP keeps them.
                Thread.sleep(forTimeInterval: 0.02)
                continue
            }
            guard FaultProxy.waitReadable(source) else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            let chunk = Array(buffer[0..<count])
            if towardsRedis, state.withLock({ _ in link.kind == .command }) {
                // Classify: a connection becomes a subscription with its first (P)SUBSCRIBE. Keep
                // a short tail so a command name split between two chunks is still seen.
                subscribeScan += chunk
                if FaultProxy.containsSubscribe(subscribeScan) {
                    state.withLock { _ in link.kind = .subscription }
                }
                subscribeScan = Array(subscribeScan.suffix(24))
            }
            let mode = state.withLock { $0.modes[link.kind] ?? .pass }
            switch mode {
            case .pass:
                guard FaultProxy.sendAll(chunk, to: destination) else { break loop }
            case .delay(let delay):
                if !towardsRedis { Thread.sleep(forTimeInterval: delay.secondsAsDouble) }
                guard FaultProxy.sendAll(chunk, to: destination) else { break loop }
            case .blackHole:
                // The mode changed while this chunk was read: hold it until forwarding resumes.
                while state.withLock({ !$0.stopped && !link.closed && $0.modes[link.kind] == .blackHole }) {
                    Thread.sleep(forTimeInterval: 0.02)
                }
                guard FaultProxy.sendAll(chunk, to: destination) else { break loop }
            case .slow(let bytesPerSecond):
                let piece = max(1, bytesPerSecond / 100)
                var offset = 0
                while offset < chunk.count {
                    let end = min(chunk.count, offset + piece)
                    guard FaultProxy.sendAll(Array(chunk[offset..<end]), to: destination) else { break loop }
                    offset = end
                    Thread.sleep(forTimeInterval: 0.01)
                }
            }
        }
        shutDown(link)
        let last = state.withLock { state -> Bool in
            link.pumpsRunning -= 1
            guard link.pumpsRunning == 0 else { return false }
            state.links[ObjectIdentifier(link)] = nil
            return true
        }
        if last {
            Glibc.close(link.client)
            Glibc.close(link.upstream)
        }
    }

    // MARK: - Sockets

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// Waits up to 20 ms for `fd` to be readable (or closed).
    private static func waitReadable(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 20) > 0
    }

    private static func sendAll(_ bytes: [UInt8], to fd: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    /// Shuts both sockets down (the pumps then see end of input and finish); marks the link.
    /// The descriptors stay open until the last pump closes them, so this never races a close.
    private func shutDown(_ link: Link) {
        let open = state.withLock { _ -> Bool in
            defer { link.closed = true }
            return !link.closed
        }
        guard open else { return }
        shutdown(link.client, Int32(SHUT_RDWR))
        shutdown(link.upstream, Int32(SHUT_RDWR))
    }

    /// A SUBSCRIBE or PSUBSCRIBE command name as RESP writes it: a bulk string right after a
    /// line end (the array header), so a payload that merely contains the word does not count.
    private static let subscribeNeedles: [[UInt8]] = ["\r\n$9\r\nSUBSCRIBE\r\n", "\r\n$10\r\nPSUBSCRIBE\r\n"].map { Array($0.utf8) }

    /// True when the bytes contain a (P)SUBSCRIBE command name (see `subscribeNeedles`).
    private static func containsSubscribe(_ bytes: [UInt8]) -> Bool {
        subscribeNeedles.contains { needle in
            guard bytes.count >= needle.count else { return false }
            return (0...(bytes.count - needle.count)).contains { start in
                bytes[start..<(start + needle.count)].elementsEqual(needle)
            }
        }
    }
}
