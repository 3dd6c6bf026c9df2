// Spans of Redis operations (swift-distributed-tracing).
//
// One span per public operation that goes to Redis: a remote `get`, `getMany`, each kind of
// write, `clear`, `invalidate(tag:)`. A span names the operation and carries the namespace and
// the number of keys, never a key or a value (keys can be personal data). It is a client span,
// a child of the caller's current span (the task-local context), and records the error when the
// operation fails. Local hits make no span: they never leave the process.
//
// Cost: the tracer is resolved once, when the cache is created (``Options/tracer``, else the one
// bootstrapped with InstrumentationSystem). Without one, `traced` is a nil check and a direct
// call, so a service that does not trace pays nothing measurable.

import Tracing

extension SyncedCache {
    /// Runs `body`, the Redis part of `operation` over `keys` keys, inside a span when a tracer is
    /// set.
    func traced<Value>(
        _ operation: String, keys: Int, _ body: () async throws -> Value
    ) async throws -> Value {
        guard let tracer else { return try await body() }
        return try await tracer.withSpan("dcache.\(operation)", ofKind: .client) { span in
            span.attributes["db.system.name"] = "redis"
            span.attributes["db.operation.name"] = operation
            span.attributes["dcache.namespace"] = options.effectiveNamespace
            span.attributes["dcache.key_count"] = keys
            return try await body()
        }
    }
}
