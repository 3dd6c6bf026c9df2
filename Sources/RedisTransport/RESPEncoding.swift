// RESP encoding: commands are written in RESP2 by us, not by hiredis's printf-style formatter.
//
// A command is an array of bulk strings: `*<n>\r\n` then, per argument, `$<len>\r\n<bytes>\r\n`.
// Encoding measures first (so the command's buffer is allocated once, at its exact size, inside
// the PendingCommand object itself) and then writes. Arguments are anything that can show its
// bytes without copying: strings, byte arrays, integers (formatted on the stack).

/// A value usable as one argument of a Redis command: sent as a binary-safe bulk string.
public protocol RESPArgument: Sendable {
    /// Calls `body` with the argument's bytes; the buffer is valid only during the call.
    ///
    /// Not generic over a result on purpose: commands are encoded through this requirement for
    /// each argument of a parameter pack, where a generic requirement costs a runtime metadata
    /// lookup per call. Callers collect results through the closure's captures.
    func withArgumentBytes(_ body: (UnsafeRawBufferPointer) -> Void)
}

extension String: RESPArgument {
    @inlinable
    public func withArgumentBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        // Native strings are contiguous UTF-8; bridged or lazily decoded ones are made so first.
        if utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) != nil { return }
        var copy = self
        copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}

extension Substring: RESPArgument {
    @inlinable
    public func withArgumentBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        if utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) != nil { return }
        String(self).withArgumentBytes(body)
    }
}

extension Array: RESPArgument where Element == UInt8 {
    @inlinable
    public func withArgumentBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        withUnsafeBytes(body)
    }
}

extension ArraySlice: RESPArgument where Element == UInt8 {
    @inlinable
    public func withArgumentBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        withUnsafeBytes(body)
    }
}

extension Int: RESPArgument {
    @inlinable
    public func withArgumentBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        Int64(self).withArgumentBytes(body)
    }
}

extension Int64: RESPArgument {
    public func withArgumentBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        // At most 20 characters ("-9223372036854775808"), formatted right to left on the stack.
        withUnsafeTemporaryAllocation(byteCount: 20, alignment: 1) { buffer in
            var magnitude = self.magnitude
            var position = 20
            repeat {
                position -= 1
                buffer[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if self < 0 {
                position -= 1
                buffer[position] = UInt8(ascii: "-")
            }
            body(UnsafeRawBufferPointer(rebasing: buffer[position...]))
        }
    }
}

extension UInt64: RESPArgument {
    public func withArgumentBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        withUnsafeTemporaryAllocation(byteCount: 20, alignment: 1) { buffer in
            var value = self
            var position = 20
            repeat {
                position -= 1
                buffer[position] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            } while value > 0
            body(UnsafeRawBufferPointer(rebasing: buffer[position...]))
        }
    }
}

extension Double: RESPArgument {
    public func withArgumentBytes(_ body: (UnsafeRawBufferPointer) -> Void) {
        description.withArgumentBytes(body)
    }
}

/// Writes RESP into raw memory, or only counts the bytes it would write.
@usableFromInline
struct RESPWriter {
    @usableFromInline let base: UnsafeMutableRawPointer?
    @usableFromInline var count = 0

    /// A writer that only measures.
    @inlinable init() { base = nil }

    /// A writer into `base`, which must have room for what a measuring pass counted.
    @inlinable init(into base: UnsafeMutableRawPointer) { self.base = base }

    @inlinable mutating func byte(_ value: UInt8) {
        base?.storeBytes(of: value, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inlinable mutating func decimal(_ value: Int) {
        // Lengths and counts are non-negative and small; write digits most significant first.
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        repeat {
            byte(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        } while divisor > 0
    }

    @inlinable mutating func crlf() {
        byte(13)
        byte(10)
    }

    /// `*<count>\r\n`
    @inlinable mutating func arrayHeader(_ count: Int) {
        byte(UInt8(ascii: "*"))
        decimal(count)
        crlf()
    }

    /// `$<len>\r\n<bytes>\r\n`
    @inlinable mutating func bulk(_ bytes: UnsafeRawBufferPointer) {
        byte(UInt8(ascii: "$"))
        decimal(bytes.count)
        crlf()
        if let base, bytes.count > 0 {
            (base + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
        count += bytes.count
        crlf()
    }
}
