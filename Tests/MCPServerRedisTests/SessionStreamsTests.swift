//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import MCPServerRedis
import Synchronization
import Testing

@testable import MCPServer

/// Where a suite's shared state lives.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, redis

    var testDescription: String { rawValue }

    /// The in-memory backends always; Redis when a server answers or is required (CI).
    static var available: [StoreKind] { TestRedis.shouldRun ? [.memory, .redis] : [.memory] }

    /// Runs `body` with backends of this kind, their services running alongside it.
    func withBackends(_ body: @Sendable (Backends) async throws -> Void) async throws {
        let keyRing = StaticKeyRing(keys: [.random()])
        switch self {
        case .memory:
            try await body(.inMemory(keyRing: keyRing))
        case .redis:
            try await TestRedis.withClient { client in
                try await body(.redis(client: client, keyRing: keyRing))
            }
        }
    }
}

/// A session's streams (`SessionStreams`) through the runtime's one entry point, on two replicas sharing one set of
/// backends: the GET-stream lock, takeover, replay after `Last-Event-ID`, and a request stream resumed after a cut.
@Suite("Session streams", .timeLimit(.minutes(1)))
struct SessionStreamsTests {
    /// Two replicas on `backends`, each holding its lease (valid for longer than a test runs).
    static func replicas(_ backends: Backends) async throws -> (MCPServer, MCPServer) {
        // Ids of this test's own: leases live in the shared store, and other tests run beside this one on it.
        let a = MCPServer(configuration: MCPServerConfiguration(name: "t", version: "1", replicaID: "a-" + Self.unique()), backends: backends)
        let b = MCPServer(configuration: MCPServerConfiguration(name: "t", version: "1", replicaID: "b-" + Self.unique()), backends: backends)
        for server in [a, b] {
            server.registerTool(Tool(name: "noop")) { _, _ in .text("") }
            server.registerResource(Resource(uri: "demo://x", name: "x")) { uri, _, _ in [.text(uri: uri, text: "x")] }
            try await server.leases.renew()
        }
        return (a, b)
    }

    static func unique() -> String { String(UInt32.random(in: 0 ... .max), radix: 36) }

    static func newSession(_ server: MCPServer) async throws -> String {
        let (id, _) = await server.initializeSession(
            IncomingRequest(id: .int(0), method: "initialize", params: ["protocolVersion": "2025-11-25", "capabilities": [:]])
        )
        return try #require(id)
    }

    static func open(_ server: MCPServer, session: String?, lastEventID: String? = nil) async throws -> TransportReply {
        try await server.respond(
            to: TransportRequest(action: .openStream(lastEventID: lastEventID), principal: .anonymous, sessionID: session, metadata: .init())
        )
    }

    static func stream(_ reply: TransportReply) throws -> EventStream {
        guard case .stream(let stream) = reply else { throw Unexpected(reply: "\(reply)") }
        return stream
    }

    static func refusalStatus(_ reply: TransportReply) -> Int? {
        guard case .refusal(let refusal) = reply else { return nil }
        return refusal.status
    }

    struct Unexpected: Error { var reply: String }

    @Test(arguments: StoreKind.available)
    func aSessionHasOneStandaloneStreamAndItsLockIsReleased(_ kind: StoreKind) async throws {
        try await kind.withBackends { backends in
            let (a, b) = try await Self.replicas(backends)
            let session = try await Self.newSession(a)
            let first = try Self.stream(try await Self.open(a, session: session))
            try await StreamReader.reading(first) { reader in
                try await reader.waitFor("the priming event") { $0.contains { if case .priming = $0 { true } else { false } } }
                // A second stream of the same session, on either replica, is refused while the first is open.
                #expect(Self.refusalStatus(try await Self.open(b, session: session)) == 409)
                #expect(Self.refusalStatus(try await Self.open(a, session: session)) == 409)
                first.clientGone()
            }
            // The lock went with the stream: a new one opens.
            try await eventually("the lock to be released") {
                try await backends.sessionStore.get(ClusterWire.Key.getStreamLock(session)) == nil
            }
            let again = try Self.stream(try await Self.open(b, session: session))
            again.clientGone()
            try await again.withEvents { for await _ in again.events {} }
        }
    }

