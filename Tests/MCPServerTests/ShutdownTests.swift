//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPDemo
import ServiceLifecycleTestKit
import Synchronization
import Testing

@testable import MCPServer

/// Graceful shutdown in order: not ready at once, a drain delay, the drain, the deadline with `-32010`, the lease
/// released; and a killed replica's lease that expires by itself.
@Suite("Shutdown and leases", .timeLimit(.minutes(1)))
struct ShutdownTests {
    static func server(_ backends: Backends, id: String = "a", drainDelay: Duration = .zero, drainTimeout: Duration = .seconds(5)) -> MCPServer {
        let server = MCPServer(
            configuration: MCPServerConfiguration(
                name: "t", version: "1", replicaID: id, drainTimeout: drainTimeout, drainDelay: drainDelay, replicaLease: .milliseconds(600)
            ),
            backends: backends
        )
        DemoServer.register(on: server)
        return server
    }

    @Test func shutdownIsNotReadyAtOnceThenDrainsAfterTheDelay() async throws {
        let backends = Backends.inMemory()
        let server = Self.server(backends, drainDelay: .milliseconds(400))
        let clock = ContinuousClock()
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                try await eventually { try await backends.sessionStore.get(ClusterWire.Key.replicaLease("a")) != nil }
                #expect(await server.readiness() == .ready)
                let triggered = clock.now
                trigger.triggerGracefulShutdown()
                try await eventually { server.isShuttingDown }
                // Not ready at once; still serving, not draining, until the delay has passed.
                #expect(await server.readiness() == .draining)
                #expect(!server.isDraining)
                try await eventually { server.isDraining }
                #expect(clock.now - triggered >= .milliseconds(350))
                try await group.waitForAll()
            }
        }
        // The lease went with the replica.
        #expect(try await backends.sessionStore.get(ClusterWire.Key.replicaLease("a")) == nil)
    }

    @Test func aHandlerPastTheDrainDeadlineEndsWithReplicaStopped() async throws {
        let backends = Backends.inMemory()
        let server = Self.server(backends, drainTimeout: .milliseconds(300))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                try await eventually { server.supervisor.start({}) }
                let (sessionID, _) = await server.initializeSession(
                    IncomingRequest(id: .int(0), method: "initialize", params: ["protocolVersion": "2025-11-25", "capabilities": [:]])
                )
                let session = try #require(sessionID)
                // A long countdown streams: its events go to the log, and the reply tails it.
                let call: JSONValue = [
                    "jsonrpc": "2.0", "id": 5, "method": "tools/call",
                    "params": ["name": "countdown", "arguments": ["steps": 1000, "intervalMs": 50], "_meta": ["progressToken": "p"]],
                ]
                let reply = try await server.respond(
                    to: TransportRequest(
                        action: .post(call), principal: .anonymous, sessionID: session,
                        metadata: RequestMetadataHeaders(protocolVersion: "2025-11-25"), pacing: StreamPacing(streamingThreshold: .milliseconds(10))
                    )
                )
                guard case .stream(let stream) = reply else { Issue.record("expected a stream, got \(reply)"); return }
                trigger.triggerGracefulShutdown()
                // The drain closes the stream (the client would resume elsewhere); the handler runs on until the
                // deadline, and its answer is then -32010 in the log.
                try await stream.withEvents { for await _ in stream.events {} }
                try await group.waitForAll()
                let key = try #require(try await Self.requestStreamKey(session: session, in: backends))
                let log = try await backends.eventLog.read(stream: ClusterWire.Stream.events(session: session, stream: key), after: 0, limit: 10_000)
                let final = try #require(try log.last.map { try JSONParser().parse($0.data) })
                #expect(final["id"] == 5)
                #expect(final["error"]?["code"] == -32010)
                #expect(final["error"]?["data"] == ["reason": "drain_deadline", "replica": "a"])
            }
        }
    }

    @Test func aDeadReplicasLeaseExpiresWithinOnePeriodAndAStoppedOnesAtOnce() async throws {
        let backends = Backends.inMemory()
        let server = Self.server(backends, id: "k")
        let clock = ContinuousClock()
        // A beat of the heartbeat, then the replica dies: nothing renews its lease, and nothing removes it.
        try await server.leases.renew()
        #expect(try await server.leases.holdsLease("k"))
        let died = clock.now
        try await eventually { try await !server.leases.holdsLease("k") }
        #expect(clock.now - died <= .milliseconds(900))

        // A replica whose run() ends (cancelled, or after its drain) releases its lease at once.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            try await eventually { try await server.leases.holdsLease("k") }
            group.cancelAll()
        }
        #expect(try await !server.leases.holdsLease("k"))
    }

    @Test func aReplicaRestartedUnderTheSameIdIsAnotherIncarnation() async throws {
        let backends = Backends.inMemory()
        let dead = Self.server(backends, id: "r")
        let restarted = Self.server(backends, id: "r")
        try await dead.leases.renew()
        let (asked, _) = dead.relay.open(session: "s")
        // The restart takes the lease over under the same id; ids it issues never repeat the dead run's.
        try await restarted.leases.renew()
        let (asksAgain, _) = restarted.relay.open(session: "s")
        #expect(asked != asksAgain)
        #expect(asked.hasPrefix("s2c.r.") && asksAgain.hasPrefix("s2c.r."))
        #expect(try await restarted.leases.holdsLease("r", incarnation: restarted.leases.incarnation))
        #expect(try await !restarted.leases.holdsLease("r", incarnation: dead.leases.incarnation))
        // The client's late answer to the dead run's request: accepted, and dropped (nothing waits for it).
        #expect(try await restarted.routeClientResponse(sessionID: "s", id: .string(asked), result: .success([:])))
        #expect(!restarted.deliverClientResponse(sessionID: "s", id: .string(asked), result: .success([:])))
    }

    @Test func aReplicaJudgesOthersOnlyOnceItsOwnLeaseHasHeldForAPeriod() async throws {
        let backends = Backends.inMemory()
        let server = Self.server(backends, id: "j")
        // Just started (or just back from a store outage that wiped every lease): a missing lease proves nothing yet,
        // since live replicas may not have renewed theirs.
        try await server.leases.renew()
        #expect(!server.leases.mayJudgeOthers)
        #expect(try await server.leases.isAlive("nobody"))
        try await Task.sleep(for: .milliseconds(650))
        try await server.leases.renew()
        #expect(server.leases.mayJudgeOthers)
        #expect(try await !server.leases.isAlive("nobody"))
    }

    /// The key of the one request stream of `session`, from its owner record.
    static func requestStreamKey(session: String, in backends: Backends) async throws -> String? {
        guard let memory = backends.sessionStore as? MemorySessionStore else { return nil }
        let prefix = ClusterWire.Key.requestStreamOwner(session: session, stream: "")
        return memory.keys.first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }
}

/// Waits until `condition` holds, polling; fails after 5 seconds.
func eventually(_ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(5)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("timed out waiting for a condition")
}
