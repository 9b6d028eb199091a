//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import MCPServer
import NIOCore
public import PostgresNIO

/// The event log on PostgreSQL: a counter row per stream in `mcp_log_streams` and its events in `mcp_log_events`.
///
/// **Positions in commit order.** ``append(stream:data:ttl:)`` is one call of `mcp_log_append`, which locks the
/// stream's counter row, takes the next position, inserts the event and notifies, all in one transaction. A second
/// appender to the same stream waits for the first to commit, so position *n + 1* never becomes visible before *n*,
/// and a reader that has seen *n* can never skip a position that commits late. Appenders to different streams do not
/// wait for each other.
///
/// **Close.** ``close(stream:ttl:)`` records the last position as the stream's end (`closed_at`) and sets the
/// retention expiry; tails end when they reach it.
///
/// **Tails.** A tail registers with the replica's ``PostgresListener``, which wakes it when the stream's notification
/// (`l <stream>`) arrives; it reads a page at a time, and also every `pollInterval` in case a notification was lost
/// while the LISTEN connection reconnected. No pooled connection is held while a tail waits.
///
/// **Expiry.** A stream whose expiry has passed reads as absent; an append to it starts again at position 1. The
/// sweeper deletes expired streams and their events.
public struct PostgresEventLog: EventLog {
    let client: PostgresClient
    let listener: PostgresListener
    let pollInterval: Duration
    let pageSize: Int
    let timeout: Duration
    let watchdog: PostgresWatchdog?

    /// Creates a log; neither `client` nor `listener` is owned: run them as services.
    /// - Parameters:
    ///   - pollInterval: how often a waiting tail reads even without a notification (default 2 s).
    ///   - pageSize: events read per query by a tail (default 128).
    ///   - timeout: how long one operation may take (default 5 s).
    ///   - watchdog: what enforces the timeout (run it as a service); without one, each operation sets a timer.
    public init(
        client: PostgresClient,
        listener: PostgresListener,
        pollInterval: Duration = .seconds(2),
        pageSize: Int = 128,
        timeout: Duration = .seconds(5),
        watchdog: PostgresWatchdog? = nil
    ) {
        precondition(pollInterval > .zero && pageSize > 0 && timeout > .zero)
        self.client = client
        self.listener = listener
        self.pollInterval = pollInterval
        self.pageSize = pageSize
        self.timeout = timeout
        self.watchdog = watchdog
    }

    public func append(stream: String, data: [UInt8], ttl: Duration) async throws -> UInt64 {
        let position = try await client.scalar(
            "SELECT mcp_log_append(\(stream), \(ByteBuffer(bytes: data)), \(max(1, ttl.wholeMilliseconds)))",
            timeout: timeout,
            watchdog: watchdog
        )
        guard let position, position > 0 else {
            throw PostgresBackendError(.unexpectedResult, message: "the event log's append returned no position")
        }
        return UInt64(position)
    }

    public func read(stream: String, after position: UInt64, limit: Int) async throws -> [LoggedEvent] {
        guard limit > 0 else { return [] }
        let after = Int64(clamping: position)
        return try await client.run(
            """
            SELECT e.position, e.data FROM mcp_log_events e JOIN mcp_log_streams s ON s.stream = e.stream
            WHERE e.stream = \(stream) AND e.position > \(after) AND s.expires_at > clock_timestamp()
            ORDER BY e.position LIMIT \(limit)
            """,
            timeout: timeout,
            watchdog: watchdog
        ) { rows in
            var events: [LoggedEvent] = []
            for try await (position, data) in rows.decode((Int64, ByteBuffer).self) {
                events.append(LoggedEvent(position: UInt64(position), data: Array(data.readableBytesView)))
            }
            return events
        }
    }

