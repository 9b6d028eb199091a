//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServer
import NIOCore
import PostgresNIO
import Synchronization

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
///
/// The work runs in a task of its own rather than a child task, so that the deadline answers the caller even when
/// the work ignores cancellation: postgres-nio (1.33) loses a query written to a pooled connection that closed after
/// it was leased (the server died while it sat idle in the pool), and that query's promise never completes. A task
/// group would wait for it forever. The task is cancelled at the deadline; if it still never ends, only that task
/// is lost, not the request.
func withDeadline<Result: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
    let race = DeadlineRace<Result>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
            race.begin(continuation)
            let work = Task {
                do {
                    race.finish(.success(try await body()))
                } catch {
                    race.finish(.failure(error))
                }
            }
            let timer = PostgresClient.defaultEventLoopGroup.any().scheduleTask(in: .nanoseconds(Int64(timeout.wholeMilliseconds) * 1_000_000)) {
                if race.finish(.failure(PostgresBackendError(.timeout, message: "PostgreSQL did not answer within \(timeout)"))) {
                    work.cancel()
                }
            }
            race.arm(work: work, timer: timer)
        }
    } onCancel: {
        race.cancel()
    }
}

/// The state of one ``withDeadline(_:_:)``: whichever of the work, the timer and cancellation comes first resumes
/// the caller, once.
private final class DeadlineRace<Result: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result, any Error>?
        var work: Task<Void, Never>?
        var timer: Scheduled<Void>?
        var cancelled = false
        var done = false
    }

    private let state = Mutex(State())

    func begin(_ continuation: CheckedContinuation<Result, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Records the work and its timer; if the race was already decided (cancelled before they existed), stops them.
    func arm(work: Task<Void, Never>, timer: Scheduled<Void>) {
        let (decided, cancelled) = state.withLock { s -> (Bool, Bool) in
            s.work = work
            s.timer = timer
            return (s.done, s.cancelled)
        }
        if decided { timer.cancel() }
        if cancelled {
            work.cancel()
            finish(.failure(CancellationError()))
        }
    }

    /// Resumes the caller with `outcome` if nothing did yet; returns whether this call did.
    @discardableResult
    func finish(_ outcome: Swift.Result<Result, any Error>) -> Bool {
        let (continuation, timer) = state.withLock { s -> (CheckedContinuation<Result, any Error>?, Scheduled<Void>?) in
            guard !s.done, let continuation = s.continuation else { return (nil, nil) }
            s.done = true
            s.continuation = nil
            return (continuation, s.timer)
        }
        guard let continuation else { return false }
        timer?.cancel()
        continuation.resume(with: outcome)
        return true
    }

    func cancel() {
        let work = state.withLock { s -> Task<Void, Never>? in
            s.cancelled = true
            return s.work
        }
        guard let work else { return }
        work.cancel()
        finish(.failure(CancellationError()))
    }
}
