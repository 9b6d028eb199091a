//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ServiceLifecycle
import Synchronization

/// The embedded session store: one process, values kept in memory, expired values removed by a tidy loop.
public final class MemorySessionStore: SessionStore {
    struct Entry {
        var value: JSONValue
        var version: UInt64
        var expiresAt: Int64
    }

    struct State {
        var entries: [String: Entry] = [:]
        var nextVersion: UInt64 = 1
    }

    private let state = Mutex(State())
    private let clock: WallClock
    private let tidyInterval: Duration

    /// Creates a store.
    /// - Parameters:
    ///   - clock: the clock expiry is measured against.
    ///   - tidyInterval: how often expired entries are removed from memory.
    public init(clock: WallClock = .system, tidyInterval: Duration = .seconds(30)) {
        self.clock = clock
        self.tidyInterval = tidyInterval
    }

    /// The number of live entries (expired ones not yet tidied may count).
    public var count: Int { state.withLock { $0.entries.count } }

    /// The keys of the entries (expired ones not yet tidied may be listed); for tests and diagnostics.
    package var keys: [String] { state.withLock { Array($0.entries.keys) } }

    public func get(_ key: String) async throws -> VersionedValue? {
        let now = clock.millis()
        return state.withLock { s in
            guard let e = s.entries[key], e.expiresAt > now else { return nil }
            return VersionedValue(value: e.value, version: e.version)
        }
    }

    public func create(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64? {
        let now = clock.millis()
        return state.withLock { s in
            if let e = s.entries[key], e.expiresAt > now { return nil }
            let v = s.nextVersion
            s.nextVersion += 1
            s.entries[key] = Entry(value: value, version: v, expiresAt: now + ttl.wholeMilliseconds)
            return v
        }
    }

    public func set(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64 {
        let now = clock.millis()
        return state.withLock { s in
            let v = s.nextVersion
            s.nextVersion += 1
            s.entries[key] = Entry(value: value, version: v, expiresAt: now + ttl.wholeMilliseconds)
            return v
        }
    }

    public func compareAndSet(_ key: String, value: JSONValue, expectedVersion: UInt64, ttl: Duration) async throws -> UInt64? {
        let now = clock.millis()
        return state.withLock { s in
            guard let e = s.entries[key], e.expiresAt > now, e.version == expectedVersion else { return nil }
            let v = s.nextVersion
            s.nextVersion += 1
            s.entries[key] = Entry(value: value, version: v, expiresAt: now + ttl.wholeMilliseconds)
            return v
        }
    }

    public func touch(_ key: String, ttl: Duration) async throws -> Bool {
        let now = clock.millis()
        return state.withLock { s in
            guard var e = s.entries[key], e.expiresAt > now else { return false }
            e.expiresAt = now + ttl.wholeMilliseconds
            s.entries[key] = e
            return true
        }
    }

    public func getAndTouch(_ key: String, ttl: Duration) async throws -> VersionedValue? {
        let now = clock.millis()
        return state.withLock { s in
            guard var e = s.entries[key], e.expiresAt > now else { return nil }
            e.expiresAt = now + ttl.wholeMilliseconds
            s.entries[key] = e
            return VersionedValue(value: e.value, version: e.version)
        }
    }

    public func delete(_ key: String) async throws {
        _ = state.withLock { $0.entries.removeValue(forKey: key) }
    }

    /// Removes expired entries now.
    public func tidy() {
        let now = clock.millis()
        state.withLock { s in s.entries = s.entries.filter { $0.value.expiresAt > now } }
    }

    /// Tidies expired entries every `tidyInterval` until graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.tidyInterval)
                self.tidy()
            }
        }
    }
}
