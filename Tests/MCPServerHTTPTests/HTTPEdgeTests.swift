//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MCPDemo
@testable import MCPServer
import MCPServerHTTP
import MCPServerTesting
import NIOCore
import NIOPosix
import Testing

func demoServer() -> MCPServer {
    let server = MCPServer(configuration: MCPServerConfiguration(name: "demo", version: "1"), backends: .inMemory())
    DemoServer.register(on: server)
    return server
}

extension HTTPField.Name {
    static let mcpProtocolVersion = Self("MCP-Protocol-Version")!
    static let mcpMethod = Self("Mcp-Method")!
    static let mcpName = Self("Mcp-Name")!
}

@Suite("HTTP edge")
struct HTTPEdgeTests {
    @Test func servesJSONForQuickRequests() async throws {
        try await demoServer().withTestClient { client in
            let r = try await client.request("tools/call", params: ["name": "echo", "arguments": ["text": "hi"]])
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "application/json")
            #expect(r.result?["content"] == [["type": "text", "text": "hi"]])
            #expect(r.final?["id"] == 1)
        }
    }

    @Test func streamsProgressAsServerSentEvents() async throws {
        try await demoServer().withTestClient { client in
            let r = try await client.request(
                "tools/call",
                params: ["name": "countdown", "arguments": ["steps": 2, "intervalMs": 1]],
                meta: ["progressToken": "tok", MetaKey.logLevel: "debug"]
            )
            #expect(r.status == .ok)
            #expect(r.isEventStream)
            #expect(r.headers[HTTPField.Name("X-Accel-Buffering")!] == "no")
            #expect(r.messages.count == 5)
            #expect(r.messages.first?["method"] == "notifications/progress")
            #expect(r.result?["content"] == [["type": "text", "text": "done"]])
            // Modern streams are not resumable: no SSE ids.
            #expect(!String(buffer: r.body).contains("\nid:"))
        }
    }

    @Test func aHandlerThatNotifiesWithoutSuspendingStillStreamsOneFinalResponse() async throws {
        // It runs to its end before the edge first looks: its notifications must not be lost to the JSON fast path,
        // and exactly one final response follows them.
        let server = demoServer()
        server.registerTool(Tool(name: "eager")) { _, context in
            try await context.progress(1, total: 2, message: "one")
            try await context.progress(2, total: 2, message: "two")
            return .text("eager done")
        }
        try await server.withTestClient { client in
            let r = try await client.request("tools/call", params: ["name": "eager"], meta: ["progressToken": "p"])
            #expect(r.isEventStream)
            #expect(r.messages.map { $0["method"]?.stringValue } == ["notifications/progress", "notifications/progress", nil])
            #expect(r.messages.filter { $0["id"] != nil }.count == 1)
            #expect(r.result?["content"] == [["type": "text", "text": "eager done"]])
        }
    }

    @Test func silentSlowHandlersSwitchToAStreamWithKeepAlives() async throws {
        let server = demoServer()
        server.registerTool(Tool(name: "slow")) { _, _ in
            try await Task.sleep(for: .milliseconds(300))
            return .text("late")
        }
        let config = MCPHTTPConfiguration(keepAliveInterval: .milliseconds(100), streamingThreshold: .milliseconds(50))
        try await server.withTestClient(configuration: config) { client in
            let r = try await client.request("tools/call", params: ["name": "slow"])
            #expect(r.isEventStream)
            #expect(String(buffer: r.body).contains(": keep-alive"))
            #expect(r.result?["content"] == [["type": "text", "text": "late"]])
        }
    }

    @Test func mapsProtocolErrorsToStatusCodes() async throws {
        try await demoServer().withTestClient { client in
            let unknown = try await client.request("nope/nope")
            #expect(unknown.status == .notFound)
            #expect(unknown.error?["code"] == -32601)
            let old = try await client.request("tools/list", meta: [MetaKey.protocolVersion: "2099-01-01"])
            #expect(old.status == .badRequest)
            // Header says 2026-07-28, body says 2099: mismatch.
            #expect(old.error?["code"] == -32020)
            var h = client.headers(method: "tools/list", params: [:])
            h[.mcpProtocolVersion] = "2099-01-01"
            let body = JSONWriter.encode([
                "jsonrpc": "2.0", "id": 7, "method": "tools/list",
                "params": ["_meta": [MetaKey.protocolVersion: "2099-01-01", MetaKey.clientCapabilities: [:]]],
            ])
            let unsupported = try await client.raw(body: body, headers: h)
            #expect(unsupported.status == .badRequest)
            #expect(unsupported.error?["code"] == -32022)
            #expect(unsupported.error?["data"]?["supported"] == ["2026-07-28"])
            // A required `_meta` field missing (here clientCapabilities, then the whole `_meta`): malformed, -32602 and 400.
            for meta: JSONValue? in [[MetaKey.protocolVersion: "2026-07-28", MetaKey.clientInfo: ["name": "x", "version": "1"]], nil] {
                var params: [String: JSONValue] = [:]
                if let meta { params["_meta"] = meta }
                let missing = try await client.raw(
                    body: JSONWriter.encode(["jsonrpc": "2.0", "id": 8, "method": "tools/list", "params": .object(params)]),
                    headers: client.headers(method: "tools/list", params: [:])
                )
                #expect(missing.status == .badRequest)
                #expect(missing.error?["code"] == -32602)
            }
            let wrongName = try await client.request(
                "tools/call", params: ["name": "echo", "arguments": ["text": "x"]], extraHeaders: [.mcpName: "add"]
            )
            #expect(wrongName.status == .badRequest)
            #expect(wrongName.error?["code"] == -32020)
            let missingCap = try await client.request("tools/call", params: ["name": "ask", "arguments": ["question": "q"]])
            #expect(missingCap.status == .badRequest)
            #expect(missingCap.error?["code"] == -32021)
            let unknownTool = try await client.request("tools/call", params: ["name": "nope"])
            #expect(unknownTool.status == .ok)
            #expect(unknownTool.error?["code"] == -32602)
        }
    }

    @Test func refusesOtherMethodsAndBadRequests() async throws {
        try await demoServer().withTestClient { client in
            let good = client.headers(method: "tools/list", params: [:])
            let body = JSONWriter.encode(["jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": .object(client.params([:]))])
            for method in [HTTPRequest.Method.get, .delete] {
                let r = try await client.raw(body: [], headers: good, method: method)
                #expect(r.status == .methodNotAllowed)
                #expect(r.headers[.allow] == "POST")
            }
            // Each case edits the good headers and expects a status.
            func status(_ edit: (inout HTTPFields) -> Void) async throws -> HTTPResponse.Status {
                var h = good
                edit(&h)
                return try await client.raw(body: body, headers: h).status
            }
            #expect(try await status { $0[.origin] = "https://evil.example" } == .forbidden)
            #expect(try await status { $0[.origin] = "http://localhost:3000" } == .ok)
            #expect(try await status { $0[.contentType] = "text/plain" } == .unsupportedMediaType)
            #expect(try await status { $0[.accept] = "application/json" } == .notAcceptable)
            // Media types are case-insensitive, take parameters and ranges, and may span several Accept lines.
            let caseAndParameters: (inout HTTPFields) -> Void = { h in
                h[.contentType] = "Application/JSON; charset=utf-8"
                h[.accept] = " TEXT/Event-Stream;q=0.9 , application/*"
            }
            #expect(try await status(caseAndParameters) == .ok)
            #expect(try await status { caseAndParameters(&$0); $0[.accept] = "*/*" } == .ok)
            #expect(try await status { h in
                caseAndParameters(&h)
                h[.accept] = nil
                h.append(HTTPField(name: .accept, value: "application/json"))
                h.append(HTTPField(name: .accept, value: "text/event-stream"))
            } == .ok)
            #expect(try await status { $0[.contentType] = "application/json-seq" } == .unsupportedMediaType)
            #expect(try await status { $0[.accept] = "application/jsonx, text/event-streams, text/*x" } == .notAcceptable)
            let huge = [UInt8](repeating: 0x20, count: 4 * 1024 * 1024 + 1)
            #expect(try await client.raw(body: huge, headers: good).status == .contentTooLarge)
            let parse = try await client.raw(body: Array("{not json".utf8), headers: good)
            #expect(parse.status == .badRequest)
            #expect(parse.error?["code"] == -32700)
            let notification = try await client.raw(body: Array(#"{"jsonrpc":"2.0","method":"notifications/cancelled"}"#.utf8), headers: good)
            #expect(notification.status == .accepted)
            let response = try await client.raw(body: Array(#"{"jsonrpc":"2.0","id":1,"result":{}}"#.utf8), headers: good)
            #expect(response.status == .badRequest)
        }
    }

    @Test func allowsConfiguredOrigins() {
        let c = MCPHTTPConfiguration(allowedOrigins: ["https://app.example"])
        #expect(c.allows(origin: nil))
        #expect(c.allows(origin: "https://app.example"))
        #expect(!c.allows(origin: "http://localhost"))
        let d = MCPHTTPConfiguration()
        #expect(d.allows(origin: "http://127.0.0.1:8080"))
        #expect(!d.allows(origin: "http://localhost.evil.com"))
        #expect(!d.allows(origin: "http://127.0.0.1:80x"))
    }

    @Test func authenticatesWithBearerTokens() async throws {
        let server = demoServer()
        let config = MCPHTTPConfiguration(authenticator: BearerTokenAuthenticator(tokens: ["secret": Principal(id: "alice")]))
        try await server.withTestClient(configuration: config, clientCapabilities: ["elicitation": [:]]) { client in
            let anonymous = try await client.request("tools/list")
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] == "Bearer")
            // A legacy GET or DELETE without credentials gets the same 401 and challenge.
            for method in [HTTPRequest.Method.get, .delete] {
                let refused = try await client.client.executeRequest(
                    uri: "/mcp", method: method,
                    headers: [.accept: "text/event-stream", HTTPField.Name("Mcp-Session-Id")!: "any", HTTPField.Name("MCP-Protocol-Version")!: "2025-11-25"], body: nil
                )
                #expect(refused.status == .unauthorized)
                #expect(refused.headers[.wwwAuthenticate] == "Bearer")
                let refusal = try JSONParser().parse(Array(buffer: refused.body))
                #expect(refusal["error"]?["message"] == "a valid bearer token is required")
            }
            let alice = try await client.request("tools/call", params: ["name": "ask", "arguments": ["question": "q"]], extraHeaders: [.authorization: "Bearer secret"])
            #expect(alice.result?["resultType"] == "input_required")
        }
    }

    @Test func servesHealthAndReadiness() async throws {
        let server = demoServer()
        try await server.withTestClient { client in
            let health = try await client.client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(health.status == .ok)
            let ready = try await client.client.executeRequest(uri: "/readyz", method: .get, headers: [:], body: nil)
            #expect(ready.status == .ok)
            server.beginDraining()
            let draining = try await client.client.executeRequest(uri: "/readyz", method: .get, headers: [:], body: nil)
            #expect(draining.status == .serviceUnavailable)
        }
    }

    @Test func listenStreamsOverALiveSocket() async throws {
        let server = demoServer()
        try await server.withTestClient(mode: .live) { client in
            async let listen = client.request(
                "subscriptions/listen", params: ["notifications": ["resourceSubscriptions": ["demo://counter"]]], id: .string("L1")
            )
            // The subscription, not just the stream, must be open before anything is published.
            while (server.backends.messageBus as? MemoryMessageBus)?.subscriberCount("mcp:resources:updated") == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            // The live test client has one connection, busy with the stream: publish in process.
            try await server.notifyResourceUpdated(uri: "demo://other")
            try await server.notifyResourceUpdated(uri: "demo://counter")
            try await Task.sleep(for: .milliseconds(100))
            server.beginDraining()
            let r = try await listen
            #expect(r.isEventStream)
            #expect(r.messages.map { $0["method"]?.stringValue ?? "result" } == [
                "notifications/subscriptions/acknowledged", "notifications/resources/updated", "result",
            ])
            #expect(r.final?["id"] == "L1")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func listenStreamSendsTheAcknowledgementFirstThenKeepAlivesAndNotifications() async throws {
        let server = demoServer()
        try await server.withTestClient(mode: .live, configuration: MCPHTTPConfiguration(keepAliveInterval: .milliseconds(40))) { client in
            async let listen = client.request(
                "subscriptions/listen", params: ["notifications": ["toolsListChanged": true]], id: .string("K1")
            )
            while (server.backends.messageBus as? MemoryMessageBus)?.subscriberCount("mcp:list_changed:tools") == 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await Task.sleep(for: .milliseconds(150))
            try await server.notifyListChanged(.tools)
            try await Task.sleep(for: .milliseconds(150))
            server.beginDraining()
            let r = try await listen
            #expect(r.isEventStream)
            let text = String(buffer: r.body)
            // The acknowledgement opens the stream, before any keep-alive.
            #expect(text.hasPrefix("event: message\ndata: "))
            #expect(text.components(separatedBy: "\n\n").first?.contains("notifications/subscriptions/acknowledged") == true)
            // Every 40 ms for 300 ms: a loaded machine may fire fewer, but not none.
            #expect(text.components(separatedBy: ": keep-alive\n\n").count - 1 >= 2)
            #expect(r.messages.map { $0["method"]?.stringValue ?? "result" } == [
                "notifications/subscriptions/acknowledged", "notifications/tools/list_changed", "result",
            ])
            #expect(r.messages[1]["params"]?["_meta"]?[MetaKey.subscriptionID] == "K1")
            #expect(server.statistics.openListenStreams == 0)
        }
    }

    @Test func listenWhoseSubscriptionFailsGetsOneErrorResponse() async throws {
        var backends = Backends.inMemory()
        backends.messageBus = RefusingBus()
        let server = MCPServer(configuration: MCPServerConfiguration(name: "t", version: "1"), backends: backends)
        server.registerTool(Tool(name: "noop", inputSchema: ["type": "object"])) { _, _ in .text("") }
        try await server.withTestClient { client in
            let r = try await client.request("subscriptions/listen", params: ["notifications": ["toolsListChanged": true]], id: .string("F1"))
            #expect(r.isEventStream)
            #expect(r.messages.count == 1)
            #expect(r.final?["id"] == "F1")
            #expect(r.error?["code"] == -32603)
            #expect(r.error?["message"] == "could not subscribe to notifications; retry later")
            #expect(server.statistics.openListenStreams == 0)
        }
    }

    @Test func listenRefusalsAreJSONErrorsAndOpenNothing() async throws {
        let server = demoServer()
        try await server.withTestClient { client in
            let bad = try await client.request("subscriptions/listen", params: ["notifications": ["toolsListChanged": "yes"]], id: .int(7))
            #expect(!bad.isEventStream)
            // Invalid params travel in a 200, as for every method (only envelope and header errors change the status).
            #expect(bad.status == .ok)
            #expect(bad.error?["code"] == -32602)
            #expect(bad.error?["message"] == "Invalid params: notifications.toolsListChanged must be a boolean")
            #expect(bad.final?["id"] == 7)
            let missing = try await client.request("subscriptions/listen", params: [:], id: .int(8))
            #expect(missing.error?["code"] == -32602)
            server.beginDraining()
            let draining = try await client.request("subscriptions/listen", params: ["notifications": ["toolsListChanged": true]], id: .int(9))
            #expect(!draining.isEventStream)
            #expect(draining.error?["code"] == -32603)
            #expect(server.statistics.openListenStreams == 0)
            #expect((server.backends.messageBus as? MemoryMessageBus)?.subscriberCount("mcp:list_changed:tools") == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func listenStreamEndsWhenTheClientLeaves() async throws {
        let server = demoServer()
        try await server.withTestClient(mode: .live) { client in
            let port = try #require(client.client.port)
            let bus = try #require(server.backends.messageBus as? MemoryMessageBus)
            // A raw socket, so that leaving means closing the connection with the stream still open.
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
            let body = #"{"jsonrpc":"2.0","id":"G1","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},"#
                + #""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#
            let request = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n"
                + "Mcp-Method: subscriptions/listen\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let received = try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: request))
                var received = ""
                for try await chunk in inbound {
                    received += String(buffer: chunk)
                    if received.contains("notifications/subscriptions/acknowledged") { break }
                }
                #expect(server.statistics.openListenStreams == 1)
                #expect(bus.subscriberCount("mcp:list_changed:tools") == 1)
                return received
            }
            #expect(received.hasPrefix("HTTP/1.1 200"))
            // The connection is closed: the inbound-close watch ends the stream and removes its subscription.
            let deadline = ContinuousClock.now + .seconds(5)
            while server.statistics.openListenStreams > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(server.statistics.openListenStreams == 0)
            #expect(bus.subscriberCount("mcp:list_changed:tools") == 0)
        }
    }
}

