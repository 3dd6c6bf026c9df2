// ClusterSlots: Redis Cluster's key-to-slot function and the slot map.
//
// A key belongs to one of 16,384 slots: CRC16 (XModem: polynomial 0x1021, initial value 0, no
// reflection) of the key modulo 16,384, where a key holding a non-empty `{...}` section hashes by
// that section alone (a hash tag), so that related keys share a slot. The slot map says which
// primary serves each slot; it comes from `CLUSTER SLOTS` and is corrected by `MOVED` replies.
// (Redis Cluster specification, "Key distribution model" and "Hash tags"; the algorithm, not code.)

/// The slot functions of Redis Cluster.
public enum ClusterSlots {
    /// Number of hash slots.
    public static let count = 16_384

    /// The slot of a key.
    public static func slot<Key: Collection<UInt8>>(of key: Key) -> Int {
        Int(crc16(hashedPart(of: key)) & UInt16(count - 1))
    }

    /// The slot of a key given as text.
    public static func slot(of key: String) -> Int { slot(of: Array(key.utf8)) }

    /// The part of a key that is hashed: what lies between the first `{` and the next `}` when
    /// that is not empty, else the whole key.
    static func hashedPart<Key: Collection<UInt8>>(of key: Key) -> Key.SubSequence {
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            let start = key.index(after: open)
            if let close = key[start...].firstIndex(of: UInt8(ascii: "}")), close != start {
                return key[start..<close]
            }
        }
        return key[...]
    }

    /// CRC16/XModem, table-driven.
    static func crc16<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(byte))]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}

/// A cluster node's address.
public struct ClusterNode: Sendable, Hashable, CustomStringConvertible {
    /// Host (an IP address as the cluster announces it).
    public var host: String
    /// Port.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}

/// Which primary serves each slot.
struct SlotMap: Sendable, Equatable {
    /// The primary of each slot; nil while unknown.
    private(set) var owners: [ClusterNode?] = Array(repeating: nil, count: ClusterSlots.count)

    /// The primary of `slot`, if known.
    func owner(of slot: Int) -> ClusterNode? { owners[slot] }

    /// Every primary the map names.
    var primaries: [ClusterNode] { Array(Set(owners.compactMap { $0 })).sorted { $0.description < $1.description } }

    /// A `MOVED` reply: `slot` is now served by `node`.
    mutating func assign(_ slot: Int, to node: ClusterNode) {
        guard owners.indices.contains(slot) else { return }
        owners[slot] = node
    }

    /// Parses a `CLUSTER SLOTS` reply: an array of [start, end, [primary host, port, ...],
    /// replicas...]. A node announced without a host (an empty string, or "?") is reached at
    /// `fallbackHost`, the address that answered. Hostile input is bounded: slots outside
    /// 0...16383, ports outside 1...65535 or malformed entries fail the whole reply.
    /// - Returns: nil when the reply is not a valid slot map.
    static func parse(_ reply: RESPValue, fallbackHost: String) -> SlotMap? {
        guard case .array(let ranges) = reply, ranges.count <= ClusterSlots.count else { return nil }
        var map = SlotMap()
        for range in ranges {
            guard case .array(let fields) = range, fields.count >= 3,
                case .integer(let start) = fields[0], case .integer(let end) = fields[1],
                (0..<Int64(ClusterSlots.count)).contains(start), (start..<Int64(ClusterSlots.count)).contains(end),
                case .array(let primary) = fields[2], primary.count >= 2,
                case .integer(let port) = primary[1], (1...65_535).contains(port)
            else { return nil }
            var host = primary[0].string ?? ""
            if host.isEmpty || host == "?" { host = fallbackHost }
            guard host.utf8.count <= 255 else { return nil }
            let node = ClusterNode(host: host, port: Int(port))
            for slot in Int(start)...Int(end) { map.owners[slot] = node }
        }
        return map
    }
}

/// Where a command's routing key is: the key that decides which node runs it.
enum CommandRouting {
    /// The index, in the command's arguments, of the key that routes it; nil for a command with
    /// no key (it may run on any node). EVAL and EVALSHA route by their first key, when they
    /// have one.
    static func keyIndex(command: [UInt8], argumentCount: Int, numberOfKeys: () -> Int?) -> Int? {
        let name = String(decoding: command, as: UTF8.self).uppercased()
        switch name {
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            guard let keys = numberOfKeys(), keys > 0, argumentCount > 3 else { return nil }
            return 3
        case "PING", "INFO", "SCAN", "FLUSHDB", "FLUSHALL", "DBSIZE", "CLUSTER", "CLIENT", "SCRIPT", "AUTH", "SELECT",
            "PUBLISH", "PUBSUB", "TIME", "CONFIG", "COMMAND", "ASKING", "READONLY", "HELLO", "QUIT", "ACL", "MULTI", "EXEC":
            return nil
        case "SPUBLISH":
            return argumentCount > 1 ? 1 : nil
        default:
            return argumentCount > 1 ? 1 : nil
        }
    }
}
