// PendingCommand: one command from submission to completion, in a single allocation.
//
// The encoded RESP bytes are tail-allocated in the object (ManagedBuffer), so a command costs one
// allocation on our side; hiredis adds one for its callback record. The object travels:
// caller -> (inbox, if the caller is not on the loop) -> connection's `waiting` or `pending`
// queue -> hiredis (as a retained privdata pointer) -> reply callback -> completion.
//
// Concurrency contract: the caller initializes the header (including `completion`) before
// submitting; from submission on, every field is read and written only on the loop thread. The
// submission itself (a mutex-protected inbox, or a direct call on the loop thread) is the
// hand-over point. Completion happens exactly once: by the reply, a NULL reply (connection lost),
// the timeout scan, a cancellation, or a refusal at submission; later attempts are ignored.

/// How a command reports its result.
@usableFromInline
enum CommandCompletion {
    case none
    /// A waiting task (resumed on whichever executor it prefers).
    case continuation(UnsafeContinuation<RESPValue, any Error>)
    /// Internal commands (handshake, subscriptions): called on the loop thread.
    case callback((Result<RESPValue, RedisError>) -> Void)
}

/// The state of a command, kept in its object's header.
@usableFromInline
struct PendingCommandHeader {
    /// Length of the encoded command in the tail bytes.
    @usableFromInline var length: Int
    /// The command's time limit in milliseconds.
    @usableFromInline var timeoutMilliseconds: UInt64
    /// Loop time (ms) after which the command fails with `.timeout`; set at submission.
    var deadline: UInt64 = 0
    @usableFromInline var completion: CommandCompletion
    /// Set when the loop has taken the command in (after that, cancellation completes it).
    var submitted = false
    var completed = false
    /// A cancellation arrived before the submission did.
    var cancelRequested = false
    /// Return `-ERR` replies as `.error` values instead of failing with `.server`.
    var returnsErrorReplies = false
    /// The connection it was submitted to (unretained: connections outlive their commands).
    var connection: Unmanaged<RedisConnection>?

    @usableFromInline
    init(length: Int, timeoutMilliseconds: UInt64, completion: CommandCompletion) {
        self.length = length
        self.timeoutMilliseconds = timeoutMilliseconds
        self.completion = completion
    }
}

/// A command with its encoded bytes. See the design note above.
///
/// Not `Sendable` (ManagedBuffer subclasses cannot be): it crosses threads only through the
/// loop's inbox, and through `RedisClient.UncheckedCommand` for cancellation.
@usableFromInline
final class PendingCommand: ManagedBuffer<PendingCommandHeader, UInt8> {

    /// Encodes `arguments` (command name first) into a new command.
    /// - Throws: ``RedisError/valueTooLarge(size:limit:)`` if an argument exceeds `limit`, or
    ///   ``RedisError/invalidArgument(_:)`` for an empty command. Nothing is allocated then.
    @inlinable
    static func make<each Argument: RESPArgument>(
        _ arguments: repeat each Argument, limit: Int, timeout: Duration
    ) throws(RedisError) -> PendingCommand {
        var measure = RESPWriter()
        var count = 0
        var largest = 0
        for _ in repeat each arguments { count += 1 }
        measure.arrayHeader(count)
        for argument in repeat each arguments {
            argument.withArgumentBytes { bytes in
                largest = max(largest, bytes.count)
                measure.bulk(bytes)
            }
        }
        guard count > 0 else { throw .invalidArgument("a command needs at least its name") }
        guard largest <= limit else { throw .valueTooLarge(size: largest, limit: limit) }
        let command = allocate(length: measure.count, timeout: timeout)
        command.withUnsafeMutablePointerToElements { base in
            var writer = RESPWriter(into: base)
            writer.arrayHeader(count)
            for argument in repeat each arguments {
                argument.withArgumentBytes { writer.bulk($0) }
            }
        }
        return command
    }

    /// Encodes a command given as an array of arguments (command name first).
    static func make(arguments: [any RESPArgument], limit: Int, timeout: Duration) throws(RedisError) -> PendingCommand {
        guard !arguments.isEmpty else { throw .invalidArgument("a command needs at least its name") }
        var measure = RESPWriter()
        var largest = 0
        measure.arrayHeader(arguments.count)
        for argument in arguments {
            argument.withArgumentBytes { bytes in
                largest = max(largest, bytes.count)
                measure.bulk(bytes)
            }
        }
        guard largest <= limit else { throw .valueTooLarge(size: largest, limit: limit) }
        let command = allocate(length: measure.count, timeout: timeout)
        command.withUnsafeMutablePointerToElements { base in
            var writer = RESPWriter(into: base)
            writer.arrayHeader(arguments.count)
            for argument in arguments { argument.withArgumentBytes { writer.bulk($0) } }
        }
        return command
    }

