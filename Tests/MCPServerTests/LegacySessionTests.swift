//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import MCPDemo
import Synchronization
import Testing

@testable import MCPServer

@Suite("Legacy sessions")
struct LegacySessionTests {
    /// Legacy results lose the 2026-07-28 fields, and a `_meta` that only carried the server info.
    @Test func legacyShapeDropsModernFields() {
        let modern: JSONValue = [
            "content": [], "resultType": "complete", "ttlMs": 5, "cacheScope": "public",
            "_meta": [MetaKey.serverInfo: ["name": "s"]],
        ]
        #expect(MCPServer.sessionShape(modern) == ["content": []])
        let kept: JSONValue = ["content": [], "_meta": [MetaKey.serverInfo: ["name": "s"], "x": 1]]
        #expect(MCPServer.sessionShape(kept) == ["content": [], "_meta": ["x": 1]])
        // A `_meta` that is not an object is not the runtime's to fix: it stays. So does a non-object result.
        #expect(MCPServer.sessionShape(["content": [], "_meta": "odd"]) == ["content": [], "_meta": "odd"])
        #expect(MCPServer.sessionShape("text") == "text")
    }

    func initialize(_ server: MCPServer, version: String = "2025-11-25", capabilities: JSONValue = allCapabilities) async throws -> (String, SessionState) {
        let (id, response) = await server.initializeSession(
            IncomingRequest(id: .int(0), method: "initialize", params: ["protocolVersion": .string(version), "capabilities": capabilities, "clientInfo": ["name": "t", "version": "1"]])
        )
        let sessionID = try #require(id)
        #expect(response["result"]?["protocolVersion"] != nil)
        let session = try #require(try await server.resumeSession(sessionID, principal: .anonymous))
        return (sessionID, session)
    }

