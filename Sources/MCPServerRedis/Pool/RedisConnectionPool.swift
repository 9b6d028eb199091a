//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import NIOCore
import Synchronization

/// A bounded pool of command connections, driven by ``ConnectionPoolStateMachine``.
///
/// Connections are opened by child tasks of ``run()``, so nothing outlives the client's structured root.
final class RedisConnectionPool: Sendable {
    typealias StateMachine = ConnectionPoolStateMachine<RedisConnection>

    private struct State {
        var machine: StateMachine
        var continuations: [StateMachine.RequestID: CheckedContinuation<(RedisConnection, StateMachine.ConnectionID), any Error>] = [:]
        var nextRequestID = 0
        var lastConnectError: (any Error)?
    }

    private let state: Mutex<State>
    private let configuration: RedisClientConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let jobs: AsyncStream<StateMachine.ConnectionID>
    private let jobsContinuation: AsyncStream<StateMachine.ConnectionID>.Continuation
    private let nextConnectionNumber = Atomic<Int>(0)

    init(configuration: RedisClientConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.state = Mutex(State(machine: StateMachine(maximumConnections: configuration.pool.maximumConnections)))
        (jobs, jobsContinuation) = AsyncStream.makeStream()
    }

    /// Opens connections on demand until cancelled, then shuts the pool down.
    func run() async {
        await withDiscardingTaskGroup { group in
            for await id in jobs {
                group.addTask { await self.connect(id) }
            }
            group.cancelAll()
        }
        shutdown()
    }

    /// Closes idle connections and fails waiters; leased connections close when released.
    func shutdown() {
        jobsContinuation.finish()
        let action = state.withLock { $0.machine.shutdown() }
        perform(action)
    }

    /// Runs `body` with a connection leased from the pool and returns it afterwards.
    func withConnection<Result>(_ body: (RedisConnection) async throws -> Result) async throws -> Result {
        var (connection, id) = try await lease()
        // An idle connection the server closed may be handed out before its close is reported: skip it.
        var attempts = 0
        while !connection.isActive, attempts < configuration.pool.maximumConnections {
            release(connection, id: id)
            (connection, id) = try await lease()
            attempts += 1
        }
        defer { release(connection, id: id) }
        return try await body(connection)
    }

    private func lease() async throws -> (RedisConnection, StateMachine.ConnectionID) {
        // The common case, an idle connection, needs no timer and no suspension.
        if let (connection, id) = state.withLock({ $0.machine.leaseIdleConnection() }) {
            if Task.isCancelled {
                release(connection, id: id)
                throw RedisClientError(.cancelled, message: "the task waiting for a connection was cancelled")
            }
            return (connection, id)
        }
        let request = state.withLock { s in
            s.nextRequestID += 1
            return s.nextRequestID
        }
        let timeout = configuration.timeouts.lease
        let timer = eventLoopGroup.any().scheduleTask(in: TimeAmount(timeout)) { [self] in
            let lastError = state.withLock { $0.lastConnectError }
            let error = RedisClientError(
                .timeout,
                message: "no Redis connection available within \(timeout) (is the client running and Redis reachable?)",
                underlyingError: lastError
            )
            self.cancel(request, error: error)
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let action = state.withLock { s -> StateMachine.Action? in
                    // A cancellation that ran before this point found no waiter to fail; catch it here.
                    if Task.isCancelled { return nil }
                    s.continuations[request] = continuation
                    return s.machine.leaseConnection(request)
                }
                guard let action else {
                    continuation.resume(throwing: RedisClientError(.cancelled, message: "the task waiting for a connection was cancelled"))
                    return
                }
                perform(action)
            }
        } onCancel: {
            self.cancel(request, error: RedisClientError(.cancelled, message: "the task waiting for a connection was cancelled"))
        }
    }

    private func release(_ connection: RedisConnection, id: StateMachine.ConnectionID) {
        let action = state.withLock { s in
            connection.isActive ? s.machine.releaseConnection(id) : s.machine.connectionClosed(id)
        }
        perform(action)
    }

    private func cancel(_ request: StateMachine.RequestID, error: RedisClientError) {
        let continuation = state.withLock { s -> CheckedContinuation<(RedisConnection, StateMachine.ConnectionID), any Error>? in
            guard case .failRequests = s.machine.cancelRequest(request) else { return nil }
            return s.continuations.removeValue(forKey: request)
        }
        continuation?.resume(throwing: error)
    }

    private func connect(_ id: StateMachine.ConnectionID) async {
        let number = nextConnectionNumber.wrappingAdd(1, ordering: .relaxed).newValue
        do {
            let connection = try await RedisConnection.connect(
                id: number,
                configuration: configuration,
                eventLoop: eventLoopGroup.any(),
                logger: logger
            )
            connection.closeFuture.whenComplete { _ in
                let action = self.state.withLock { $0.machine.connectionClosed(id) }
                self.perform(action)
            }
            let action = state.withLock { $0.machine.connectionEstablished(id, connection) }
            perform(action)
        } catch {
            logger.debug("Redis pool connection failed", metadata: ["redis.error": "\(error)"])
            let action = state.withLock { s in
                s.lastConnectError = error
                return s.machine.connectionFailed(id)
            }
            perform(action, error: error)
        }
    }

    /// Carries out an action outside the lock.
    private func perform(_ action: StateMachine.Action, error: (any Error)? = nil) {
        switch action {
        case .none:
            break
        case .lease(let connection, let id, let request):
            let continuation = state.withLock { $0.continuations.removeValue(forKey: request) }
            if let continuation {
                continuation.resume(returning: (connection, id))
            } else {
                // The request gave up in the meantime: give the connection back.
                release(connection, id: id)
            }
        case .createConnection(let id):
            if case .terminated = jobsContinuation.yield(id) {
                let next = state.withLock { $0.machine.connectionFailed(id) }
                perform(next, error: RedisClientError(.poolShutdown, message: "the Redis client is shutting down"))
            }
        case .closeConnection(let connection):
            connection.channel.close(promise: nil)
        case .failRequests(let requests, let failure):
            let continuations = state.withLock { s in requests.compactMap { s.continuations.removeValue(forKey: $0) } }
            let failureError: RedisClientError
            switch failure {
            case .shutdown:
                failureError = RedisClientError(.poolShutdown, message: "the Redis client is shutting down")
            case .connectionFailed:
                failureError =
                    (error as? RedisClientError) ?? RedisClientError(.connectionFailed, message: "cannot connect to Redis", underlyingError: error)
            case .cancelled:
                failureError = RedisClientError(.cancelled, message: "the request for a connection was cancelled")
            }
            for continuation in continuations { continuation.resume(throwing: failureError) }
        case .shutdown(let closing, let failing):
            for connection in closing { connection.channel.close(promise: nil) }
            perform(.failRequests(failing, .shutdown))
        }
    }
}