/// A message bus whose subscriptions always fail, as Redis's do while it is down.
struct RefusingBus: MessageBus {
    struct Down: Error {}
    func publish(_ payload: [UInt8], to channel: String) async throws { throw Down() }
    func subscribe<Result: Sendable>(to channels: [String], _ body: (AsyncStream<BusMessage>) async throws -> Result) async throws -> Result {
        throw Down()
    }
}

/// A session store whose backend is unreachable.
final class UnreachableStore: SessionStore {
    struct Down: Error {}
    func get(_ key: String) async throws -> VersionedValue? { throw Down() }
    func create(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64? { throw Down() }
    func set(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64 { throw Down() }
    func compareAndSet(_ key: String, value: JSONValue, expectedVersion: UInt64, ttl: Duration) async throws -> UInt64? { throw Down() }
    func touch(_ key: String, ttl: Duration) async throws -> Bool { throw Down() }
    func delete(_ key: String) async throws { throw Down() }
}

@Suite("Readiness")
struct ReadinessTests {
    @Test func shuttingDownIsNotReadyAndClosesConnectionsWhileStillServing() async throws {
        let server = demoServer()
        try await server.withTestClient { client in
            let before = try await client.request("tools/call", params: ["name": "echo", "arguments": ["text": "x"]])
            #expect(before.headers[.connection] == nil)
            server.supervisor.beginShutdown()
            // The drain delay: requests are still served, each closing its connection; readiness fails.
            let during = try await client.request("tools/call", params: ["name": "echo", "arguments": ["text": "y"]])
            #expect(during.status == .ok)
            #expect(during.result?["content"] == [["type": "text", "text": "y"]])
            #expect(during.headers[.connection] == "close")
            let ready = try await client.client.executeRequest(uri: "/readyz", method: .get, headers: [:], body: nil)
            #expect(ready.status == .serviceUnavailable)
            let health = try await client.client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(health.status == .ok)
        }
    }

    @Test func aSessionRequestWhenTheStoreIsDownIs503WithRetryAfterNever404() async throws {
        var backends = Backends.inMemory()
        backends.sessionStore = UnreachableStore()
        let server = MCPServer(configuration: MCPServerConfiguration(name: "t", version: "1"), backends: backends)
        DemoServer.register(on: server)
        let keyRing = backends.keyRing
        try await server.withTestClient { client in
            var headers = client.headers(method: "tools/list", params: [:])
            headers[.mcpProtocolVersion] = "2025-11-25"
            headers[HTTPField.Name("Mcp-Session-Id")!] = "s1.k.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"
            let body = JSONWriter.encode(["jsonrpc": "2.0", "id": 3, "method": "tools/list"])
            // A forged id is refused before any store access: 404 is right for it.
            #expect(try await client.raw(body: body, headers: headers).status == .notFound)
            // A real session id, with the store down: 503 and Retry-After, not 404.
            let sessionID = try await SessionIDAuthority(keyRing: keyRing).mint()
            headers[HTTPField.Name("Mcp-Session-Id")!] = sessionID
            let down = try await client.raw(body: body, headers: headers)
            #expect(down.status == .serviceUnavailable)
            #expect(down.headers[.retryAfter] != nil)
            #expect(down.error?["code"] == -32603)
            // So does initialize: the session cannot be stored.
            var initHeaders = client.headers(method: "initialize", params: [:])
            initHeaders[.mcpProtocolVersion] = nil
            let initialize = JSONWriter.encode([
                "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": ["protocolVersion": "2025-11-25", "capabilities": [:]],
            ])
            let refused = try await client.raw(body: initialize, headers: initHeaders)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "1")
            // Stateless requests need no store and keep working.
            let echo = try await client.request("tools/call", params: ["name": "echo", "arguments": ["text": "ok"]])
            #expect(echo.status == .ok)
        }
    }

    @Test func notReadyWhenTheBackendIsDown() async throws {
        var backends = Backends.inMemory()
        backends.sessionStore = UnreachableStore()
        let server = MCPServer(configuration: MCPServerConfiguration(name: "t", version: "1"), backends: backends)
        try await server.withTestClient { client in
            let ready = try await client.client.executeRequest(uri: "/readyz", method: .get, headers: [:], body: nil)
            #expect(ready.status == .serviceUnavailable)
            let health = try await client.client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(health.status == .ok)
        }
    }

    @Test func httpSSEPostsAreCheckedAtTheEdge() async throws {
        try await demoServer().withTestClient { client in
            func post(_ query: String, _ body: String, contentType: String = "application/json") async throws -> (HTTPResponse.Status, JSONValue?) {
                var headers = HTTPFields()
                headers[.contentType] = contentType
                let r = try await client.client.executeRequest(uri: "/messages" + query, method: .post, headers: headers, body: ByteBuffer(string: body))
                return (r.status, try? JSONParser().parse(Array(buffer: r.body)))
            }
            let ping = #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#
            let missing = try await post("", ping)
            #expect(missing.0 == .badRequest)
            #expect(missing.1?["error"]?["code"] == -32600)
            #expect(try await post("?sessionId=s1.nope.nope.nope", ping, contentType: "text/plain").0 == .unsupportedMediaType)
            let malformed = try await post("?sessionId=s1.nope.nope.nope", "{nope")
            #expect(malformed.0 == .badRequest)
            #expect(malformed.1?["error"]?["code"] == -32700)
            let unknown = try await post("?sessionId=s1.nope.nope.nope", ping)
            #expect(unknown.0 == .notFound)
            #expect(unknown.1?["error"]?["message"]?.stringValue?.contains("GET /sse") == true)
            let large = try await post("?sessionId=s1.nope.nope.nope", String(repeating: " ", count: 4 * 1024 * 1024 + 1) + ping)
            #expect(large.0 == .contentTooLarge)
            var accept = HTTPFields()
            accept[.accept] = "application/json"
            #expect(try await client.client.executeRequest(uri: "/sse", method: .get, headers: accept, body: nil).status == .notAcceptable)
        }
    }

    @Test func theHTTPSSETransportCanBeTurnedOff() async throws {
        try await demoServer().withTestClient(configuration: MCPHTTPConfiguration(httpSSE: nil)) { client in
            let r = try await client.client.executeRequest(uri: "/sse", method: .get, headers: [:], body: nil)
            #expect(r.status == .notFound)
        }
    }

    @Test func anHTTPSSEStreamNeedsTheStore() async throws {
        var backends = Backends.inMemory()
        backends.sessionStore = UnreachableStore()
        let server = MCPServer(configuration: MCPServerConfiguration(name: "t", version: "1"), backends: backends)
        try await server.withTestClient { client in
            let r = try await client.client.executeRequest(uri: "/sse", method: .get, headers: [:], body: nil)
            #expect(r.status == .serviceUnavailable)
            #expect(r.headers[.retryAfter] == "1")
        }
    }
}
