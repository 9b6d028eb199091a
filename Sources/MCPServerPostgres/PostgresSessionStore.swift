//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import MCPServer
import NIOCore
public import PostgresNIO

/// The session store on PostgreSQL: one row per key in `mcp_kv`, with a version column for compare-and-set and an
/// expiry column. Every operation is one statement, so one round trip, with a deadline.
///
/// Expired rows are invisible at once (every statement checks `expires_at`) and deleted later by the sweeper
/// (``PostgresSweeper``). The table has no index on the expiry, so that the updates a sliding expiry makes stay
/// HOT (heap-only) updates.
///
/// Versions are the server's clock in microseconds, or one more than the old version if that is not smaller
/// (`mcp_next_version`), as in the Redis store.
public struct PostgresSessionStore: SessionStore {
    let client: PostgresClient
    let timeout: Duration
    let watchdog: PostgresWatchdog?

    /// Creates a store on `client`; the client is not owned: run it as its own service.
    /// - Parameters:
    ///   - timeout: how long one operation may take (default 5 s).
    ///   - watchdog: what enforces the timeout (run it as a service); without one, each operation sets a timer.
    public init(client: PostgresClient, timeout: Duration = .seconds(5), watchdog: PostgresWatchdog? = nil) {
        self.client = client
        self.timeout = timeout
        self.watchdog = watchdog
    }

    public func get(_ key: String) async throws -> VersionedValue? {
        try await value("SELECT value, version FROM mcp_kv WHERE key = \(key) AND expires_at > clock_timestamp()")
    }

    /// Reads a value and restarts its time to live, in one statement; the row is rewritten only when the new expiry
    /// differs from the stored one by more than ``touchSlack(for:)``, so a session used many times a second costs a
    /// read, not a write (and a WAL flush), per request. A key therefore expires between `ttl - slack` and `ttl`
    /// after its last use.
    public func getAndTouch(_ key: String, ttl: Duration) async throws -> VersionedValue? {
        // The hot path of every legacy request: a prepared statement, parsed and planned once per connection.
        let statement = GetAndTouch(key: key, ttl: ttl.wholeMilliseconds, slack: Self.touchSlack(for: ttl).wholeMilliseconds)
        let rows = try await client.run(statement, timeout: timeout, watchdog: watchdog)
        guard let (bytes, version) = rows.first else { return nil }
        return VersionedValue(value: try JSONParser().parse(bytes.readableBytesView), version: UInt64(max(0, version)))
    }

    /// `getAndTouch` as a prepared statement: read the live row, and slide its expiry only when it would move by more
    /// than the slack.
    struct GetAndTouch: PostgresPreparedStatement {
        static let name = "mcp_kv_get_and_touch_1"
        static let sql = """
            WITH cur AS (
                SELECT value, version, expires_at FROM mcp_kv WHERE key = $1 AND expires_at > clock_timestamp()
            ), touched AS (
                UPDATE mcp_kv k SET expires_at = clock_timestamp() + $2 * interval '1 millisecond'
                FROM cur WHERE k.key = $1 AND k.version = cur.version
                  AND abs(extract(epoch FROM (cur.expires_at - clock_timestamp())) * 1000 - $2) > $3
            )
            SELECT value, version FROM cur
            """
        static let bindingDataTypes: [PostgresDataType] = [.text, .int8, .int8]
        typealias Row = (ByteBuffer, Int64)

        var key: String
        var ttl: Int64
        var slack: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(key)
            bindings.append(ttl)
            bindings.append(slack)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            try row.decode(Row.self)
        }
    }

    /// How far a sliding expiry may lag: a twentieth of the time to live, at most 5 seconds.
    public static func touchSlack(for ttl: Duration) -> Duration {
        min(ttl / 20, .seconds(5))
    }

    public func create(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64? {
        try await version(
            """
            INSERT INTO mcp_kv AS k (key, value, version, expires_at)
            VALUES (\(key), \(Self.encode(value)), mcp_next_version(NULL),
                    clock_timestamp() + \(ttl.wholeMilliseconds) * interval '1 millisecond')
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = mcp_next_version(k.version),
                expires_at = excluded.expires_at
            WHERE k.expires_at <= clock_timestamp()
            RETURNING version
            """
        )
    }

    public func set(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64 {
        let stored = try await version(
            """
            INSERT INTO mcp_kv AS k (key, value, version, expires_at)
            VALUES (\(key), \(Self.encode(value)), mcp_next_version(NULL),
                    clock_timestamp() + \(ttl.wholeMilliseconds) * interval '1 millisecond')
            ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                version = mcp_next_version(CASE WHEN k.expires_at > clock_timestamp() THEN k.version END),
                expires_at = excluded.expires_at
            RETURNING version
            """
        )
        guard let stored else {
            throw PostgresBackendError(.unexpectedResult, message: "the session store's set returned no version")
        }
        return stored
    }

    public func compareAndSet(_ key: String, value: JSONValue, expectedVersion: UInt64, ttl: Duration) async throws -> UInt64? {
        guard let expected = Int64(exactly: expectedVersion) else { return nil }
        return try await version(
            """
            UPDATE mcp_kv SET value = \(Self.encode(value)), version = mcp_next_version(version),
                expires_at = clock_timestamp() + \(ttl.wholeMilliseconds) * interval '1 millisecond'
            WHERE key = \(key) AND version = \(expected) AND expires_at > clock_timestamp()
            RETURNING version
            """
        )
    }

    public func touch(_ key: String, ttl: Duration) async throws -> Bool {
        try await version(
            """
            UPDATE mcp_kv SET expires_at = clock_timestamp() + \(ttl.wholeMilliseconds) * interval '1 millisecond'
            WHERE key = \(key) AND expires_at > clock_timestamp() RETURNING version
            """
        ) != nil
    }

    public func delete(_ key: String) async throws {
        try await client.run("DELETE FROM mcp_kv WHERE key = \(key)", timeout: timeout, watchdog: watchdog)
    }

    // MARK: Encoding

    static func encode(_ value: JSONValue) -> ByteBuffer {
        ByteBuffer(bytes: JSONWriter.encode(value))
    }

    private func value(_ query: PostgresQuery) async throws -> VersionedValue? {
        try await client.run(query, timeout: timeout, watchdog: watchdog) { rows in
            var result: VersionedValue?
            for try await (bytes, version) in rows.decode((ByteBuffer, Int64).self) where result == nil {
                result = VersionedValue(value: try JSONParser().parse(bytes.readableBytesView), version: UInt64(max(0, version)))
            }
            return result
        }
    }

    private func version(_ query: PostgresQuery) async throws -> UInt64? {
        try await client.scalar(query, timeout: timeout, watchdog: watchdog).map { UInt64(max(0, $0)) }
    }
}
