// MessagePackWriter: writes a finished EncodedValue tree through the C writer (dc_msgpack.h).
//
// One writer per marshal call: it owns one dc_msgpack_writer_t, created in `init` and freed in
// `deinit`, so an error thrown half-way never leaks the C buffer. The tree is walked depth-first
// and each value becomes one dc_msgpack_write_* call; msgpack-c picks the smallest wire form.
//
// Nesting is limited to DC_MSGPACK_MAX_DEPTH containers, the deepest msgpack-c's unpacker reads
// (dc_msgpack.h): writing more would produce bytes that no instance can unmarshal, so the writer
// refuses them and MessagePackEncoder reports an EncodingError with the path of the offending value.
// The walk builds that path only while unwinding from an error, never on the success path.
//
// The initial buffer is 256 bytes: MarshallingBenchmarks' 4-field struct encodes to 57 bytes and
// the spec example {"a":1,"b":"x"} to 8, so a struct with a few more strings still fits without
// a regrow, and 256 is one of jemalloc's small size classes, served from the thread cache. Larger
// values double the buffer a few times (amortized O(1) per byte).

import CSupport

/// Writes one ``EncodedValue`` tree as MessagePack. Not Sendable: one marshal call creates it,
/// uses it on its own thread and drops it.
final class MessagePackWriter {
    /// Why writing failed, and where: the path is filled in while the error unwinds.
    struct Failure: Error {
        var codingPath: [any CodingKey]
        let reason: String
    }

    static let initialCapacity = 256

    // Owned by this object: created in init, freed in deinit, never handed out. An OpaquePointer
    // because dc_msgpack_writer_t is an incomplete C type. Touched only by the thread running
    // the marshal call that created this writer.
    private let writer: OpaquePointer

    init() throws(Failure) {
        guard let writer = dc_msgpack_writer_create(Self.initialCapacity) else {
            throw Failure(codingPath: [], reason: "out of memory")
        }
        self.writer = writer
    }

    deinit { dc_msgpack_writer_free(writer) }

    /// Appends `value` and everything below it.
    /// - Throws: ``Failure`` when the tree nests deeper than DC_MSGPACK_MAX_DEPTH, a string or
    ///   container exceeds the format's 2^32 - 1 limit, or memory runs out.
    func write(_ value: EncodedValue) throws(Failure) {
        try write(value, depth: 0)
    }

    /// A copy of the bytes written so far.
    func bytes() -> [UInt8] {
        var length = 0
        // Borrowed from the writer: valid only until its next call, and copied before returning.
        let start: UnsafePointer<UInt8>? = dc_msgpack_writer_bytes(writer, &length)
        return [UInt8](UnsafeBufferPointer(start: start, count: length))
    }

    /// `depth` is the number of containers enclosing `value`.
    private func write(_ value: EncodedValue, depth: Int) throws(Failure) {
        switch value {
        case .null: try check(dc_msgpack_write_nil(writer))
        case .bool(let bool): try check(dc_msgpack_write_bool(writer, bool ? 1 : 0))
        case .int(let int): try check(dc_msgpack_write_int64(writer, int))
        case .uint(let uint): try check(dc_msgpack_write_uint64(writer, uint))
        case .float(let float): try check(dc_msgpack_write_float(writer, float))
        case .double(let double): try check(dc_msgpack_write_double(writer, double))
        case .string(let string): try writeString(string)
        case .bytes(let bytes):
            // Borrowed for the call: the C writer copies the bytes before returning.
            try check(bytes.withUnsafeBytes { dc_msgpack_write_bin(writer, $0.baseAddress, $0.count) })
        case .array(let array):
            try enterContainer(depth: depth)
            try check(dc_msgpack_write_array(writer, array.elements.count))
            for (index, element) in array.elements.enumerated() {
                do throws(Failure) {
                    try write(element, depth: depth + 1)
                } catch {
                    throw error.under(MessagePackCodingKey(intValue: index))
                }
            }
        case .map(let map):
            try enterContainer(depth: depth)
            try check(dc_msgpack_write_map(writer, map.count))
            for (key, element) in map.entries {
                do throws(Failure) {
                    try writeString(key)
                    try write(element, depth: depth + 1)
                } catch {
                    throw error.under(MessagePackCodingKey(stringValue: key))
                }
            }
        case .encoder(let encoder):
            try write(encoder.value ?? .map(EncodedMap()), depth: depth)
        }
    }

    private func writeString(_ string: String) throws(Failure) {
        var string = string
        // Borrowed for the call: the UTF-8 view is valid inside the closure, and the C writer
        // copies the bytes before returning.
        try check(string.withUTF8 { dc_msgpack_write_str(writer, $0.baseAddress, $0.count) })
    }

    private func enterContainer(depth: Int) throws(Failure) {
        guard depth < Int(DC_MSGPACK_MAX_DEPTH) else {
            throw Failure(
                codingPath: [],
                reason: "containers nest deeper than \(DC_MSGPACK_MAX_DEPTH), the most msgpack-c can read back")
        }
    }

    private func check(_ status: Int32) throws(Failure) {
        switch status {
        case DC_OK.rawValue: return
        case DC_ERR_INVALID.rawValue:
            throw Failure(codingPath: [], reason: "a string, binary or container exceeds MessagePack's 2^32 - 1 limit")
        default: throw Failure(codingPath: [], reason: "out of memory")
        }
    }
}

extension MessagePackWriter.Failure {
    /// This failure, one level further from the root: `key` is prepended to the path.
    fileprivate func under(_ key: any CodingKey) -> Self {
        Self(codingPath: [key] + codingPath, reason: reason)
    }
}
