//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import PostgresNIO

extension PostgresClient {
    /// Runs `query` and hands its rows to `read`, all within `timeout`: a pool that cannot connect (the server is
    /// down) queues requests until its circuit breaker trips, far later than a request can wait, so every backend
    /// operation carries its own deadline, like the Redis client's command timeout. On the deadline the lease or
    /// the read is cancelled and ``PostgresBackendError/Code/timeout`` is thrown.
    func run<Result: Sendable>(
        _ query: PostgresQuery,
        timeout: Duration,
        _ read: @escaping @Sendable (PostgresRowSequence) async throws -> Result
    ) async throws -> Result {
        try await withDeadline(timeout) { try await read(try await self.query(query)) }
    }

    /// Runs `query` within `timeout`, discarding its rows.
    func run(_ query: PostgresQuery, timeout: Duration) async throws {
        try await run(query, timeout: timeout) { rows in
            for try await _ in rows {}
        }
    }
}

/// Runs `body`, or throws ``PostgresBackendError/Code/timeout`` (cancelling it) after `timeout`.
func withDeadline<Result: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            throw PostgresBackendError(.timeout, message: "PostgreSQL did not answer within \(timeout)")
        }
        return result
    }
}