    @usableFromInline
    static func allocate(length: Int, timeout: Duration) -> PendingCommand {
        // One byte more than the command for a NUL: hiredis 0.14's redisAsyncFormattedCommand
        // walks the arguments of (P)(UN)SUBSCRIBE with strchr, i.e. as a C string, and asserts
        // (aborting the process) if it runs past an unterminated buffer into stray bytes.
        let buffer = PendingCommand.create(minimumCapacity: length + 1) { _ in
            PendingCommandHeader(
                length: length, timeoutMilliseconds: max(timeout.roundedUpMilliseconds, 1), completion: .none)
        }
        let command = unsafeDowncast(buffer, to: PendingCommand.self)
        command.withUnsafeMutablePointerToElements { $0[length] = 0 }
        return command
    }

    /// A fresh command with the same bytes and settings (and `timeout`, if given), to send again
    /// (a cluster redirection).
    func copy(timeout: Duration? = nil) -> PendingCommand {
        let length = header.length
        let copy = PendingCommand.allocate(length: length, timeout: timeout ?? .milliseconds(Int64(header.timeoutMilliseconds)))
        copy.header.returnsErrorReplies = header.returnsErrorReplies
        withUnsafeMutablePointerToElements { source in
            copy.withUnsafeMutablePointerToElements { $0.update(from: source, count: length) }
        }
        return copy
    }

    /// The cluster slot of the command's routing key (CommandRouting), read back from the
    /// encoded bytes; nil for a command without a key.
    var routingSlot: Int? {
        withUnsafeMutablePointerToElements { base -> Int? in
            let bytes = UnsafeBufferPointer(start: base, count: header.length)
            var arguments: [Range<Int>] = []
            var index = 0
            // Our own encoding: *N\r\n then $L\r\n<L bytes>\r\n per argument.
            func number(after marker: UInt8) -> Int? {
                guard index < bytes.count, bytes[index] == marker else { return nil }
                index += 1
                var value = 0
                while index < bytes.count, bytes[index] != 13 {
                    value = value * 10 + Int(bytes[index] &- 48)
                    index += 1
                }
                index += 2
                return value
            }
            guard let count = number(after: UInt8(ascii: "*")) else { return nil }
            for _ in 0..<min(count, 4) {
                guard let length = number(after: UInt8(ascii: "$")), index + length <= bytes.count else { return nil }
                arguments.append(index..<(index + length))
                index += length + 2
            }
            guard let first = arguments.first else { return nil }
            let keyIndex = CommandRouting.keyIndex(
                command: Array(bytes[first]), argumentCount: count,
                numberOfKeys: { arguments.count > 2 ? Int(String(decoding: bytes[arguments[2]], as: UTF8.self)) : nil })
            guard let keyIndex, keyIndex < arguments.count else { return nil }
            return ClusterSlots.slot(of: bytes[arguments[keyIndex]])
        }
    }

    /// Calls `body` with the encoded bytes.
    func withEncodedBytes<Result>(_ body: (UnsafePointer<CChar>, Int) -> Result) -> Result {
        let length = header.length
        return withUnsafeMutablePointerToElements { base in
            base.withMemoryRebound(to: CChar.self, capacity: length) { body($0, length) }
        }
    }

    /// Completes the command once; later calls do nothing. Loop thread (or the submitting thread
    /// before submission).
    func complete(_ result: Result<RESPValue, RedisError>) {
        guard !header.completed else { return }
        header.completed = true
        let completion = header.completion
        header.completion = .none
        switch completion {
        case .none: break
        case .continuation(let continuation): continuation.resume(with: result.mapError { $0 as any Error })
        case .callback(let callback): callback(result)
        }
    }

    /// Completes the command with `CancellationError`. Loop thread.
    func cancel() {
        guard !header.completed else { return }
        guard header.submitted else {
            header.cancelRequested = true
            return
        }
        header.completed = true
        let completion = header.completion
        header.completion = .none
        switch completion {
        case .none: break
        case .continuation(let continuation): continuation.resume(throwing: CancellationError())
        case .callback(let callback): callback(.failure(.closed))
        }
    }
}
