//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// The decisions of a bounded connection pool, as a plain value with no I/O, so every transition can be tested.
///
/// The pool feeds it events (a lease request, a connection established, failed, released or closed, a request
/// cancelled, shutdown) and carries out the ``Action`` each returns. Idle connections are reused last-in,
/// first-out; waiting requests are served first-in, first-out; at most `maximumConnections` connections exist or
/// are being created at once.
package struct ConnectionPoolStateMachine<Connection> {
    package typealias ConnectionID = Int
    package typealias RequestID = Int

    /// Why requests fail.
    package enum Failure: Sendable, Hashable {
        /// The pool is shutting down.
        case shutdown
        /// A connection attempt they were waiting for failed.
        case connectionFailed
        /// The request was cancelled or timed out (the caller knows which).
        case cancelled
    }

    /// What the pool must do after an event.
    package enum Action {
        /// Nothing.
        case none
        /// Hand `connection` (`id`) to `request`.
        case lease(Connection, id: ConnectionID, to: RequestID)
        /// Open a new connection with this id and report the outcome.
        case createConnection(ConnectionID)
        /// Close this connection; it no longer belongs to the pool.
        case closeConnection(Connection)
        /// Fail these requests.
        case failRequests([RequestID], Failure)
        /// Close these connections and fail these requests: the pool is shutting down.
        case shutdown(closing: [Connection], failing: [RequestID])
    }

    private enum Slot {
        case connecting
        case idle(Connection)
        case leased(Connection)
    }

    /// The bound on open plus opening connections.
    package let maximumConnections: Int
    private var slots: [ConnectionID: Slot] = [:]
    /// Idle connection ids; the last is reused first.
    private var idle: [ConnectionID] = []
    /// Waiting requests, oldest first.
    private var waiters: [RequestID] = []
    private var nextConnectionID: ConnectionID = 0
    /// Whether ``shutdown()`` was called.
    package private(set) var isShutdown = false

    /// Creates a pool with no connections.
    package init(maximumConnections: Int) {
        precondition(maximumConnections > 0)
        self.maximumConnections = maximumConnections
    }

    /// Open and opening connections.
    package var connectionCount: Int { slots.count }
    /// Idle connections.
    package var idleCount: Int { idle.count }
    /// Requests waiting for a connection.
    package var waitingCount: Int { waiters.count }
    private var connectingCount: Int {
        slots.values.reduce(0) { n, slot in
            if case .connecting = slot { return n + 1 }
            return n
        }
    }

    /// A request wants a connection.
    package mutating func leaseConnection(_ request: RequestID) -> Action {
        if isShutdown { return .failRequests([request], .shutdown) }
        if let (connection, id) = leaseIdleConnection() { return .lease(connection, id: id, to: request) }
        waiters.append(request)
        return createConnectionIfNeeded()
    }

    /// Leases an idle connection at once if there is one; otherwise changes nothing (the caller then waits through
    /// ``leaseConnection(_:)``).
    package mutating func leaseIdleConnection() -> (connection: Connection, id: ConnectionID)? {
        guard !isShutdown, let id = idle.popLast(), case .idle(let connection) = slots[id] else { return nil }
        slots[id] = .leased(connection)
        return (connection, id)
    }

    /// A connection attempt succeeded.
    package mutating func connectionEstablished(_ id: ConnectionID, _ connection: Connection) -> Action {
        guard case .connecting = slots[id] else { return .closeConnection(connection) }
        if isShutdown {
            slots[id] = nil
            return .closeConnection(connection)
        }
        return makeAvailable(id, connection)
    }

    /// A connection attempt failed: waiters that no other attempt in progress can serve fail now, so a
    /// down server gives fast, clear errors instead of waits.
    package mutating func connectionFailed(_ id: ConnectionID) -> Action {
        guard case .connecting = slots[id] else { return .none }
        slots[id] = nil
        let excess = waiters.count - connectingCount
        guard excess > 0 else { return .none }
        let failing = Array(waiters.prefix(excess))
        waiters.removeFirst(excess)
        return .failRequests(failing, .connectionFailed)
    }

    /// A leased connection comes back. Call ``connectionClosed(_:)`` instead if it is no longer usable.
    package mutating func releaseConnection(_ id: ConnectionID) -> Action {
        guard case .leased(let connection) = slots[id] else { return .none }
        if isShutdown {
            slots[id] = nil
            return .closeConnection(connection)
        }
        return makeAvailable(id, connection)
    }

    /// A connection closed (idle or leased); a replacement is opened if requests are waiting.
    package mutating func connectionClosed(_ id: ConnectionID) -> Action {
        switch slots[id] {
        case .idle:
            idle.removeAll { $0 == id }
            slots[id] = nil
        case .leased:
            slots[id] = nil
        case .connecting, nil:
            // A connecting slot reports through connectionEstablished or connectionFailed.
            return .none
        }
        return isShutdown ? .none : createConnectionIfNeeded()
    }

    /// A waiting request gave up (timeout or task cancellation). Returns `.none` if it was already served.
    package mutating func cancelRequest(_ request: RequestID) -> Action {
        guard let index = waiters.firstIndex(of: request) else { return .none }
        waiters.remove(at: index)
        return .failRequests([request], .cancelled)
    }

    /// Stop: idle connections close now, leased ones when released, opening ones when established; waiters fail.
    package mutating func shutdown() -> Action {
        guard !isShutdown else { return .none }
        isShutdown = true
        var closing: [Connection] = []
        for id in idle {
            if case .idle(let connection) = slots[id] { closing.append(connection) }
            slots[id] = nil
        }
        idle = []
        let failing = waiters
        waiters = []
        return .shutdown(closing: closing, failing: failing)
    }

    private mutating func makeAvailable(_ id: ConnectionID, _ connection: Connection) -> Action {
        if !waiters.isEmpty {
            let request = waiters.removeFirst()
            slots[id] = .leased(connection)
            return .lease(connection, id: id, to: request)
        }
        slots[id] = .idle(connection)
        idle.append(id)
        return .none
    }

    private mutating func createConnectionIfNeeded() -> Action {
        guard waiters.count > connectingCount, slots.count < maximumConnections else { return .none }
        let id = nextConnectionID
        nextConnectionID += 1
        slots[id] = .connecting
        return .createConnection(id)
    }
}

extension ConnectionPoolStateMachine.Action: Equatable where Connection: Equatable {}
