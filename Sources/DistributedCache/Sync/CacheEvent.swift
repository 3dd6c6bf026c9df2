// SyncedCache.Event: one message on the invalidation channel.

extension SyncedCache {
    /// What an event asks the other instances to do.
    public enum Action: String, Sendable, Codable, CaseIterable {
        /// Store the value carried by the event.
        case set
        /// Drop the key; the next read fetches it from Redis.
        case invalidate
        /// The key was deleted: drop it.
        case delete
        /// Everything was cleared: drop every key.
        case clear
        /// Every value carrying the tag named by `key` is invalid: drop them (`tags` holds the
        /// tag's new generation).
        case invalidateTag = "invalidate-tag"
    }

    /// A set or invalidation event, as published on the channel.
    ///
    /// The JSON form is the reference library's, byte for byte (fields `key`, `sender`, `action`
    /// and, for sets, `value` as standard base64), followed in the versioned wire format by
    /// `version` and, for values with a time to live, `ttl` in milliseconds. Reference instances
    /// ignore the extra fields.
    public struct Event: Sendable, Equatable {
        /// The cache key ("*" for clear).
        public var key: String
        /// The pod id of the instance that published it.
        public var sender: String
        /// What to do.
        public var action: Action
        /// The marshalled value, for `set` (empty otherwise).
        public var value: [UInt8]
        /// The version of the write (versioned wire format), nil in reference events.
        public var version: UInt64?
        /// Time to live of the value in milliseconds, if it has one.
        public var ttlMilliseconds: Int64?
        /// The value's tags, each with its generation at the write (`set`); for `invalidateTag`,
        /// the tag and its new generation. Empty when untagged.
        public var tags: [String: UInt64]

        /// Creates an event.
        public init(
            key: String, sender: String, action: Action, value: [UInt8] = [], version: UInt64? = nil,
            ttlMilliseconds: Int64? = nil, tags: [String: UInt64] = [:]
        ) {
            self.key = key
            self.sender = sender
            self.action = action
            self.value = value
            self.version = version
            self.ttlMilliseconds = ttlMilliseconds
            self.tags = tags
        }

        /// The tags in name order.
        var tagGenerations: [TagGeneration] {
            tags.sorted { $0.key < $1.key }.map { TagGeneration(tag: $0.key, generation: $0.value) }
        }
    }
}

extension SyncedCache.Event {
    /// Why a payload is not an event.
    public enum DecodingError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Not a JSON object.
        case notJSON
        /// A required field (key, sender, action) is missing.
        case missingField(String)
        /// The action is not one of set, invalidate, delete, clear.
        case unknownAction(String)
        /// `value` is not valid base64.
        case badValue
        /// A number is outside its bound: `version` above ``SyncedCache/maximumVersion``, or
        /// `ttl` not in 1 ms...``SyncedCache/maximumTTL``. The associated value names the field.
        case outOfRange(String)

        public var description: String {
            switch self {
            case .notJSON: return "not a JSON object"
            case .missingField(let name): return "missing field \"\(name)\""
            case .unknownAction(let action): return "unknown action \"\(action)\""
            case .badValue: return "value is not base64"
            case .outOfRange(let name): return "field \"\(name)\" is out of range"
            }
        }
    }

    /// Decodes an event from its JSON payload, as published on the channel.
    /// - Throws: ``DecodingError`` describing what is wrong.
    public init(json payload: [UInt8]) throws(DecodingError) {
        switch EventCodec.decode(payload) {
        case .success(let event): self = event
        case .failure(.notJSON): throw .notJSON
        case .failure(.missingField(let name)): throw .missingField(name)
        case .failure(.unknownAction(let action)): throw .unknownAction(action)
        case .failure(.badValue): throw .badValue
        case .failure(.outOfRange(let name)): throw .outOfRange(name)
        }
    }

    /// The event's JSON payload, byte for byte as this library (and, without version, the
    /// reference library) publishes it.
    public var json: [UInt8] { EventCodec.encode(self) }
}
