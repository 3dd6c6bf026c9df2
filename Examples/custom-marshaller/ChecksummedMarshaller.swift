// ChecksummedMarshaller: frames another marshaller's bytes with a format tag and a CRC-32.
//
// Values cross process boundaries twice (into Redis, and inside set events), and every instance
// decodes what any other wrote. The frame turns two silent failures into loud ones:
//   - bytes damaged on the way or in Redis fail the checksum instead of decoding into garbage;
//   - bytes written by an instance with another marshaller (during a rolling deploy that changes
//     the format) fail the tag check instead of being misread.
// The same wrapping shape fits compression or encryption: transform the base's bytes in
// `marshal`, undo it in `unmarshal`.
//
// Frame: [tag 0xC5] [payload: the base marshaller's bytes] [CRC-32 of the payload, big-endian].
// CRC-32 (IEEE 802.3, the one of zlib and PNG) detects every burst error up to 32 bits; it is a
// check against accidents, not against tampering (that needs a keyed MAC, such as HMAC-SHA256).

import DistributedCache

/// Wraps a marshaller's output in a tagged, checksummed frame.
struct ChecksummedMarshaller<Base: Marshaller>: Marshaller {
    /// Why a frame was refused.
    enum FrameError: Error, CustomStringConvertible {
        case notFramed
        case checksumMismatch(expected: UInt32, actual: UInt32)

        var description: String {
            switch self {
            case .notFramed:
                return "not a checksummed frame (written with another marshaller?)"
            case .checksumMismatch(let expected, let actual):
                return "checksum mismatch: stored \(String(expected, radix: 16)), computed \(String(actual, radix: 16))"
            }
        }
    }

    /// First byte of every frame; 0xC5 is not a valid first byte of JSON text.
    private static var tag: UInt8 { 0xC5 }

    let base: Base

    var name: String { "crc32+\(base.name)" }

    func marshal<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        let payload = try base.marshal(value)
        let checksum = CRC32.checksum(payload[...])
        var frame: [UInt8] = []
        frame.reserveCapacity(payload.count + 5)
        frame.append(Self.tag)
        frame += payload
        for shift in stride(from: 24, through: 0, by: -8) { frame.append(UInt8(truncatingIfNeeded: checksum >> shift)) }
        return frame
    }

    func unmarshal<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        guard bytes.count >= 5, bytes[0] == Self.tag else { throw FrameError.notFramed }
        let payload = bytes[1..<bytes.count - 4]
        let stored = bytes[(bytes.count - 4)...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let computed = CRC32.checksum(payload)
        guard stored == computed else { throw FrameError.checksumMismatch(expected: stored, actual: computed) }
        return try base.unmarshal(type, from: Array(payload))
    }
}

/// CRC-32 with the reflected IEEE polynomial, one table lookup per byte.
enum CRC32 {
    /// 256 precomputed remainders; built once, on first use (static lets are lazily initialized
    /// exactly once, thread-safely).
    private static let table: [UInt32] = (0..<256).map { byte in
        var crc = UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
