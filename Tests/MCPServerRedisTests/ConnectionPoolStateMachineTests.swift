//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Testing

@testable import MCPServerRedis

@Suite("Connection pool state machine")
struct ConnectionPoolStateMachineTests {
    typealias Machine = ConnectionPoolStateMachine<String>

    @Test func firstLeaseCreatesAConnectionAndGetsIt() {
        var pool = Machine(maximumConnections: 2)
        #expect(pool.leaseConnection(1) == .createConnection(0))
        #expect(pool.waitingCount == 1)
        #expect(pool.connectionEstablished(0, "c0") == .lease("c0", id: 0, to: 1))
        #expect(pool.waitingCount == 0)
        #expect(pool.releaseConnection(0) == .none)
        #expect(pool.idleCount == 1)
        // An idle connection is reused without creating another.
        #expect(pool.leaseConnection(2) == .lease("c0", id: 0, to: 2))
    }

    @Test func idleLeaseTakesOnlyAnIdleConnectionAndNeverQueues() {
        var pool = Machine(maximumConnections: 2)
        // Nothing idle: nothing changes, no waiter and no connection attempt.
        #expect(pool.leaseIdleConnection() == nil)
        #expect(pool.waitingCount == 0)
        #expect(pool.connectionCount == 0)
        #expect(pool.leaseConnection(1) == .createConnection(0))
        #expect(pool.connectionEstablished(0, "c0") == .lease("c0", id: 0, to: 1))
        #expect(pool.leaseIdleConnection() == nil)  // c0 is leased
        #expect(pool.releaseConnection(0) == .none)
        let leased = pool.leaseIdleConnection()
        #expect(leased?.connection == "c0" && leased?.id == 0)
        #expect(pool.idleCount == 0)
        // It comes back like any other lease.
        #expect(pool.releaseConnection(0) == .none)
        #expect(pool.idleCount == 1)
        _ = pool.shutdown()
        #expect(pool.leaseIdleConnection() == nil)
    }

    @Test func boundedSizeQueuesRequestsInOrder() {
        var pool = Machine(maximumConnections: 2)
        #expect(pool.leaseConnection(1) == .createConnection(0))
        #expect(pool.leaseConnection(2) == .createConnection(1))
        #expect(pool.leaseConnection(3) == .none)  // at the bound: waits
        #expect(pool.leaseConnection(4) == .none)
        #expect(pool.connectionCount == 2)
        #expect(pool.connectionEstablished(1, "c1") == .lease("c1", id: 1, to: 1))
        #expect(pool.connectionEstablished(0, "c0") == .lease("c0", id: 0, to: 2))
        #expect(pool.releaseConnection(0) == .lease("c0", id: 0, to: 3))
        #expect(pool.releaseConnection(1) == .lease("c1", id: 1, to: 4))
        #expect(pool.waitingCount == 0)
    }

    @Test func idleConnectionsAreReusedLastInFirstOut() {
        var pool = Machine(maximumConnections: 2)
        _ = pool.leaseConnection(1)
        _ = pool.leaseConnection(2)
        _ = pool.connectionEstablished(0, "c0")
        _ = pool.connectionEstablished(1, "c1")
        _ = pool.releaseConnection(0)
        _ = pool.releaseConnection(1)
        #expect(pool.leaseConnection(3) == .lease("c1", id: 1, to: 3))
    }

    @Test func doesNotCreateMoreConnectionsThanWaiters() {
        var pool = Machine(maximumConnections: 4)
        #expect(pool.leaseConnection(1) == .createConnection(0))
        #expect(pool.connectionEstablished(0, "c0") == .lease("c0", id: 0, to: 1))
        #expect(pool.releaseConnection(0) == .none)
        #expect(pool.leaseConnection(2) == .lease("c0", id: 0, to: 2))
        #expect(pool.connectionCount == 1)
    }

