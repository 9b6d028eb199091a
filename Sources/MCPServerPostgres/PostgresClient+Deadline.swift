//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPServer
import NIOCore
import PostgresNIO
public import ServiceLifecycle
import Synchronization

extension PostgresClient {
    /// Runs `query` and hands its rows to `read`, all within `timeout`: a pool that cannot connect (the server is
    /// down) queues requests until its circuit breaker trips, far later than a request can wait, so every backend
    /// operation carries its own deadline, like the Redis client's command timeout. On the deadline the lease or
    /// the read is cancelled and ``PostgresBackendError/Code/timeout`` is thrown.
    func run<Result: Sendable>(
        _ query: PostgresQuery,
        timeout: Duration,
        watchdog: PostgresWatchdog? = nil,
        _ read: @escaping @Sendable (PostgresRowSequence) async throws -> Result
    ) async throws -> Result {
        try await withDeadline(timeout, watchdog: watchdog) { try await read(try await self.query(query)) }
    }

    /// Runs a prepared statement (prepared once per connection) within `timeout` and returns its rows.
    func run<Statement: PostgresPreparedStatement>(
        _ statement: Statement,
        timeout: Duration,
        watchdog: PostgresWatchdog? = nil
    ) async throws -> [Statement.Row] where Statement.Row: Sendable {
        try await withDeadline(timeout, watchdog: watchdog) {
            var rows: [Statement.Row] = []
            for try await row in try await self.execute(statement) { rows.append(row) }
            return rows
        }
    }

    /// Runs `query` within `timeout` and returns the first column of its first row as an integer, `nil` for no row.
    func scalar(_ query: PostgresQuery, timeout: Duration, watchdog: PostgresWatchdog? = nil) async throws -> Int64? {
        try await run(query, timeout: timeout, watchdog: watchdog) { rows in
            var first: Int64?
            for try await value in rows.decode(Int64.self) where first == nil { first = value }
            return first
        }
    }

    /// Runs `query` within `timeout`, discarding its rows.
    func run(_ query: PostgresQuery, timeout: Duration, watchdog: PostgresWatchdog? = nil) async throws {
        try await run(query, timeout: timeout, watchdog: watchdog) { rows in
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
func withDeadline<Result: Sendable>(
    _ timeout: Duration,
    watchdog: PostgresWatchdog? = nil,
    _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
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
            let expire: @Sendable () -> Void = {
                if race.finish(.failure(PostgresBackendError(.timeout, message: "PostgreSQL did not answer within \(timeout)"))) {
                    work.cancel()
                }
            }
            let timer: DeadlineTimer
            if let watchdog, let id = watchdog.add(deadline: .now + timeout, expire) {
                // A coarse timer checked by the watchdog's loop: no event loop is woken per operation.
                timer = .watchdog(watchdog, id)
            } else {
                timer = .scheduled(scheduleExpiry(in: timeout, expire))
            }
            race.arm(work: work, timer: timer)
        }
    } onCancel: {
        race.cancel()
    }
}

/// A timer on an event loop (which it wakes to schedule, and again to cancel).
private func scheduleExpiry(in timeout: Duration, _ expire: @escaping @Sendable () -> Void) -> Scheduled<Void> {
    PostgresClient.defaultEventLoopGroup.any().scheduleTask(in: .nanoseconds(max(1, timeout.wholeMilliseconds) * 1_000_000), expire)
}

/// What ends a ``withDeadline(_:watchdog:_:)`` that takes too long.
enum DeadlineTimer: Sendable {
    case scheduled(Scheduled<Void>)
    case watchdog(PostgresWatchdog, Int)

    func cancel() {
        switch self {
        case .scheduled(let scheduled): scheduled.cancel()
        case .watchdog(let watchdog, let id): watchdog.remove(id)
        }
    }
}

/// Expires the backend operations of one set of backends that outlive their deadlines, checked every `resolution`
/// (100 ms): cheaper than a timer per operation, each of which would wake an event loop twice (to schedule it, and
/// to cancel it). A service of ``Backends/postgres(configuration:keyRing:logger:)``; operations of stores made
/// without one use a timer each.
public final class PostgresWatchdog: Service, Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var expire: @Sendable () -> Void
    }

    private let entries = Mutex<(next: Int, all: [Int: Entry], stopped: Bool)>((0, [:], false))
    private let resolution: Duration

    /// Creates a watchdog that checks every `resolution`.
    public init(resolution: Duration = .milliseconds(100)) {
        precondition(resolution > .zero)
        self.resolution = resolution
    }

    /// Watches a deadline; `nil` once the watchdog has stopped (the caller then uses a timer of its own).
    func add(deadline: ContinuousClock.Instant, _ expire: @escaping @Sendable () -> Void) -> Int? {
        entries.withLock { e in
            guard !e.stopped else { return nil }
            let id = e.next
            e.next &+= 1
            e.all[id] = Entry(deadline: deadline, expire: expire)
            return id
        }
    }

    func remove(_ id: Int) {
        _ = entries.withLock { $0.all.removeValue(forKey: id) }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.resolution)
                self.expire(before: .now)
            }
        }
        // Stopped (the backends shut down after the server has drained): what is still watched gets a timer each.
        let left = entries.withLock { e -> [Entry] in
            e.stopped = true
            defer { e.all = [:] }
            return Array(e.all.values)
        }
        let now = ContinuousClock.now
        for entry in left { _ = scheduleExpiry(in: max(.zero, entry.deadline - now), entry.expire) }
    }

    private func expire(before now: ContinuousClock.Instant) {
        let due = entries.withLock { e -> [Entry] in
            let due = e.all.filter { $0.value.deadline <= now }
            for id in due.keys { e.all[id] = nil }
            return Array(due.values)
        }
        for entry in due { entry.expire() }
    }
}

/// The state of one ``withDeadline(_:_:)``: whichever of the work, the timer and cancellation comes first resumes
/// the caller, once.
/// What ``DeadlineRace/arm(work:timer:)`` does with the work and its timer.
private enum ArmAction { case keep, stop, cancel }

private final class DeadlineRace<Result: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result, any Error>?
        var work: Task<Void, Never>?
        var timer: DeadlineTimer?
        var cancelled = false
        var done = false
    }

    private let state = Mutex(State())

    func begin(_ continuation: CheckedContinuation<Result, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Records the work and its timer while the race is undecided; if it was decided already (the work finished, or
    /// the caller was cancelled, before they existed), stops them instead of keeping them.
    func arm(work: Task<Void, Never>, timer: DeadlineTimer) {
        let action = state.withLock { s -> ArmAction in
            if s.done { return .stop }
            if s.cancelled { return .cancel }
            s.work = work
            s.timer = timer
            return .keep
        }
        switch action {
        case .keep:
            break
        case .stop:
            timer.cancel()
        case .cancel:
            timer.cancel()
            work.cancel()
            finish(.failure(CancellationError()))
        }
    }

    /// Resumes the caller with `outcome` if nothing did yet; returns whether this call did.
    @discardableResult
    func finish(_ outcome: Swift.Result<Result, any Error>) -> Bool {
        let (continuation, timer) = state.withLock { s -> (CheckedContinuation<Result, any Error>?, DeadlineTimer?) in
            guard !s.done, let continuation = s.continuation else { return (nil, nil) }
            s.done = true
            s.continuation = nil
            // Dropped here: the work's task holds this race, and a race that held the task would keep both alive.
            defer {
                s.work = nil
                s.timer = nil
            }
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
