//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Logging
public import PostgresNIO

/// The backends' tables and functions, and the migrations that create them.
///
/// ``migrate(configuration:logger:)`` runs on start. It is safe with any number of replicas starting at once: it
/// takes a session advisory lock, reads `mcp_schema_migrations`, applies each missing migration in a transaction of
/// its own and records it, then lets go. A replica that waited finds nothing left to do.
///
/// Tables (all `mcp_`-prefixed, in the connection's default schema):
/// - `mcp_kv`: the session store, a key with a JSON value, a version and an expiry;
/// - `mcp_log_streams` and `mcp_log_events`: the event log, a counter row per stream and its events;
/// - `mcp_bus`: the message bus's messages, kept for a retention window so that a replica whose LISTEN connection
///   dropped catches up.
public enum PostgresSchema {
    /// The NOTIFY channel of the bus and the log: one channel, so that a replica listens once for everything.
    ///
    /// Payloads: `b <id> <channel>` for a bus message (the row to fetch), `l <stream>` for an event-log append, close
    /// or delete (tails read again).
    public static let notifyChannel = "mcp"

    /// The advisory lock key of migrations (`'mcp-schema'`), and of the sweeper (one replica sweeps at a time).
    static let migrationLock: Int64 = 0x6d63_702d_7363_6865
    static let sweepLock: Int64 = 0x6d63_702d_7377_6570

    /// The schema version this build needs.
    public static var currentVersion: Int { migrations.count }

