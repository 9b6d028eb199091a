//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import Synchronization

/// What crosses between replicas for session requests: the client's answers to server-to-client requests, which go
/// to the replica whose handler waits, and cancellations, which go to whichever replica runs the handler.
///
/// It holds only what is tied to this process: the slots of handlers waiting here, and the cancel handles of
/// handlers running here. The channels and payloads are in ``ClusterWire``.
final class Relay: Sendable {
    let replicaID: String
    let backends: Backends
    let answerClaimTTL: Duration
    let logger: Logger
    let leases: Leases
    private let pending = Mutex<[String: ResponseSlot]>([:])
    private let counter = Mutex(0)
    /// Session handlers running on this replica: "sessionID|requestID" → cancel.
    private let running = Mutex<[String: @Sendable () -> Void]>([:])

    init(replicaID: String, backends: Backends, answerClaimTTL: Duration, logger: Logger, leases: Leases) {
        self.replicaID = replicaID
        self.backends = backends
        self.answerClaimTTL = answerClaimTTL
        self.logger = logger
        self.leases = leases
    }

    // MARK: Server-to-client requests

    /// A new server-to-client request id, naming this replica, and the slot its answer will fill.
    func open(session: String) -> (id: String, slot: ResponseSlot) {
        let n = counter.withLock { c -> Int in
            c += 1
            return c
        }
        let id = ClusterWire.Identifier.clientRequest(replica: replicaID, incarnation: leases.incarnation, number: n)
        let slot = ResponseSlot(sessionID: session)
        pending.withLock { $0[id] = slot }
        return (id, slot)
    }

    /// Forgets a slot that ``open(session:)`` made.
    func close(_ id: String) {
        _ = pending.withLock { $0.removeValue(forKey: id) }
    }

    /// Delivers the client's answer to a handler waiting on this replica.
    /// - Returns: `false` if no request with this id (of this session) waits here: unknown or already answered.
    func deliver(session: String, id: JSONRPCRequestID, result: Result<JSONValue, JSONRPCError>) -> Bool {
        guard case .string(let key) = id else { return false }
        let slot = pending.withLock { map -> ResponseSlot? in
            guard let slot = map[key], slot.sessionID == session else { return nil }
            map[key] = nil
            return slot
        }
        guard let slot else { return false }
        switch result {
        case .success(let value):
            slot.resolve(.success(value))
        case .failure(let error):
            slot.resolve(.failure(ToolFailure(description: "the client answered with an error: \(error.message) (\(error.code))")))
        }
        return true
    }

    /// Routes the client's answer to a server-to-client request to the replica whose handler waits for it.
    ///
    /// Local answers are delivered directly. An answer for another replica is claimed once in the session store (so a
    /// duplicate is refused on any replica) and relayed over the bus.
    /// - Parameters:
    ///   - retry: this is another try of the same answer, after a try that failed: a claim that already holds this very
    ///     answer was written by that try, and is relayed rather than refused as a duplicate.
    /// - Returns: `false` when the answer is refused: unknown here or already answered.
    func route(session: String, id: JSONRPCRequestID, result: Result<JSONValue, JSONRPCError>, retry: Bool = false) async throws -> Bool {
        guard case .string(let key) = id, let (replica, incarnation) = ClusterWire.Identifier.replica(ofClientRequest: key) else { return false }
        if replica == replicaID, incarnation == leases.incarnation {
            return deliver(session: session, id: id, result: result)
        }
        let claim = ClusterWire.Key.answerClaim(session: session, requestID: key)
        // The claim holds the answer too: a waiting handler whose replica missed the bus message (its subscription
        // was reconnecting after a store outage) reads it from there.
        let answer = ClusterWire.Payload.relayedAnswer(session: session, requestID: key, result: result)
        let value = JSONValue.string(String(decoding: answer, as: UTF8.self))
        if try await backends.sessionStore.create(claim, value: value, ttl: answerClaimTTL) == nil {
            guard retry, let held = try await backends.sessionStore.get(claim), held.value == value else { return false }
        }
        if replica == replicaID {
            // An earlier run of this replica asked, and died: nothing waits for the answer.
            logger.info(
                "dropped an answer to a server-to-client request of this replica's earlier run",
                metadata: ["mcp.request.id": "\(key)"]
            )
            return true
        }
        if (try? await leases.isAlive(replica, incarnation: incarnation)) == false {
            // Relayed all the same: a lease can be missing for a moment without its replica being gone (the store
            // restarted), and an answer to a replica that is truly gone reaches nobody. The request's stream ends
            // with -32010 in that case (SessionStreams).
            logger.info(
                "relaying an answer to a replica that holds no lease: if it has stopped, nothing waits for it",
                metadata: ["mcp.request.id": "\(key)", "mcp.peer": "\(replica)"]
            )
        }
        do {
            try await backends.messageBus.publish(
                ClusterWire.Payload.relayedAnswer(session: session, requestID: key, result: result),
                to: ClusterWire.Channel.replica(replica)
            )
        } catch {
            // Not relayed: give the answer back its chance, so that the client's retry is not refused as a duplicate.
            try? await backends.sessionStore.delete(claim)
            throw error
        }
        return true
    }

