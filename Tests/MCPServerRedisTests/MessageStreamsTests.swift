//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Synchronization
import Testing

@testable import MCPServer

/// The 2024-11-05 HTTP+SSE transport through the runtime's one entry point, on replicas sharing one set of backends:
/// a stream on one replica carries what POSTs on another answer; a request whose replica is gone ends with
/// `-32010`; a drain waits for the requests in flight and refuses new ones.
@Suite("HTTP+SSE streams", .timeLimit(.minutes(1)))
struct MessageStreamsTests {
    /// A replica whose lease is renewed once: it lives `lease` unless the replica runs (tests that judge no replica dead
    /// keep the default, longer than they run).
    static func replica(_ name: String, _ backends: Backends, lease: Duration = .seconds(30)) async throws -> MCPServer {
        let server = MCPServer(
            configuration: MCPServerConfiguration(
                name: "t", version: "1", replicaID: name + "-" + SessionStreamsTests.unique(), replicaLease: lease
            ),
            backends: backends
        )
        server.registerTool(Tool(name: "echo")) { arguments, _ in .text(arguments["text"]?.stringValue ?? "") }
        try await server.leases.renew()
        return server
    }

    /// Opens a stream and returns it with its session id, read from the `endpoint` event.
    static func open(_ server: MCPServer) async throws -> (EventStream, String) {
        let reply = try await server.respond(to: TransportRequest(action: .openMessageStream(messagesPath: "/messages"), principal: .anonymous))
        let stream = try SessionStreamsTests.stream(reply)
        guard case .named("endpoint", let data)? = stream.head?.take() else { throw SessionStreamsTests.Unexpected(reply: "no endpoint event") }
        let prefix = "/messages?sessionId="
        #expect(data.hasPrefix(prefix))
        return (stream, String(data.dropFirst(prefix.count)))
    }

    static func post(_ server: MCPServer, _ session: String?, _ message: JSONValue) async throws -> TransportReply {
        try await server.respond(to: TransportRequest(action: .postMessage(message), principal: .anonymous, sessionID: session))
    }

    static func request(_ id: Int, _ method: String, _ params: JSONValue = [:]) -> JSONValue {
        ["jsonrpc": "2.0", "id": .int(Int64(id)), "method": .string(method), "params": params]
    }

    static func isAccepted(_ reply: TransportReply) -> Bool {
        if case .accepted = reply { true } else { false }
    }