    /// Each migration is a list of statements, run in one transaction; the index + 1 is its version.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE IF NOT EXISTS mcp_kv (
                key text PRIMARY KEY,
                value bytea NOT NULL,
                version bigint NOT NULL,
                expires_at timestamptz NOT NULL
            ) WITH (fillfactor = 70)
            """,
            """
            CREATE TABLE IF NOT EXISTS mcp_log_streams (
                stream text PRIMARY KEY,
                last_position bigint NOT NULL,
                closed_at bigint,
                expires_at timestamptz NOT NULL
            ) WITH (fillfactor = 70)
            """,
            """
            CREATE TABLE IF NOT EXISTS mcp_log_events (
                stream text NOT NULL,
                position bigint NOT NULL,
                data bytea NOT NULL,
                PRIMARY KEY (stream, position)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS mcp_bus (
                id bigserial PRIMARY KEY,
                channel text NOT NULL,
                payload bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """,
            "CREATE INDEX IF NOT EXISTS mcp_bus_created_at ON mcp_bus (created_at)",
            // A new version: the server clock in microseconds, or one more than the old version if that is not
            // smaller, so a key deleted and created again never repeats a version a compare-and-set could name.
            """
            CREATE OR REPLACE FUNCTION mcp_next_version(old bigint) RETURNS bigint LANGUAGE sql VOLATILE AS $$
                SELECT GREATEST(COALESCE(old + 1, 1), (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
            $$
            """,
            // Appends one event: locks the stream's counter row (created if missing), so appenders to one stream
            // queue behind each other and positions are in commit order; restarts an expired stream at 1.
            """
            CREATE OR REPLACE FUNCTION mcp_log_append(p_stream text, p_data bytea, p_ttl_ms bigint)
            RETURNS bigint LANGUAGE plpgsql AS $$
            DECLARE
                s mcp_log_streams%ROWTYPE;
                pos bigint;
            BEGIN
                LOOP
                    SELECT * INTO s FROM mcp_log_streams WHERE stream = p_stream FOR UPDATE;
                    EXIT WHEN FOUND;
                    INSERT INTO mcp_log_streams (stream, last_position, closed_at, expires_at)
                        VALUES (p_stream, 0, NULL, clock_timestamp()) ON CONFLICT (stream) DO NOTHING;
                END LOOP;
                IF s.last_position = 0 OR s.expires_at <= clock_timestamp() THEN
                    DELETE FROM mcp_log_events WHERE stream = p_stream;
                    pos := 1;
                    UPDATE mcp_log_streams SET last_position = 1, closed_at = NULL,
                        expires_at = clock_timestamp() + p_ttl_ms * interval '1 millisecond'
                        WHERE stream = p_stream;
                ELSE
                    pos := s.last_position + 1;
                    UPDATE mcp_log_streams SET last_position = pos,
                        expires_at = clock_timestamp() + p_ttl_ms * interval '1 millisecond'
                        WHERE stream = p_stream;
                END IF;
                INSERT INTO mcp_log_events (stream, position, data) VALUES (p_stream, pos, p_data);
                IF octet_length(p_stream) < 7000 THEN
                    PERFORM pg_notify('mcp', 'l ' || p_stream);
                END IF;
                RETURN pos;
            END
            $$
            """,
            // Publishes one bus message: the row is the truth, the notification names it.
            """
            CREATE OR REPLACE FUNCTION mcp_bus_publish(p_channel text, p_payload bytea)
            RETURNS bigint LANGUAGE plpgsql AS $$
            DECLARE
                new_id bigint;
            BEGIN
                INSERT INTO mcp_bus (channel, payload) VALUES (p_channel, p_payload) RETURNING id INTO new_id;
                IF octet_length(p_channel) < 7000 THEN
                    PERFORM pg_notify('mcp', 'b ' || new_id || ' ' || p_channel);
                ELSE
                    PERFORM pg_notify('mcp', 'b ' || new_id);
                END IF;
                RETURN new_id;
            END
            $$
            """,
            // Deletes expired rows, a batch of each at a time, if no other replica is sweeping.
            """
            CREATE OR REPLACE FUNCTION mcp_sweep(p_batch bigint, p_bus_retention_ms bigint)
            RETURNS integer LANGUAGE plpgsql AS $$
            DECLARE
                n integer := 0;
                k integer;
            BEGIN
                IF NOT pg_try_advisory_xact_lock(\(sweepLock)) THEN
                    RETURN -1;
                END IF;
                DELETE FROM mcp_kv WHERE key IN (
                    SELECT key FROM mcp_kv WHERE expires_at <= clock_timestamp() LIMIT p_batch FOR UPDATE SKIP LOCKED);
                GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
                WITH gone AS (
                    DELETE FROM mcp_log_streams WHERE stream IN (
                        SELECT stream FROM mcp_log_streams WHERE expires_at <= clock_timestamp()
                        LIMIT p_batch FOR UPDATE SKIP LOCKED)
                    RETURNING stream)
                DELETE FROM mcp_log_events e USING gone WHERE e.stream = gone.stream;
                GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
                DELETE FROM mcp_bus WHERE id IN (
                    SELECT id FROM mcp_bus WHERE created_at < clock_timestamp() - p_bus_retention_ms * interval '1 millisecond'
                    ORDER BY id LIMIT p_batch * 4);
                GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
                RETURN n;
            END
            $$
            """,
        ],
        [
            // Deletes a stream: the counter row first (waiting for an append that holds it, the lock order of
            // `mcp_log_append`), then, in a statement of its own that sees what that append committed, the events.
            // One statement with two CTEs would share one snapshot and leave the racing append's event behind.
            """
            CREATE OR REPLACE FUNCTION mcp_log_delete(p_stream text) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM mcp_log_streams WHERE stream = p_stream;
                DELETE FROM mcp_log_events WHERE stream = p_stream;
                IF octet_length(p_stream) < 7000 THEN
                    PERFORM pg_notify('mcp', 'l ' || p_stream);
                END IF;
            END
            $$
            """,
            // Events whose stream row is gone (left by a delete of version 1 that raced an append) are swept too.
            """
            CREATE OR REPLACE FUNCTION mcp_sweep_orphans(p_batch bigint) RETURNS integer LANGUAGE plpgsql AS $$
            DECLARE
                k integer;
            BEGIN
                DELETE FROM mcp_log_events e WHERE (e.stream, e.position) IN (
                    SELECT e2.stream, e2.position FROM mcp_log_events e2
                    WHERE NOT EXISTS (SELECT 1 FROM mcp_log_streams s WHERE s.stream = e2.stream)
                    LIMIT p_batch);
                GET DIAGNOSTICS k = ROW_COUNT;
                RETURN k;
            END
            $$
            """,
        ],
    ]

    /// Brings the schema up to date on a connection of its own, which it closes: the one place a replica fails at
    /// start rather than retrying, so that a wrong URL, password or CA is reported at once.
    /// - Throws: ``PostgresBackendError`` (``PostgresBackendError/Code/connectionFailed`` or
    ///   ``PostgresBackendError/Code/migrationFailed``), with the server's or the TLS library's explanation.
    /// - Parameter waitingUpTo: how long to keep trying while the server cannot be reached (refused or timed-out
    ///   connections: a database that is still starting). A TLS failure, a refused login or a missing database
    ///   fails at once, whatever this says.
    public static func migrate(configuration: PostgresBackendConfiguration, logger: Logger, waitingUpTo patience: Duration = .zero) async throws {
        let connectionConfiguration = try configuration.connectionConfiguration()
        let deadline = ContinuousClock.now + patience
        var connection: PostgresConnection?
        while connection == nil {
            do {
                connection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 0, logger: logger)
            } catch {
                let failure = PostgresBackendError(
                    .connectionFailed,
                    message: "cannot connect to \(configuration.redactedDescription): \(PostgresBackendError.explain(error))",
                    underlyingError: error
                )
                guard PostgresBackendError.isUnreachable(error), ContinuousClock.now < deadline else { throw failure }
                logger.warning("PostgreSQL is not reachable yet; retrying", metadata: ["error": "\(failure.message)"])
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        guard let connection else { return }
        var failure: (any Error)?
        do {
            try await migrate(connection: connection, logger: logger)
        } catch {
            failure = error
        }
        try? await connection.close()
        if let error = failure as? PostgresBackendError { throw error }
        if let failure {
            throw PostgresBackendError(
                .migrationFailed,
                message: "migrating the schema failed: \(PostgresBackendError.explain(failure))",
                underlyingError: failure
            )
        }
    }

    /// Brings the schema up to date on `connection`, under the migration lock.
    public static func migrate(connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_lock(\(migrationLock))", logger: logger)
        do {
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS mcp_schema_migrations (
                    version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """,
                logger: logger
            )
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM mcp_schema_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            if let newest = applied.max(), newest > currentVersion {
                throw PostgresBackendError(
                    .migrationFailed,
                    message: "the database's schema is version \(newest), newer than this build's \(currentVersion): upgrade this replica"
                )
            }
            for (index, statements) in migrations.enumerated() where !applied.contains(index + 1) {
                let version = index + 1
                try await connection.query("BEGIN", logger: logger)
                do {
                    for statement in statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO mcp_schema_migrations (version) VALUES (\(version))", logger: logger)
                    try await connection.query("COMMIT", logger: logger)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
                logger.info("applied schema migration", metadata: ["mcp.postgres.schema_version": "\(version)"])
            }
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
    }
}