    public func tail<Result: Sendable>(
        stream: String,
        after position: UInt64,
        _ body: (AsyncThrowingStream<LoggedEvent, any Error>) async throws -> Result
    ) async throws -> Result {
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let pollInterval = self.pollInterval
        defer { wake.finish() }
        return try await listener.withTailWakeups(stream: stream, wake: { wake.yield() }) {
            try await EventLogTailCursor.withEvents(
                after: position,
                pollInterval: pollInterval,
                wakeups: wakeups,
                wake: wake,
                readPage: { try await self.page(stream, after: $0) },
                body
            )
        }
    }

    public func close(stream: String, ttl: Duration) async throws {
        try await client.run(
            """
            WITH closed AS (
                UPDATE mcp_log_streams SET closed_at = last_position,
                    expires_at = clock_timestamp() + \(max(1, ttl.wholeMilliseconds)) * interval '1 millisecond'
                WHERE stream = \(stream) AND last_position > 0 AND expires_at > clock_timestamp()
                RETURNING stream)
            SELECT pg_notify('mcp', 'l ' || stream) FROM closed WHERE octet_length(stream) < 7000
            """,
            timeout: timeout,
            watchdog: watchdog
        )
    }

    public func exists(stream: String) async throws -> Bool {
        try await client.run(
            "SELECT 1 FROM mcp_log_streams WHERE stream = \(stream) AND last_position > 0 AND expires_at > clock_timestamp()",
            timeout: timeout,
            watchdog: watchdog
        ) { rows in
            var found = false
            for try await _ in rows { found = true }
            return found
        }
    }

    public func delete(stream: String) async throws {
        try await client.run("SELECT mcp_log_delete(\(stream))", timeout: timeout, watchdog: watchdog)
    }

    public func lastPosition(stream: String) async throws -> UInt64 {
        let position = try await client.scalar(
            "SELECT last_position FROM mcp_log_streams WHERE stream = \(stream) AND expires_at > clock_timestamp()",
            timeout: timeout,
            watchdog: watchdog
        )
        return UInt64(max(0, position ?? 0))
    }

    public func trim(stream: String, keepingLast count: Int) async throws {
        try await client.run(
            """
            DELETE FROM mcp_log_events WHERE stream = \(stream)
            AND position <= (SELECT last_position FROM mcp_log_streams WHERE stream = \(stream)) - \(max(0, count))
            """,
            timeout: timeout,
            watchdog: watchdog
        )
    }

    // MARK: Reading

    /// One page for a tail: events after `position` up to the stream's end if it is closed there, and whether the
    /// tail is over (the end reached, or the stream gone or expired).
    func page(_ stream: String, after position: UInt64) async throws -> (events: [LoggedEvent], finished: Bool) {
        let after = Int64(clamping: position)
        let (events, found, live, closedAt) = try await client.run(
            """
            SELECT s.closed_at, s.expires_at > clock_timestamp(), e.position, e.data
            FROM mcp_log_streams s
            LEFT JOIN LATERAL (
                SELECT position, data FROM mcp_log_events
                WHERE stream = s.stream AND position > \(after)
                  AND (s.closed_at IS NULL OR s.closed_at < \(after) OR position <= s.closed_at)
                ORDER BY position LIMIT \(pageSize)
            ) e ON true
            WHERE s.stream = \(stream)
            """,
            timeout: timeout,
            watchdog: watchdog
        ) { rows in
            var events: [LoggedEvent] = []
            var found = false
            var live = false
            var closedAt: Int64?
            for try await (closed, isLive, eventPosition, data) in rows.decode((Int64?, Bool, Int64?, ByteBuffer?).self) {
                found = true
                live = isLive
                closedAt = closed
                if let eventPosition, let data {
                    events.append(LoggedEvent(position: UInt64(eventPosition), data: Array(data.readableBytesView)))
                }
            }
            return (events, found, live, closedAt)
        }
        guard found, live else { return (events, true) }
        let reached = Int64(clamping: events.last?.position ?? position)
        if let closedAt, closedAt >= after, reached >= closedAt { return (events, true) }
        return (events, false)
    }
}