    @Test(arguments: StoreKind.available)
    func postsOnAnyReplicaAreAnsweredOnTheStream(_ kind: StoreKind) async throws {
        try await kind.withBackends { backends in
            let a = try await Self.replica("a", backends)
            let b = try await Self.replica("b", backends)
            let (stream, session) = try await Self.open(a)
            try await StreamReader.reading(stream) { reader in
                let initialize = Self.request(1, "initialize", ["protocolVersion": "2024-11-05", "capabilities": [:], "clientInfo": ["name": "c", "version": "1"]])
                #expect(Self.isAccepted(try await Self.post(b, session, initialize)))
                try await reader.waitFor("the initialize response") { $0.messages.contains { $0["id"] == 1 } }
                #expect(try await Self.isAccepted(Self.post(a, session, ["jsonrpc": "2.0", "method": "notifications/initialized"])))
                #expect(try await Self.isAccepted(Self.post(b, session, Self.request(2, "tools/call", ["name": "echo", "arguments": ["text": "hi"]]))))
                try await reader.waitFor("the echo") { $0.messages.contains { $0["id"] == 2 } }
                // A 2024-11-05 session takes batches, answered in one array.
                #expect(try await Self.isAccepted(Self.post(b, session, [Self.request(3, "ping"), Self.request(4, "tools/list")])))
                try await reader.waitFor("the batch") { $0.messages.contains { $0.arrayValue?.count == 2 } }
                stream.clientGone()
            }
            // The session ends with its stream: every replica refuses its POSTs, saying to open a new stream.
            try await eventually("the session to end") { try await a.loadSession(session) == nil }
            let after = try await Self.post(b, session, Self.request(5, "ping"))
            #expect(SessionStreamsTests.refusalStatus(after) == 404)
            if case .refusal(let refusal) = after { #expect(refusal.error.message.contains("SSE stream")) }
        }
    }

    @Test func badPostsAreRefusedAndChangeNothing() async throws {
        let backends = Backends.inMemory()
        let a = try await Self.replica("a", backends)
        let (stream, session) = try await Self.open(a)
        try await StreamReader.reading(stream) { reader in
            // No session, a forged one, an altered MAC, a body that is no JSON-RPC message.
            #expect(SessionStreamsTests.refusalStatus(try await Self.post(a, nil, Self.request(1, "ping"))) == 400)
            #expect(SessionStreamsTests.refusalStatus(try await Self.post(a, "s1.nope.nope.nope", Self.request(1, "ping"))) == 404)
            var forged = Array(session)
            forged[forged.count - 2] = forged[forged.count - 2] == "A" ? "B" : "A"
            #expect(SessionStreamsTests.refusalStatus(try await Self.post(a, String(forged), Self.request(1, "ping"))) == 404)
            #expect(SessionStreamsTests.refusalStatus(try await Self.post(a, session, ["jsonrpc": "2.0"])) == 400)
            // A batch is refused once the session speaks a revision without them.
            let initialize = Self.request(1, "initialize", ["protocolVersion": "2025-06-18", "capabilities": [:]])
            #expect(Self.isAccepted(try await Self.post(a, session, initialize)))
            try await reader.waitFor("the initialize response") { $0.messages.contains { $0["id"] == 1 } }
            #expect(reader.events.messages.first { $0["id"] == 1 }?["result"]?["protocolVersion"] == "2025-06-18")
            #expect(SessionStreamsTests.refusalStatus(try await Self.post(a, session, [Self.request(2, "ping")])) == 400)
            // An answer to a server-to-client request nobody asked.
            let answer: JSONValue = ["jsonrpc": "2.0", "id": "not-ours-1", "result": [:]]
            #expect(SessionStreamsTests.refusalStatus(try await Self.post(a, session, answer)) == 400)
            // The session still works.
            #expect(Self.isAccepted(try await Self.post(a, session, Self.request(3, "ping"))))
            try await reader.waitFor("the ping") { $0.messages.contains { $0["id"] == 3 } }
            #expect(reader.events.messages.filter { $0["id"] != nil }.count == 2)
            stream.clientGone()
        }
    }

    @Test func aPostRidesOutAStoreThatFailsForAMomentInsteadOfAnsweringAnError() async throws {
        var backends = Backends.inMemory()
        let store = BlinkingStore()
        backends.sessionStore = store
        let a = try await Self.replica("a", backends)
        let (stream, session) = try await Self.open(a)
        try await StreamReader.reading(stream) { reader in
            // The store fails the POST's first five round trips: the client of this transport must not see a 503
            // (its writer stops for good) or a 404 (its session is not gone).
            store.failures.withLock { $0 = 5 }
            let reply = try await Self.post(a, session, Self.request(1, "ping"))
            #expect(Self.isAccepted(reply), "\(reply)")
            #expect(store.failures.withLock { $0 } == 0)
            try await reader.waitFor("the ping's answer") { $0.messages.contains { $0["id"] == 1 && $0["result"] != nil } }
            stream.clientGone()
        }
    }

    @Test(arguments: StoreKind.available)
    func aRequestOfAStoppedReplicaEndsWithOneReplicaLostError(_ kind: StoreKind) async throws {
        try await kind.withBackends { backends in
            // A short lease: a judges others only once its own has held for a whole period.
            let a = try await Self.replica("a", backends, lease: .milliseconds(600))
            try await CrossReplicaRelays.running([a]) {
                let (stream, session) = try await Self.open(a)
                let log = ClusterWire.Stream.messageStream(session: session)
                try await StreamReader.reading(stream) { reader in
                    // A replica that holds no lease accepted request 7 and died.
                    let dead = "dead-" + SessionStreamsTests.unique()
                    _ = try await backends.eventLog.append(
                        stream: log, data: ClusterWire.Payload.MessageStreamMark.accepted(.int(7), replica: dead, incarnation: "i").data, ttl: .seconds(60)
                    )
                    try await reader.waitFor("the replica_lost error") { $0.messages.contains { $0["id"] == 7 } }
                    let error = reader.events.messages.first { $0["id"] == 7 }?["error"]
                    #expect(error?["code"] == -32010)
                    #expect(error?["data"] == ["reason": "replica_lost", "replica": .string(dead)])
                    // The dead replica's answer, arriving late (it was only paused), is not a second response.
                    _ = try await backends.eventLog.append(stream: log, data: JSONWriter.encode(["jsonrpc": "2.0", "id": 7, "result": [:]]), ttl: .seconds(60))
                    #expect(Self.isAccepted(try await Self.post(a, session, Self.request(8, "ping"))))
                    try await reader.waitFor("the ping") { $0.messages.contains { $0["id"] == 8 } }
                    #expect(reader.events.messages.filter { $0["id"] == 7 }.count == 1)
                    stream.clientGone()
                }
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func aDrainWaitsForTheRequestsInFlightAndRefusesNewOnes(_ kind: StoreKind) async throws {
        try await kind.withBackends { backends in
            let a = try await Self.replica("a", backends)
            let b = try await Self.replica("b", backends)
            let (stream, session) = try await Self.open(a)
            let log = ClusterWire.Stream.messageStream(session: session)
            let reader = try await StreamReader.reading(stream) { reader in
                // Request 1 runs on b (alive), and has not answered.
                _ = try await backends.eventLog.append(
                    stream: log, data: ClusterWire.Payload.MessageStreamMark.accepted(.int(1), replica: b.configuration.replicaID, incarnation: b.leases.incarnation).data,
                    ttl: .seconds(60)
                )
                a.beginDraining()
                try await eventually("the stream to be marked closing") {
                    guard let record = try await backends.sessionStore.get(ClusterWire.Key.messageStreamOwner(session)) else { return false }
                    return ClusterWire.Payload.messageStreamOwner(record.value)?.closing == true
                }
                // New work is refused on every replica: it would not be waited for.
                let refused = try await Self.post(b, session, Self.request(2, "ping"))
                #expect(SessionStreamsTests.refusalStatus(refused) == 404)
                try await Task.sleep(for: .milliseconds(300))
                #expect(!reader.events.messages.contains { $0["id"] == 2 })
                // Still open: request 1 is in flight.
                if case .terminated = stream.continuation.yield(.keepAlive) { Issue.record("the stream ended before request 1 answered") }
                // Request 1's answer goes out, and then the stream ends.
                _ = try await backends.eventLog.append(stream: log, data: JSONWriter.encode(["jsonrpc": "2.0", "id": 1, "result": [:]]), ttl: .seconds(60))
            }
            // The stream ended by itself once request 1 had answered, and the session with it.
            #expect(reader.events.messages.contains { $0["id"] == 1 && $0["result"] != nil })
            try await eventually("the session to end") { try await a.loadSession(session) == nil }
        }
    }
}

/// A session store that fails its next `failures` calls, as a store restarting for a moment does.
final class BlinkingStore: SessionStore {
    struct Down: Error {}
    let inner = MemorySessionStore()
    let failures = Mutex(0)

    private func pass() throws {
        try failures.withLock { n in
            guard n > 0 else { return }
            n -= 1
            throw Down()
        }
    }

    func get(_ key: String) async throws -> VersionedValue? {
        try pass()
        return try await inner.get(key)
    }
    func create(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64? {
        try pass()
        return try await inner.create(key, value: value, ttl: ttl)
    }
    func set(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64 {
        try pass()
        return try await inner.set(key, value: value, ttl: ttl)
    }
    func compareAndSet(_ key: String, value: JSONValue, expectedVersion: UInt64, ttl: Duration) async throws -> UInt64? {
        try pass()
        return try await inner.compareAndSet(key, value: value, expectedVersion: expectedVersion, ttl: ttl)
    }
    func touch(_ key: String, ttl: Duration) async throws -> Bool {
        try pass()
        return try await inner.touch(key, ttl: ttl)
    }
    func delete(_ key: String) async throws {
        try pass()
        try await inner.delete(key)
    }
}

extension [OutboundEvent] {
    /// The JSON-RPC messages written (events without ids).
    var messages: [JSONValue] {
        compactMap { event in
            guard case .message(let message) = event else { return nil }
            return message
        }
    }
}