    @Test func sessionIDsAreAuthenticatedBeforeAnyLookup() async throws {
        let ring = StaticKeyRing(keys: [.random()])
        let authority = SessionIDAuthority(keyRing: ring)
        let id = try await authority.mint()
        #expect(await authority.isAuthentic(id))
        #expect(id.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E })
        var forged = Array(id.utf8)
        forged[forged.count - 3] = forged[forged.count - 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(!(await authority.isAuthentic(String(decoding: forged, as: UTF8.self))))
        #expect(!(await authority.isAuthentic("s1.x.y.z")))
        #expect(!(await authority.isAuthentic("")))
        #expect(!(await SessionIDAuthority(keyRing: StaticKeyRing(keys: [.random()])).isAuthentic(id)))
        let another = try await authority.mint()
        #expect(another != id)
    }

    @Test func negotiatesVersionsAndBindsThePrincipal() async throws {
        let server = makeDemoServer()
        let (_, old) = try await initialize(server, version: "2025-03-26")
        #expect(old.protocolVersion == .v2025_03_26)
        let (id, future) = try await initialize(server, version: "2030-01-01")
        #expect(future.protocolVersion == .v2025_11_25)
        #expect(try await server.resumeSession(id, principal: Principal(id: "eve")) == nil)
        try await server.deleteSession(id)
        #expect(try await server.resumeSession(id, principal: .anonymous) == nil)
    }

    @Test func legacyResultsHaveNoModernFields() async throws {
        let server = makeDemoServer()
        let (id, session) = try await initialize(server)
        let list = await server.handleSessionRequest(IncomingRequest(id: .int(1), method: "tools/list", params: [:]), sessionID: id, session: session, sink: DiscardingSink())
        #expect(list?["result"]?["tools"]?.arrayValue?.count == 10)
        #expect(list?["result"]?["resultType"] == nil)
        #expect(list?["result"]?["ttlMs"] == nil)
        let ping = await server.handleSessionRequest(IncomingRequest(id: .int(2), method: "ping", params: [:]), sessionID: id, session: session, sink: DiscardingSink())
        #expect(ping?["result"] == [:])
        let discover = await server.handleSessionRequest(IncomingRequest(id: .int(3), method: "server/discover", params: [:]), sessionID: id, session: session, sink: DiscardingSink())
        #expect(discover?["error"]?["code"] == -32601)
    }

    @Test func setLevelAndSubscriptionsLiveInTheStore() async throws {
        let server = makeDemoServer()
        let (id, session) = try await initialize(server)
        let sink = RecordingSink()
        _ = await server.handleSessionRequest(
            IncomingRequest(id: .int(1), method: "tools/call", params: ["name": "countdown", "arguments": ["steps": 1, "intervalMs": 0]]),
            sessionID: id, session: session, sink: sink
        )
        #expect(sink.all.isEmpty)  // no level set: no log messages
        _ = await server.handleSessionRequest(IncomingRequest(id: .int(2), method: "logging/setLevel", params: ["level": "info"]), sessionID: id, session: session, sink: DiscardingSink())
        _ = await server.handleSessionRequest(IncomingRequest(id: .int(3), method: "resources/subscribe", params: ["uri": "demo://counter"]), sessionID: id, session: session, sink: DiscardingSink())
        let stored = try #require(try await server.loadSession(id))
        #expect(stored.logLevel == .info)
        #expect(stored.subscriptions == ["demo://counter"])
        let logged = RecordingSink()
        _ = await server.handleSessionRequest(
            IncomingRequest(id: .int(4), method: "tools/call", params: ["name": "countdown", "arguments": ["steps": 2, "intervalMs": 0]]),
            sessionID: id, session: stored, sink: logged
        )
        #expect(logged.all.filter { $0["method"] == "notifications/message" }.count == 2)
        let bad = await server.handleSessionRequest(IncomingRequest(id: .int(5), method: "logging/setLevel", params: ["level": "loud"]), sessionID: id, session: stored, sink: DiscardingSink())
        #expect(bad?["error"]?["code"] == -32602)
        let updated = BusMessage(channel: ClusterWire.Channel.resourceUpdated, payload: JSONWriter.encode(["uri": "demo://counter"]))
        #expect(try await server.sessionNotification(for: updated, sessionID: id)?["params"]?["uri"] == "demo://counter")
        let other = BusMessage(channel: ClusterWire.Channel.resourceUpdated, payload: JSONWriter.encode(["uri": "demo://greeting"]))
        #expect(try await server.sessionNotification(for: other, sessionID: id) == nil)
    }

    @Test func serverToClientRequestsWaitForTheAnswer() async throws {
        let server = makeDemoServer()
        let (id, session) = try await initialize(server)
        let sink = RecordingSink()
        async let result = server.handleSessionRequest(
            IncomingRequest(id: .int(1), method: "tools/call", params: ["name": "ask", "arguments": ["question": "q"]]),
            sessionID: id, session: session, sink: sink
        )
        while sink.all.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        let request = sink.all[0]
        #expect(request["method"] == "elicitation/create")
        let requestID = try #require(request["id"].flatMap(JSONRPCRequestID.init(json:)))
        #expect(requestID.description.hasPrefix("s2c.\(server.configuration.replicaID)."))
        // Another session cannot answer it.
        #expect(!server.deliverClientResponse(sessionID: "other", id: requestID, result: .success(["action": "accept"])))
        #expect(server.deliverClientResponse(sessionID: id, id: requestID, result: .success(["action": "accept", "content": ["answer": "yes"]])))
        // A duplicate answer is refused.
        #expect(!server.deliverClientResponse(sessionID: id, id: requestID, result: .success(["action": "accept"])))
        #expect(await result?["result"]?["content"] == [["type": "text", "text": "answer: yes"]])
    }

    @Test func unansweredRequestsTimeOutAsToolErrors() async throws {
        let server = MCPServer(
            configuration: MCPServerConfiguration(name: "t", version: "1", clientRequestTimeout: .milliseconds(100)),
            backends: .inMemory()
        )
        DemoServer.register(on: server)
        let (id, session) = try await initialize(server)
        let response = await server.handleSessionRequest(
            IncomingRequest(id: .int(1), method: "tools/call", params: ["name": "summarize", "arguments": ["text": "t"]]),
            sessionID: id, session: session, sink: RecordingSink()
        )
        #expect(response?["result"]?["isError"] == true)
        #expect(response?["result"]?["content"]?.arrayValue?.first?["text"]?.stringValue?.contains("did not answer") == true)
        // A client without the capability gets a tool error, not a hang.
        let (bare, bareSession) = try await initialize(server, capabilities: [:])
        let noCap = await server.handleSessionRequest(
            IncomingRequest(id: .int(2), method: "tools/call", params: ["name": "list-roots"]),
            sessionID: bare, session: bareSession, sink: RecordingSink()
        )
        #expect(noCap?["result"]?["isError"] == true)
    }

    @Test func cancelledNotificationStopsTheHandler() async throws {
        let server = makeDemoServer()
        let (id, session) = try await initialize(server)
        async let result = server.handleSessionRequest(
            IncomingRequest(id: .string("slow"), method: "tools/call", params: ["name": "countdown", "arguments": ["steps": 100, "intervalMs": 20]]),
            sessionID: id, session: session, sink: RecordingSink()
        )
        while server.statistics.activeHandlers == 0 { try await Task.sleep(for: .milliseconds(5)) }
        await server.handleSessionNotification(sessionID: id, method: "notifications/cancelled", params: ["requestId": "slow"])
        #expect(await result == nil)
        #expect(server.statistics.cancelledHandlers == 1)
    }

    @Test func responseChannelChoosesJSONOrTheEventLog() async throws {
        let server = makeDemoServer()
        let quick = RequestStreamChannel(log: server.backends.eventLog, store: server.backends.sessionStore, sessionID: "s", requestID: .int(1), replicaID: "a", ttl: .seconds(60), retention: .seconds(60), logger: server.logger)
        #expect(quick.decision == nil)
        await quick.finish(["jsonrpc": "2.0", "id": 1, "result": [:]])
        // The decision is readable at once, and the signal agrees with it.
        guard case .final(let decided)? = quick.decision else { Issue.record("expected a JSON decision"); return }
        #expect(decided?["id"] == 1)
        var signals = quick.signals.makeAsyncIterator()
        guard case .final(let r)? = await signals.next() else { Issue.record("expected JSON"); return }
        #expect(r?["id"] == 1)

        let streamed = RequestStreamChannel(log: server.backends.eventLog, store: server.backends.sessionStore, sessionID: "s", requestID: .int(1), replicaID: "a", ttl: .seconds(60), retention: .seconds(60), logger: server.logger)
        try await streamed.send(["jsonrpc": "2.0", "method": "notifications/progress", "params": ["progressToken": 1, "progress": 1]])
        await streamed.finish(["jsonrpc": "2.0", "id": 2, "result": [:]])
        var s2 = streamed.signals.makeAsyncIterator()
        guard case .streaming(let key)? = await s2.next() else { Issue.record("expected a stream"); return }
        guard case .streaming(let decidedKey)? = streamed.decision else { Issue.record("expected a stream decision"); return }
        #expect(decidedKey == key)
        let events = try await server.backends.eventLog.read(stream: ClusterWire.Stream.events(session: "s", stream: key), after: 0, limit: 10)
        // Position 1 is the empty event that creates the stream; it is never sent.
        #expect(events.map(\.position) == [1, 2, 3])
        #expect(events[0].data.isEmpty)
        #expect(StreamKey.parse(eventID: StreamKey.eventID(stream: key, position: 2))?.position == 2)
        #expect(StreamKey.parse(eventID: "nonsense") == nil)
        #expect(StreamKey.parse(eventID: "r.1") == nil)
        // The stream is closed: a tail ends after the last event.
        let tailed = try await server.backends.eventLog.tail(stream: ClusterWire.Stream.events(session: "s", stream: key), after: 1) { events in
            var got: [UInt64] = []
            for try await e in events { got.append(e.position) }
            return got
        }
        #expect(tailed == [2, 3])
    }

    @Test func serverPingsTheClient() async throws {
        let server = makeDemoServer()
        server.registerTool(Tool(name: "ping-client")) { _, context in
            try await context.pingClient()
            return .text("pong")
        }
        let (id, session) = try await initialize(server)
        let sink = RecordingSink()
        async let result = server.handleSessionRequest(
            IncomingRequest(id: .int(1), method: "tools/call", params: ["name": "ping-client"]), sessionID: id, session: session, sink: sink
        )
        while sink.all.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        #expect(sink.all[0]["method"] == "ping")
        let pingID = try #require(sink.all[0]["id"].flatMap(JSONRPCRequestID.init(json:)))
        #expect(server.deliverClientResponse(sessionID: id, id: pingID, result: .success([:])))
        #expect(await result?["result"]?["content"] == [["type": "text", "text": "pong"]])
        // In a modern request there is no server-to-client ping: it returns at once.
        let modern = await call(server, "tools/call", ["name": "ping-client"])
        #expect(modern["result"]?["content"] == [["type": "text", "text": "pong"]])
    }

    @Test func drainingCancellationEndsWithAnError() async throws {
        let server = makeDemoServer()
        let (id, session) = try await initialize(server)
        let task = Task {
            await server.handleSessionRequest(
                IncomingRequest(id: .int(9), method: "tools/call", params: ["name": "countdown", "arguments": ["steps": 100, "intervalMs": 20]]),
                sessionID: id, session: session, sink: DiscardingSink()
            )
        }
        while server.statistics.activeHandlers == 0 { try await Task.sleep(for: .milliseconds(5)) }
        server.beginDraining()
        task.cancel()
        let response = await task.value
        #expect(response?["id"] == 9)
        #expect(response?["error"]?["message"]?.stringValue?.contains("shut down") == true)
    }
}
