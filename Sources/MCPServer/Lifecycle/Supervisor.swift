//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ServiceLifecycle
import Synchronization

/// What runs on this replica, and its drain: the jobs the server owns (session handlers that outlive their HTTP
/// request), the handlers to call when draining begins (open listen streams, waiters), and the counters.
///
/// It is the only state of the runtime that is tied to this process: everything else lives in the backends.
package final class Supervisor: Sendable {
    struct DrainState {
        /// Shutdown has been asked for: readiness fails and connections are closed after each response.
        var shuttingDown = false
        var draining = false
        var nextID = 0
        /// What to do when draining begins: resume a waiter, end a listen stream.
        var handlers: [Int: @Sendable () -> Void] = [:]
    }

    struct JobState {
        var running = false
        var nextID: UInt64 = 0
        /// Handles of running jobs, to cancel them at the drain deadline (a job that finished while starting is
        /// never recorded).
        var tasks: [UInt64: Task<Void, Never>] = [:]
        /// Jobs started and not yet finished.
        var active = 0
    }

    private let drainState = Mutex(DrainState())
    let jobState = Mutex(JobState())
    /// The counters of ``MCPServer/statistics``.
    let statistics = Mutex(MCPServer.Statistics())

    init() {}

    // MARK: Jobs

    /// Marks the supervisor as running (or not): only a running supervisor accepts jobs.
    func setRunning(_ running: Bool) {
        jobState.withLock { $0.running = running }
    }

    /// Whether this replica has stopped serving its jobs: not running, or its drain is over. Its own streams are then
    /// like any dead replica's.
    var isStopped: Bool { jobState.withLock { !$0.running } }

    /// How many jobs have started and not finished.
    var activeJobs: Int { jobState.withLock { $0.active } }

    /// Starts `job` at once, on the calling thread until its first suspension (`Task.immediate`), as work this replica
    /// owns: it outlives the request that started it, the drain waits for it, and the drain deadline cancels it. A
    /// job that finishes without suspending costs no thread hop.
    /// - Parameter whileDraining: start it even while draining (the drain deadline still cancels it), for work a
    ///   client cannot be told to retry elsewhere.
    /// - Returns: `false` if the server is not running or (unless `whileDraining`) is draining; the caller then
    ///   runs the work itself, or refuses it.
    func start(whileDraining: Bool = false, _ job: @escaping @Sendable () async -> Void) -> Bool {
        let id = jobState.withLock { s -> UInt64? in
            guard s.running, whileDraining || !self.isDraining else { return nil }
            s.nextID += 1
            s.active += 1
            return s.nextID
        }
        guard let id else { return false }
        let finished = HandlerFinished()
        let task = Task.immediate {
            await job()
            // The flag goes up before the lock: a start that takes the lock later sees it and records nothing.
            finished.flag.store(true, ordering: .releasing)
            self.jobState.withLock { s in
                s.active -= 1
                s.tasks.removeValue(forKey: id)
            }
        }
        if !finished.flag.load(ordering: .acquiring) {
            jobState.withLock { s in
                if !finished.flag.load(ordering: .acquiring) { s.tasks[id] = task }
            }
        }
        return true
    }

    /// Holds the drain open, as a job does, for something that is not a task of its own (an HTTP+SSE stream that
    /// waits, while draining, for its session's requests to answer); ``release()`` ends the hold.
    /// - Returns: `false` if the server is not running, or is draining.
    func hold() -> Bool {
        jobState.withLock { s in
            guard s.running, !self.isDraining else { return false }
            s.active += 1
            return true
        }
    }

    /// Ends a hold that ``hold()`` took.
    func release() {
        jobState.withLock { $0.active -= 1 }
    }

    /// Cancels every job.
    func cancelJobs() {
        for task in jobState.withLock({ Array($0.tasks.values) }) { task.cancel() }
    }

    /// Waits until every job has ended.
    func awaitJobs() async {
        for task in jobState.withLock({ Array($0.tasks.values) }) { await task.value }
    }

    /// Waits until every job has ended, or `limit` has passed.
    func awaitJobs(atMost limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while activeJobs > 0, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: Drain

    /// Whether draining has begun.
    var isDraining: Bool { drainState.withLock { $0.draining } }

    /// Whether shutdown has been asked for (the drain delay, or the drain itself): the replica is not ready, and
    /// transports close each connection after its response.
    var isShuttingDown: Bool { drainState.withLock { $0.shuttingDown || $0.draining } }

    /// Marks the start of shutdown: before the drain, the replica stops being ready and sheds its connections.
    func beginShutdown() {
        drainState.withLock { $0.shuttingDown = true }
    }

    /// Begins draining: every registered handler runs once, and later ones run at once.
    func beginDraining() {
        let handlers = drainState.withLock { s -> [@Sendable () -> Void] in
            s.draining = true
            let h = Array(s.handlers.values)
            s.handlers = [:]
            return h
        }
        for handler in handlers { handler() }
    }

    /// Registers `handler` to run once when draining begins, or runs it at once if it has.
    /// - Returns: the id for ``removeDrainHandler(_:)``, or `nil` when it already ran.
    func onDrain(_ handler: @escaping @Sendable () -> Void) -> Int? {
        let id = drainState.withLock { s -> Int? in
            guard !s.draining else { return nil }
            s.nextID += 1
            s.handlers[s.nextID] = handler
            return s.nextID
        }
        if id == nil { handler() }
        return id
    }

    /// Removes a handler that ``onDrain(_:)`` registered, if it has not run.
    /// - Returns: the handler, when it was still registered.
    @discardableResult
    func removeDrainHandler(_ id: Int?) -> (@Sendable () -> Void)? {
        guard let id else { return nil }
        return drainState.withLock { $0.handlers.removeValue(forKey: id) }
    }

    /// Returns when draining begins, or when the calling task is cancelled. Graceful shutdown of the calling task's
    /// service begins draining too: a stream whose request runs under the HTTP server's service ends if that service
    /// shuts down (it does so after the MCP server's drain, in the demo's service group).
    func waitForDrain() async {
        await withGracefulShutdownHandler {
            await self.waitForDrainSignal()
        } onGracefulShutdown: {
            self.beginDraining()
        }
    }

    /// Returns when draining begins, or when the calling task is cancelled; graceful shutdown does not end it.
    func waitForDrainSignal() async {
        let id = Mutex<Int?>(nil)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                // Checked under the lock that the cancellation handler takes, so a cancel is never missed.
                let cancelled = id.withLock { id -> Bool in
                    guard !Task.isCancelled else { return true }
                    id = onDrain { c.resume() }
                    return false
                }
                if cancelled { c.resume() }
            }
        } onCancel: {
            // Once registered, the handler runs exactly once: here, or when draining begins.
            id.withLock { removeDrainHandler($0) }?()
        }
    }

    /// Waits for the jobs until none is left or `deadline` passes; then cancels what is left.
    /// - Returns: whether the deadline cut jobs short.
    func drainJobs(until deadline: ContinuousClock.Instant) async -> Bool {
        while activeJobs > 0 {
            if ContinuousClock.now >= deadline || Task.isCancelled {
                cancelJobs()
                return true
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}

/// Set by a handler's task when it ends.
final class HandlerFinished: Sendable {
    let flag = Atomic(false)
}
