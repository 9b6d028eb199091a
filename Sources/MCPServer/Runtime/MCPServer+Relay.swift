//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging

/// Messages between replicas, over the ``MessageBus``.
///
/// - `mcp:replica:<replicaID>`: answers to server-to-client requests, routed by the replica named in the request id.
/// - `mcp:cancel`: `notifications/cancelled` and session ends, for every replica (client request ids do not route).
extension MCPServer {
    static let cancelChannel = "mcp:cancel"
    static func replicaChannel(_ replicaID: String) -> String { "mcp:replica:\(replicaID)" }

    /// Routes the client's answer to a server-to-client request to the replica whose handler waits for it.
    ///
    /// Local answers are delivered directly. An answer for another replica is claimed once in the session store (so a
    /// duplicate is refused on any replica) and relayed over the bus.
    /// - Returns: `false` when the answer is refused: unknown here or already answered.
    public func routeClientResponse(sessionID: String, id: JSONRPCRequestID, result: Result<JSONValue, JSONRPCError>) async throws -> Bool {
        guard case .string(let key) = id else { return false }
        let parts = key.split(separator: ".")
        guard parts.count == 3, parts[0] == "s2c" else { return false }
        let replica = String(parts[1])
        if replica == configuration.replicaID {
            return deliverClientResponse(sessionID: sessionID, id: id, result: result)
        }
        let claim = StoreKey.answerClaim(session: sessionID, requestID: key)
        guard try await backends.sessionStore.create(claim, value: true, ttl: configuration.clientRequestTimeout * 2) != nil else {
            return false
        }
        var payload: [String: JSONValue] = ["s": .string(sessionID), "id": .string(key)]
        switch result {
        case .success(let value): payload["result"] = value
        case .failure(let error): payload["error"] = error.json
        }
        try await backends.messageBus.publish(JSONWriter.encode(.object(payload)), to: Self.replicaChannel(replica))
        return true
    }

    /// Cancels a legacy request wherever it runs.
    func broadcastCancel(sessionID: String, requestID: JSONRPCRequestID?) async {
        cancelLocally(sessionID: sessionID, requestID: requestID)
        var payload: [String: JSONValue] = ["s": .string(sessionID)]
        if let requestID { payload["id"] = requestID.json }
        do {
            try await backends.messageBus.publish(JSONWriter.encode(.object(payload)), to: Self.cancelChannel)
        } catch {
            logger.warning("could not relay a cancellation", metadata: ["mcp.error": "\(error)"])
        }
    }

    func cancelLocally(sessionID: String, requestID: JSONRPCRequestID?) {
        if let requestID {
            let cancel = runningLegacyHandlers.withLock { $0["\(sessionID)|\(requestID.json)"] }
            cancel?()
        } else {
            endLocalSession(sessionID)
        }
    }

    /// Serves this replica's relay channels until cancelled.
    func serveRelays() async throws {
        try await backends.messageBus.subscribe(to: [Self.replicaChannel(configuration.replicaID), Self.cancelChannel]) { messages in
            for await message in messages {
                guard let payload = try? JSONParser().parse(message.payload), case .string(let session)? = payload["s"] else { continue }
                if message.channel == Self.cancelChannel {
                    cancelLocally(sessionID: session, requestID: payload["id"].flatMap(JSONRPCRequestID.init(json:)))
                    continue
                }
                guard let raw = payload["id"], let id = JSONRPCRequestID(json: raw) else { continue }
                let result: Result<JSONValue, JSONRPCError>
                if let value = payload["result"] {
                    result = .success(value)
                } else {
                    let e = payload["error"]
                    result = .failure(JSONRPCError(code: e?["code"]?.intValue ?? JSONRPCError.internalErrorCode, message: e?["message"]?.stringValue ?? "error"))
                }
                if !deliverClientResponse(sessionID: session, id: id, result: result) {
                    logger.debug("relayed answer found no waiting request", metadata: ["mcp.request.id": "\(id)"])
                }
            }
        }
    }
}