    /// Delivers the answers that other replicas claimed for handlers waiting here, read from their claims in the
    /// store: what the bus could not bring while this replica's relay subscription was away.
    func collectStoredAnswers() async {
        for (id, session) in pending.withLock({ $0.map { ($0.key, $0.value.sessionID) } }) {
            do {
                _ = try await collectStoredAnswer(session: session, id: id)
            } catch {
                logger.debug("could not look for a relayed answer in the store", metadata: ["mcp.request.id": "\(id)", "mcp.error": "\(error)"])
            }
        }
    }

    /// Delivers an answer that another replica claimed for a handler waiting here, read from its claim in the store.
    /// - Returns: whether an answer was delivered.
    func collectStoredAnswer(session: String, id: String) async throws -> Bool {
        guard let stored = try await backends.sessionStore.get(ClusterWire.Key.answerClaim(session: session, requestID: id)),
            case .string(let payload) = stored.value, let relayed = ClusterWire.Payload.relayed(Array(payload.utf8)),
            relayed.session == session, let result = relayed.result
        else { return false }
        return deliver(session: session, id: .string(id), result: result)
    }

    // MARK: Cancellation

    /// Tells every replica that a session has ended: they cancel its handlers (done first: it never fails, and those
    /// here are cancelled even when the bus is down) and end its streams.
    func announceEnd(session: String) async throws {
        await broadcastCancel(session: session, request: nil)
        try await backends.messageBus.publish(ClusterWire.Payload.sessionDeleted, to: ClusterWire.Channel.session(session))
    }

    /// Records a handler running here, so that a cancellation from any replica reaches it.
    /// - Returns: the key for ``forget(_:)``.
    func track(session: String, request: JSONRPCRequestID, cancel: @escaping @Sendable () -> Void) -> String {
        let key = "\(session)|\(request.json)"
        running.withLock { $0[key] = cancel }
        return key
    }

    /// Forgets a handler that ``track(session:request:cancel:)`` recorded.
    func forget(_ key: String) {
        _ = running.withLock { $0.removeValue(forKey: key) }
    }

    /// Cancels a session's request (or, with no request id, every handler of the session) wherever it runs.
    func broadcastCancel(session: String, request: JSONRPCRequestID?) async {
        cancelLocally(session: session, request: request)
        do {
            try await backends.messageBus.publish(ClusterWire.Payload.cancel(session: session, requestID: request), to: ClusterWire.Channel.cancel)
        } catch {
            logger.warning("could not relay a cancellation", metadata: ["mcp.error": "\(error)"])
        }
    }

    func cancelLocally(session: String, request: JSONRPCRequestID?) {
        let cancels: [@Sendable () -> Void]
        if let request {
            cancels = running.withLock { $0["\(session)|\(request.json)"].map { [$0] } ?? [] }
        } else {
            cancels = running.withLock { map in map.filter { $0.key.hasPrefix("\(session)|") }.map(\.value) }
        }
        for cancel in cancels { cancel() }
    }

    // MARK: Serving

    /// Serves this replica's relay channels until cancelled, subscribing again whenever the bus ends the
    /// subscription (a lost connection to the store).
    func serveUntilCancelled() async {
        var backoff = Duration.milliseconds(50)
        while !Task.isCancelled {
            do {
                try await serve()
                backoff = .milliseconds(50)
            } catch {
                logger.warning("relay subscription failed; subscribing again", metadata: ["mcp.error": "\(error)"])
                backoff = min(backoff * 2, .seconds(2))
            }
            if !Task.isCancelled { try? await Task.sleep(for: backoff) }
        }
    }

    /// Serves this replica's relay channels until the bus ends the subscription.
    func serve() async throws {
        let cancelChannel = ClusterWire.Channel.cancel
        try await backends.messageBus.subscribe(to: [ClusterWire.Channel.replica(replicaID), cancelChannel]) { messages in
            // Subscribed (again): an answer relayed while this replica was not (its subscription was being
            // re-established after a lost connection) never reached it, but its claim holds it.
            await collectStoredAnswers()
            for await message in messages {
                guard let relayed = ClusterWire.Payload.relayed(message.payload) else { continue }
                if message.channel == cancelChannel {
                    cancelLocally(session: relayed.session, request: relayed.requestID)
                    continue
                }
                guard let id = relayed.requestID, let result = relayed.result else { continue }
                if !deliver(session: relayed.session, id: id, result: result) {
                    logger.debug("relayed answer found no waiting request", metadata: ["mcp.request.id": "\(id)"])
                }
            }
        }
    }
}
