// What users of the cache need from the layers below, and nothing more: the local-cache protocol
// with its metrics, errors and removal notices (for a custom local cache and `onRemoval`), the
// transport's error, and the event loop an application may share between caches. Everything else
// of LocalStore and RedisTransport stays behind `import LocalStore` / `import RedisTransport`.
@_exported import protocol LocalStore.LocalCache
@_exported import struct LocalStore.LocalCacheMetrics
@_exported import enum LocalStore.LocalCacheError
@_exported import struct LocalStore.Removal
@_exported import enum LocalStore.RemovalCause
@_exported import enum RedisTransport.RedisError
@_exported import class RedisTransport.EventLoop