    @Test(arguments: StoreKind.available)
    func notificationsAreLoggedAndAResumeReplaysOnlyWhatWasMissed(_ kind: StoreKind) async throws {
        try await kind.withBackends { backends in
            // Resource updates of URIs only this test uses: list changes are global, and other tests (on the same
            // Redis) raise them, so only the updates are counted.
            let (a, b) = try await Self.replicas(backends)
            let session = try await Self.newSession(a)
            let uris = (1...4).map { "demo://\(session.suffix(8))/\($0)" }
            try await a.sessions.update(session) { $0.subscriptions = uris }
            let first = try Self.stream(try await Self.open(a, session: session))
            let reader = try await StreamReader.reading(first) { reader in
                try await reader.waitFor("priming") { !$0.isEmpty }
                // Raised on the other replica: every replica's session streams follow the one notification log.
                try await b.notifyResourceUpdated(uri: uris[0])
                try await b.notifyResourceUpdated(uri: "demo://not-subscribed")
                try await b.notifyResourceUpdated(uri: uris[1])
                try await reader.waitFor("two notifications") { $0.updates.count == 2 }
                first.clientGone()
            }
            let logged = reader.events.updates
            #expect(logged.map { $0.message["params"]?["uri"] } == [.string(uris[0]), .string(uris[1])])
            // Raised while no stream of the session is connected: logged all the same.
            try await a.notifyResourceUpdated(uri: uris[2])
            // Resumed on the other replica after the first notification: the second and the one raised while
            // disconnected are replayed, the first is not.
            let resumed = try Self.stream(try await Self.open(b, session: session, lastEventID: logged[0].id))
            let second = try await StreamReader.reading(resumed) { second in
                try await second.waitFor("the replay") { $0.updates.count == 2 }
                #expect(second.events.updates.first?.id == logged[1].id)
                #expect(second.events.updates.map { $0.message["params"]?["uri"] } == [.string(uris[1]), .string(uris[2])])
                // Then it follows live, with positions after the replayed ones.
                try await a.notifyResourceUpdated(uri: uris[3])
                try await second.waitFor("a live notification") { $0.updates.count == 3 }
                resumed.clientGone()
            }
            let ids = second.events.updates.map(\.id)
            #expect(second.events.updates.last?.message["params"]?["uri"] == .string(uris[3]))
            #expect(ids[2].hasPrefix(String(logged[0].id.prefix(13))))
            #expect(StreamKey.parse(eventID: ids[2])!.position > StreamKey.parse(eventID: ids[1])!.position)
        }
    }

    @Test(arguments: StoreKind.available)
    func aResumeTakesTheStreamOverFromAConnectionThatHasNotNoticed(_ kind: StoreKind) async throws {
        try await kind.withBackends { backends in
            let (a, b) = try await Self.replicas(backends)
            let session = try await Self.newSession(a)
            let first = try Self.stream(try await Self.open(a, session: session))
            let resumed = Mutex<EventStream?>(nil)
            // The reading ends only if the takeover ends the first stream.
            try await StreamReader.reading(first) { reader in
                try await reader.waitFor("priming") { !$0.isEmpty }
                guard case .priming(let primingID, _) = reader.events[0] else { Issue.record("no priming event first"); return }
                // The client lost its connection without the server noticing, and resumes elsewhere: the new stream
                // takes over, and the old connection's stream ends.
                let stream = try Self.stream(try await Self.open(b, session: session, lastEventID: primingID))
                resumed.withLock { $0 = stream }
            }
            // A different stream of the session is still refused: only a resume of the same one takes over.
            #expect(Self.refusalStatus(try await Self.open(a, session: session)) == 409)
            let stream = try #require(resumed.withLock { $0 })
            stream.clientGone()
            try await stream.withEvents { for await _ in stream.events {} }
        }
    }

