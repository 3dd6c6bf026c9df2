// Users of the cache need the local store's protocol (for custom local caches) and the
// transport's error and event-loop types: re-export both modules.
@_exported import LocalStore
@_exported import RedisTransport
