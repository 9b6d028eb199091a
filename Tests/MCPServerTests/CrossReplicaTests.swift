//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPDemo
import Testing

@testable import MCPServer

/// Two runtimes sharing one set of backends behave as two replicas: what one needs from the other travels through
/// the store and the bus only.
@Suite("Cross-replica paths (shared in-memory backends)")
struct CrossReplicaTests {
    static func replicas() -> (MCPServer, MCPServer) {
        let shared = Backends.inMemory()
        let a = MCPServer(configuration: MCPServerConfiguration(name: "demo", version: "1", replicaID: "a"), backends: shared)
        let b = MCPServer(configuration: MCPServerConfiguration(name: "demo", version: "1", replicaID: "b"), backends: shared)
        DemoServer.register(on: a)
        DemoServer.register(on: b)
        return (a, b)
    }

    /// Runs both replicas' services while `body` runs.
    static func withRunning(_ servers: [MCPServer], _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for server in servers { group.addTask { try await server.run() } }
            // Let the relay subscriptions come up.
            while servers.contains(where: { _ in (servers[0].backends.messageBus as? MemoryMessageBus)?.subscriberCount(ClusterWire.Channel.cancel) ?? 0 < servers.count }) {
                try await Task.sleep(for: .milliseconds(5))
            }
            try await body()
            group.cancelAll()
        }
    }

    @Test func anAnswerRelayedWhileTheWaitingReplicaWasNotSubscribedIsNotLost() async throws {
        let (a, b) = Self.replicas()
        // A handler on a waits for the client's answer; a's relay is not subscribed (its connection to the store is
        // being re-established, say), so b's relay of the answer reaches nobody on the bus.
        let (id, slot) = a.relay.open(session: "s")
        #expect(try await b.routeClientResponse(sessionID: "s", id: .string(id), result: .success(["answer": "yes"])))
        // A duplicate is still refused: the claim is taken.
        #expect(try await !b.routeClientResponse(sessionID: "s", id: .string(id), result: .success(["answer": "no"])))
        // Once subscribed again, a finds the answer in its claim.
        let serving = Task { await a.relay.serveUntilCancelled() }
        defer { serving.cancel() }
        let answer = try await slot.wait()
        #expect(answer == ["answer": "yes"])
        a.relay.close(id)
    }

    @Test func answersCancellationsAndDeletionsCrossReplicas() async throws {
        let (a, b) = Self.replicas()
        try await Self.withRunning([a, b]) {
            let (sessionID, _) = await a.initializeSession(
                IncomingRequest(id: .int(0), method: "initialize", params: ["protocolVersion": "2025-11-25", "capabilities": allCapabilities])
            )
            let id = try #require(sessionID)
            // The session created on A is served by B.
            let onB = try #require(try await b.resumeSession(id, principal: .anonymous))

            // `ask` runs on A; the answer lands on B and is relayed.
            let sink = RecordingSink()
            async let asked = a.handleSessionRequest(
                IncomingRequest(id: .int(1), method: "tools/call", params: ["name": "ask", "arguments": ["question": "q"]]), sessionID: id, session: onB, sink: sink
            )
            while sink.all.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
            let requestID = try #require(sink.all[0]["id"].flatMap(JSONRPCRequestID.init(json:)))
            #expect(try await b.routeClientResponse(sessionID: id, id: requestID, result: .success(["action": "accept", "content": ["answer": "from b"]])))
            #expect(!(try await b.routeClientResponse(sessionID: id, id: requestID, result: .success(["action": "accept"]))))
            #expect(await asked?["result"]?["content"] == [["type": "text", "text": "answer: from b"]])

            // logging/setLevel on B applies to a handler on A.
            _ = await b.handleSessionRequest(IncomingRequest(id: .int(2), method: "logging/setLevel", params: ["level": "info"]), sessionID: id, session: onB, sink: DiscardingSink())
            let logs = RecordingSink()
            _ = await a.handleSessionRequest(
                IncomingRequest(id: .int(3), method: "tools/call", params: ["name": "countdown", "arguments": ["steps": 1, "intervalMs": 0]]), sessionID: id, session: onB, sink: logs
            )
            #expect(logs.all.contains { $0["method"] == "notifications/message" })

            // notifications/cancelled landing on B cancels the handler on A.
            async let slow = a.handleSessionRequest(
                IncomingRequest(id: .int(4), method: "tools/call", params: ["name": "countdown", "arguments": ["steps": 200, "intervalMs": 20]]), sessionID: id, session: onB, sink: DiscardingSink()
            )
            while a.statistics.activeHandlers == 0 { try await Task.sleep(for: .milliseconds(5)) }
            await b.handleSessionNotification(sessionID: id, method: "notifications/cancelled", params: ["requestId": 4])
            #expect(await slow == nil)

            // DELETE on B ends the handler on A and the session everywhere.
            async let doomed = a.handleSessionRequest(
                IncomingRequest(id: .int(5), method: "tools/call", params: ["name": "countdown", "arguments": ["steps": 200, "intervalMs": 20]]), sessionID: id, session: onB, sink: DiscardingSink()
            )
            while a.statistics.activeHandlers == 0 { try await Task.sleep(for: .milliseconds(5)) }
            try await b.deleteSession(id)
            #expect(await doomed == nil)
            #expect(try await a.resumeSession(id, principal: .anonymous) == nil)
        }
    }

    @Test func requestStateSealedOnOneReplicaOpensOnAnother() async throws {
        let (a, b) = Self.replicas()
        let round1 = await call(a, "tools/call", ["name": "ask-twice", "arguments": [:]])["result"]
        let k1 = try #require(round1?["inputRequests"]?.objectValue?.keys.first)
        let round2 = await call(
            b, "tools/call",
            ["name": "ask-twice", "arguments": [:], "requestState": round1?["requestState"] ?? .null, "inputResponses": .object([k1: ["action": "accept", "content": ["answer": "1"]]])]
        )["result"]
        let k2 = try #require(round2?["inputRequests"]?.objectValue?.keys.first)
        let done = await call(
            a, "tools/call",
            ["name": "ask-twice", "arguments": [:], "requestState": round2?["requestState"] ?? .null, "inputResponses": .object([k2: ["action": "accept", "content": ["answer": "2"]]])]
        )["result"]
        #expect(done?["content"] == [["type": "text", "text": "first: 1, second: 2"]])
    }
}
