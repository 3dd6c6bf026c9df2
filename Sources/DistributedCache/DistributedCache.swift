// The public API (SyncedCache) is being written; this file keeps the module buildable.
@_exported import LocalStore
@_exported import RedisTransport
