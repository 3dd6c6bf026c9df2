// The public API lands in issue 6; this file keeps the module buildable meanwhile.
@_exported import LocalStore
@_exported import RedisTransport