    @Test(arguments: StoreKind.available)
    func aRequestStreamResumesAfterACutUntilItsFinalResponse(_ kind: StoreKind) async throws {
        try await kind.withBackends { backends in
            let (a, b) = try await Self.replicas(backends)
            // Running: each replica holds its lease, so the stream's owner (a) is alive.
            try await CrossReplicaRelays.running([a, b]) {
            let session = try await Self.newSession(a)
            let channel = RequestStreamChannel(
                log: backends.eventLog, store: backends.sessionStore, sessionID: session, requestID: .int(9), replicaID: a.configuration.replicaID,
                incarnation: a.leases.incarnation, ttl: .seconds(60), retention: .seconds(60), logger: Logger(label: "t")
            )
            try await channel.send(["jsonrpc": "2.0", "method": "notifications/progress", "params": ["progressToken": 1, "progress": 1]])
            try await channel.send(["jsonrpc": "2.0", "method": "notifications/progress", "params": ["progressToken": 1, "progress": 2]])
            guard case .streaming(let key)? = channel.decision else { Issue.record("expected a stream"); return }
            // The client saw the first progress event (position 2: position 1 only creates the stream), then was cut.
            let resumed = try Self.stream(try await Self.open(b, session: session, lastEventID: StreamKey.eventID(stream: key, position: 2)))
            let reader = try await StreamReader.reading(resumed) { reader in
                try await reader.waitFor("the missed progress") { $0.logged.count == 1 }
                await channel.finish(["jsonrpc": "2.0", "id": 9, "result": [:]])
                // The log closes after the final response: the stream ends by itself.
            }
            let logged = reader.events.logged
            #expect(logged.map(\.id) == [StreamKey.eventID(stream: key, position: 3), StreamKey.eventID(stream: key, position: 4)])
            #expect(logged.last?.message["id"] == 9)
            // No priming event on a resume, and no repeat of what the client acknowledged.
            #expect(!reader.events.contains { if case .priming = $0 { true } else { false } })

            // Bad resumes: an unknown stream of this session, a malformed id, an unknown session.
            #expect(Self.refusalStatus(try await Self.open(a, session: session, lastEventID: StreamKey.eventID(stream: StreamKey.newRequestStream(), position: 1))) == 404)
            #expect(Self.refusalStatus(try await Self.open(a, session: session, lastEventID: "not-an-event-id")) == 400)
            #expect(Self.refusalStatus(try await Self.open(a, session: "s1.nope.nope.nope")) == 404)
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func aRequestOfADeadReplicaEndsWithOneReplicaLostError(_ kind: StoreKind) async throws {
        try await kind.withBackends { backends in
            let (a, b) = try await Self.replicas(backends)
            let c = MCPServer(configuration: MCPServerConfiguration(name: "t", version: "1", replicaID: "c-" + Self.unique()), backends: backends)
            try await CrossReplicaRelays.running([b, c]) {
                let session = try await Self.newSession(b)
                // A request stream of a replica that holds no lease: it died after its first event.
                let deadSuffix = Self.unique()
                let channel = RequestStreamChannel(
                    log: backends.eventLog, store: backends.sessionStore, sessionID: session, requestID: .string("r-7"),
                    replicaID: "dead-" + deadSuffix, ttl: .seconds(60), retention: .seconds(60), logger: Logger(label: "t")
                )
                try await channel.send(["jsonrpc": "2.0", "method": "notifications/progress", "params": ["progressToken": 1, "progress": 1]])
                guard case .streaming(let key)? = channel.decision else { Issue.record("expected a stream"); return }
                let resume = StreamKey.eventID(stream: key, position: 2)
                // Two clients resume it at once, on two replicas: both get the same one final error, written once.
                let onB = try Self.stream(try await Self.open(b, session: session, lastEventID: resume))
                let onC = try Self.stream(try await Self.open(c, session: session, lastEventID: resume))
                async let readB = StreamReader.reading(onB) { _ in }
                async let readC = StreamReader.reading(onC) { _ in }
                let (fromB, fromC) = try await (readB, readC)
                for reader in [fromB, fromC] {
                    let finals = reader.events.logged.filter { $0.message["id"] != nil }
                    #expect(finals.count == 1)
                    #expect(finals.first?.message["id"] == "r-7")
                    #expect(finals.first?.message["error"]?["code"] == -32010)
                    #expect(finals.first?.message["error"]?["data"] == ["reason": "replica_lost", "replica": .string("dead-" + deadSuffix)])
                }
                let log = try await backends.eventLog.read(stream: ClusterWire.Stream.events(session: session, stream: key), after: 0, limit: 10)
                #expect(log.count == 3)  // the empty opening event, the progress, the one error
                // The dead replica's own final answer, arriving late, is dropped: the stream is already ended.
                await channel.finish(["jsonrpc": "2.0", "id": "r-7", "result": [:]])
                #expect(try await backends.eventLog.read(stream: ClusterWire.Stream.events(session: session, stream: key), after: 0, limit: 10).count == 3)
                _ = a
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func deletingTheSessionEndsItsStreamsOnEveryReplica(_ kind: StoreKind) async throws {
        try await kind.withBackends { backends in
            let (a, b) = try await Self.replicas(backends)
            let session = try await Self.newSession(a)
            let stream = try Self.stream(try await Self.open(a, session: session))
            try await StreamReader.reading(stream) { reader in
                try await reader.waitFor("priming") { !$0.isEmpty }
                let deleted = try await b.respond(to: TransportRequest(action: .endSession, principal: .anonymous, sessionID: session))
                guard case .done = deleted else { Issue.record("expected the session to end, got \(deleted)"); return }
            }
            #expect(Self.refusalStatus(try await Self.open(a, session: session)) == 404)
        }
    }

    /// An answer to a server-to-client request that arrives while the store fails for a moment waits for it (a
    /// handler waits for the answer, and clients rarely post an answer twice), instead of a `503`. Once a try has
    /// failed, a claim that holds this very answer (written by an earlier try) does not make it a refused duplicate.
    @Test func anAnswerRidesOutAStoreThatFailsForAMoment() async throws {
        var backends = Backends.inMemory()
        let store = BlinkingStore()
        backends.sessionStore = store
        let (a, b) = try await Self.replicas(backends)
        let session = try await Self.newSession(a)
        let (id, slot) = a.relay.open(session: session)
        defer { a.relay.close(id) }
        let serving = Task { await a.relay.serveUntilCancelled() }
        defer { serving.cancel() }
        let answer: JSONValue = ["jsonrpc": "2.0", "id": .string(id), "result": ["action": "accept", "content": ["answer": "yes"]]]
        for failures in [4, 2] {
            // 4: the resume and the claim fail, then go through; 2 (with the claim of the first try kept): the same.
            store.failures.withLock { $0 = failures }
            let reply = try await b.respond(to: TransportRequest(action: .post(answer), principal: .anonymous, sessionID: session))
            guard case .accepted = reply else {
                Issue.record("the answer was not accepted: \(reply)")
                return
            }
            #expect(store.failures.withLock { $0 } == 0)
        }
        #expect(try await slot.wait() == ["action": "accept", "content": ["answer": "yes"]])
        // A different answer to the same request is still refused: the claim holds the first.
        let other: JSONValue = ["jsonrpc": "2.0", "id": .string(id), "result": ["action": "decline"]]
        let refused = try await b.respond(to: TransportRequest(action: .post(other), principal: .anonymous, sessionID: session))
        #expect(Self.refusalStatus(refused) == 400)
    }
}

/// Collects what a stream hands its writer.
final class StreamReader: Sendable {
    /// Reads `stream` while `body` runs, then waits for the stream to end (the body ends it, one way or another).
    /// - Returns: the reader, with everything the stream wrote.
    @discardableResult
    static func reading(_ stream: EventStream, _ body: @Sendable (StreamReader) async throws -> Void) async throws -> StreamReader {
        let reader = StreamReader()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await reader.read(stream) }
            try await body(reader)
            try await group.waitForAll()
        }
        return reader
    }

    private let collected = Mutex<[OutboundEvent]>([])

    var events: [OutboundEvent] { collected.withLock { $0 } }

    /// Writes `stream` into the collection until it ends.
    func read(_ stream: EventStream) async throws {
        try await stream.withEvents {
            if let first = stream.takeFirst() { self.collected.withLock { $0.append(first) } }
            for await event in stream.events { self.collected.withLock { $0.append(event) } }
        }
    }

    /// Waits until the events collected so far satisfy `condition`.
    func waitFor(_ what: String, _ condition: ([OutboundEvent]) -> Bool) async throws {
        try await eventually(what) { condition(self.events) }
    }
}

extension [OutboundEvent] {
    /// The logged `notifications/resources/updated` messages.
    var updates: [(id: String, message: JSONValue, method: String?)] {
        logged.filter { $0.method == "notifications/resources/updated" }
    }

    /// The logged messages, with their event ids.
    var logged: [(id: String, message: JSONValue, method: String?)] {
        compactMap { event in
            guard case .logged(let id, let data) = event, let message = try? JSONParser().parse(data) else { return nil }
            return (id, message, message["method"]?.stringValue)
        }
    }
}

/// Runs replicas' services (the relay subscriptions) while `body` runs.
enum CrossReplicaRelays {
    static func running(_ servers: [MCPServer], _ body: @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for server in servers { group.addTask { try await server.run() } }
            defer { group.cancelAll() }
            try await body()
        }
    }
}
