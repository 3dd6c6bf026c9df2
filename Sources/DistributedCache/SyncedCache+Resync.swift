// Resynchronization: dropping what the local cache may have missed while the channel was down.
//
// Started by the liveness state machine (SyncedCache+Health.swift) once the channel is proven to
// deliver again, one at a time. Each strategy ends with the local cache holding nothing that
// changed in Redis during the interruption:
//   - clear: drop everything (always correct, and the default);
//   - revalidate: compare every local entry's version with Redis's, in batches of MGET;
//   - replay: read the namespace's replay stream from the last version seen and drop exactly the
//     keys it names; clear everything when the stream no longer reaches back that far, or when
//     the version counter went back (Redis lost its data and the counter restarted).
// A strategy that fails (Redis unreachable again) falls back to clear.

import Primitives
import RedisTransport

extension SyncedCache {
    /// Resynchronizes; returns false when tracking mode could not turn tracking back on (the
    /// instance then stays degraded, and the next ping back retries).
    func resync() async -> Bool {
        let strategy = options.resyncStrategy
        if tracks {
            do {
                try await enableTracking()
            } catch {
                report(CacheError.from(error), "resync: turning client tracking on")
                dropEverything()
                return false
            }
        }
        do {
            switch strategy {
            case .clear:
                dropEverything()
            case .revalidate:
                dropTagged()
                try await revalidate()
            case .replay:
                dropTagged()
                try await replay()
            }
        } catch {
            report(CacheError.from(error), "resync (\(strategy.rawValue))")
            dropEverything()
        }
        counters.increment(.resyncs)
        return true
    }

    func dropEverything() {
        changes.recordClear(version: 0, horizon: horizon.current)
        _ = tags.forgetAll()
        local.removeAll(cause: .invalidated)
    }

    /// Forgets the tag generations (invalidations may have been missed) and drops every tagged
    /// local entry; the strategies that keep entries start with it.
    func dropTagged() {
        for key in tags.forgetAll() {
            changes.recordChange(of: key, version: 0, horizon: horizon.current)
            local.remove(key, cause: .invalidated) { _ in true }
        }
    }

    /// Reads the namespace's version counter (0 when it does not exist) and learns it as the
    /// verified horizon.
    func readVersionCounter() async throws -> UInt64 {
        guard let stored = try await client.get(layout.versionKey) else { return 0 }
        guard let counter = UInt64(String(decoding: stored, as: UTF8.self)), counter <= SyncedCache.maximumVersion else {
            throw RedisError.protocolError(
                "the version counter \(layout.versionKey) holds \"\(String(decoding: stored.prefix(40), as: UTF8.self))\"")
        }
        horizon.learn(counter)
        return counter
    }

    /// Compares every local entry's version with Redis's, 500 keys per MGET, and drops those
    /// that differ, are gone, or carry a version Redis never handed out.
    private func revalidate() async throws {
        guard layout.versioned, let entries = local.snapshot() else { return dropEverything() }
        // Reads that started before now may carry what we are about to check: refuse them.
        changes.recordClear(version: 0, horizon: horizon.current)
        var start = 0
        while start < entries.count {
            let batch = entries[start..<min(start + 500, entries.count)]
            start += 500
            let stored = try await client.mget(batch.map { layout.dataKey($0.key) as any RESPArgument })
            for (entry, value) in zip(batch, stored) {
                let current = value.map { RedisLayout.parseStored($0).version }
                if current != entry.version || entry.version == 0 {
                    local.remove(entry.key, cause: .invalidated) { $0 == entry.version }
                }
            }
        }
    }

    /// Reads the replay stream after the last version seen and drops exactly the keys it names.
    private func replay() async throws {
        let cursor = health.lastVersion.load(ordering: .relaxed)
        guard layout.versioned, cursor > 0 else { return dropEverything() }
        let counter = try await readVersionCounter()
        if counter < cursor {
            // Redis lost its data and the counter restarted, or an event carried a forged version.
            logger.info("the version counter (\(counter)) is behind our cursor (\(cursor)): full clear")
            return dropEverything()
        }
        guard counter > cursor else { return }
        guard let first = try await streamEntries(from: "-", count: 1).first else {
            logger.info("no replay stream, and \(counter - cursor) writes since our cursor: full clear")
            return dropEverything()
        }
        if first.version > cursor + 1 {
            logger.info("replay stream starts at version \(first.version), after our cursor \(cursor): full clear")
            return dropEverything()
        }
        var next = "\(cursor + 1)-0"
        while true {
            let entries = try await streamEntries(from: next, count: 1_000)
            for entry in entries {
                if case .success(let event) = EventCodec.decode(entry.payload) {
                    replayDrop(event)
                }
                health.observe(version: entry.version)
            }
            guard let last = entries.last, entries.count == 1_000, last.version < SyncedCache.maximumVersion else { break }
            next = "\(last.version + 1)-0"
        }
    }

    private func replayDrop(_ event: Event) {
        guard event.sender != podID else { return }
        let version = event.version ?? 0
        switch event.action {
        case .clear:
            dropEverything()
        case .set, .invalidate, .delete:
            changes.recordChange(of: event.key, version: version, horizon: horizon.current)
            local.remove(event.key, cause: .invalidated) { version == 0 || $0 < version }
        case .invalidateTag:
            applyTagInvalidation(event)
        }
    }

    /// XRANGE of the replay stream from `start`, as (version, event payload) pairs. Entries whose
    /// ID is not a bounded version are skipped.
    private func streamEntries(from start: String, count: Int) async throws -> [(version: UInt64, payload: [UInt8])] {
        guard case .array(let entries) = try await client.send("XRANGE", layout.streamKey, start, "+", "COUNT", count)
        else { return [] }
        return entries.compactMap { entry in
            guard case .array(let parts) = entry, parts.count == 2, let id = parts[0].string,
                let version = UInt64(id.prefix { $0 != "-" }), version <= SyncedCache.maximumVersion,
                case .array(let fields) = parts[1], fields.count >= 2, let payload = fields[1].bytes
            else { return nil }
            return (version, payload)
        }
    }

    /// Sets the replay cursor to the namespace's current version (everything before this
    /// instance started is irrelevant: its local cache was empty).
    func startReplayCursor() async throws {
        health.observe(version: try await readVersionCounter())
    }
}