    @Test func connectFailureFailsWaitersItCannotServe() {
        var pool = Machine(maximumConnections: 2)
        #expect(pool.leaseConnection(1) == .createConnection(0))
        #expect(pool.leaseConnection(2) == .createConnection(1))
        #expect(pool.leaseConnection(3) == .none)
        // One attempt fails: two attempts were for three waiters; the other attempt can still serve one.
        #expect(pool.connectionFailed(0) == .failRequests([1, 2], .connectionFailed))
        #expect(pool.connectionFailed(1) == .failRequests([3], .connectionFailed))
        #expect(pool.connectionCount == 0)
        #expect(pool.waitingCount == 0)
        // The next lease tries again.
        #expect(pool.leaseConnection(4) == .createConnection(2))
    }

    @Test func closedConnectionIsReplacedForWaiters() {
        var pool = Machine(maximumConnections: 1)
        _ = pool.leaseConnection(1)
        _ = pool.connectionEstablished(0, "c0")
        #expect(pool.leaseConnection(2) == .none)
        // The leased connection dies: a new one is opened for the waiter.
        #expect(pool.connectionClosed(0) == .createConnection(1))
        #expect(pool.releaseConnection(0) == .none)  // releasing a closed connection is harmless
        #expect(pool.connectionEstablished(1, "c1") == .lease("c1", id: 1, to: 2))
        // An idle connection that closes leaves the idle list.
        _ = pool.releaseConnection(1)
        #expect(pool.idleCount == 1)
        #expect(pool.connectionClosed(1) == .none)
        #expect(pool.idleCount == 0)
        #expect(pool.connectionCount == 0)
    }

    @Test func cancelledRequestLeavesTheQueue() {
        var pool = Machine(maximumConnections: 1)
        _ = pool.leaseConnection(1)
        _ = pool.leaseConnection(2)
        #expect(pool.cancelRequest(2) == .failRequests([2], .cancelled))
        #expect(pool.cancelRequest(2) == .none)
        #expect(pool.connectionEstablished(0, "c0") == .lease("c0", id: 0, to: 1))
        #expect(pool.cancelRequest(1) == .none)  // already served
        #expect(pool.releaseConnection(0) == .none)
        #expect(pool.idleCount == 1)
    }

    @Test func shutdownClosesIdleFailsWaitersAndClosesTheRestLater() {
        var pool = Machine(maximumConnections: 3)
        _ = pool.leaseConnection(1)
        _ = pool.leaseConnection(2)
        _ = pool.leaseConnection(3)
        _ = pool.connectionEstablished(0, "c0")  // leased to 1
        _ = pool.connectionEstablished(1, "c1")  // leased to 2
        _ = pool.releaseConnection(1)  // c1 -> waiter 3
        #expect(pool.releaseConnection(1) == .none)  // c1 idle now (3 got it then gave it back)
        #expect(pool.leaseConnection(4) == .lease("c1", id: 1, to: 4))
        _ = pool.releaseConnection(1)
        #expect(pool.leaseConnection(5) == .lease("c1", id: 1, to: 5))
        #expect(pool.leaseConnection(6) == .none)  // waits for connection 2 (connecting)
        _ = pool.releaseConnection(1)  // goes to waiter 6
        _ = pool.releaseConnection(1)  // idle
        #expect(pool.shutdown() == .shutdown(closing: ["c1"], failing: []))
        #expect(pool.shutdown() == .none)
        #expect(pool.releaseConnection(0) == .closeConnection("c0"))
        #expect(pool.connectionEstablished(2, "c2") == .closeConnection("c2"))
        #expect(pool.leaseConnection(7) == .failRequests([7], .shutdown))
        #expect(pool.connectionCount == 0)
    }

    @Test func shutdownFailsWaiters() {
        var pool = Machine(maximumConnections: 1)
        _ = pool.leaseConnection(1)
        _ = pool.leaseConnection(2)
        #expect(pool.shutdown() == .shutdown(closing: [], failing: [1, 2]))
        #expect(pool.connectionFailed(0) == .none)
    }

    @Test func unknownConnectionReportsAreIgnoredOrClosed() {
        var pool = Machine(maximumConnections: 1)
        #expect(pool.connectionEstablished(9, "stray") == .closeConnection("stray"))
        #expect(pool.connectionFailed(9) == .none)
        #expect(pool.connectionClosed(9) == .none)
        #expect(pool.releaseConnection(9) == .none)
    }
}
