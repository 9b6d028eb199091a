//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

extension MCPServer {
    /// Serves `subscriptions/listen`: acknowledges the filter, then forwards matching bus notifications until the
    /// client closes the stream (no response) or the server drains (a final `complete` result).
    func listen(_ request: IncomingRequest, meta: RequestMeta, sink: any MessageSink) async throws -> JSONValue {
        guard case .object(let filter)? = request.params["notifications"] else {
            throw JSONRPCError.invalidParams("subscriptions/listen needs a \"notifications\" filter object")
        }
        func flag(_ key: String) throws(JSONRPCError) -> Bool {
            guard let v = filter[key] else { return false }
            guard case .bool(let b) = v else { throw .invalidParams("notifications.\(key) must be a boolean") }
            return b
        }
        var uris: Set<String> = []
        if let list = filter["resourceSubscriptions"] {
            guard case .array(let items) = list else { throw JSONRPCError.invalidParams("resourceSubscriptions must be an array") }
            for item in items {
                guard case .string(let uri) = item else { throw JSONRPCError.invalidParams("resourceSubscriptions must hold strings") }
                uris.insert(uri)
            }
        }
        let caps = capabilities()
        let tools = try flag("toolsListChanged") && caps["tools"] != nil
        let prompts = try flag("promptsListChanged") && caps["prompts"] != nil
        let resourcesList = try flag("resourcesListChanged") && caps["resources"] != nil
        if caps["resources"] == nil { uris = [] }
        if isDraining { throw JSONRPCError.internalError("server is shutting down; reconnect to another replica") }

        var acknowledged: [String: JSONValue] = [:]
        var channels: [String] = []
        if tools {
            acknowledged["toolsListChanged"] = true
            channels.append(Self.toolsListChangedChannel)
        }
        if prompts {
            acknowledged["promptsListChanged"] = true
            channels.append(Self.promptsListChangedChannel)
        }
        if resourcesList {
            acknowledged["resourcesListChanged"] = true
            channels.append(Self.resourcesListChangedChannel)
        }
        if !uris.isEmpty {
            acknowledged["resourceSubscriptions"] = .array(uris.sorted().map { .string($0) })
            channels.append(Self.resourceUpdatedChannel)
        }
        let subscriptionMeta: JSONValue = [MetaKey.subscriptionID: request.id.json]
        let subscribedURIs = uris
        stats.withLock { $0.openListenStreams += 1 }
        defer { stats.withLock { $0.openListenStreams -= 1 } }

        let drained = try await backends.messageBus.subscribe(to: channels) { messages -> Bool in
            // The subscription is live before the acknowledgement goes out, so nothing published after it is missed.
            try await sink.send([
                "jsonrpc": "2.0",
                "method": "notifications/subscriptions/acknowledged",
                "params": ["_meta": subscriptionMeta, "notifications": .object(acknowledged)],
            ])
            return try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for await message in messages {
                        guard let notification = Self.notification(for: message, uris: subscribedURIs, meta: subscriptionMeta) else { continue }
                        try await sink.send(notification)
                    }
                    return false
                }
                group.addTask {
                    await self.waitForDrain()
                    return true
                }
                defer { group.cancelAll() }
                return try await group.next() ?? false
            }
        }
        guard drained else { throw CancellationError() }
        return complete(["_meta": subscriptionMeta])
    }

    /// The notification a bus message means for a subscriber of `uris`, or `nil` when it is not for it.
    /// - Parameter meta: the `_meta` to put in its params (the listen stream's subscription id), if any.
    static func notification(for message: BusMessage, uris: Set<String>, meta: JSONValue?) -> JSONValue? {
        let method: String
        var params: [String: JSONValue] = [:]
        if let meta { params["_meta"] = meta }
        switch message.channel {
        case toolsListChangedChannel: method = "notifications/tools/list_changed"
        case promptsListChangedChannel: method = "notifications/prompts/list_changed"
        case resourcesListChangedChannel: method = "notifications/resources/list_changed"
        case resourceUpdatedChannel:
            guard let payload = try? JSONParser().parse(message.payload), case .string(let uri)? = payload["uri"], uris.contains(uri)
            else { return nil }
            method = "notifications/resources/updated"
            params["uri"] = .string(uri)
        default:
            return nil
        }
        guard !params.isEmpty else { return ["jsonrpc": "2.0", "method": .string(method)] }
        return ["jsonrpc": "2.0", "method": .string(method), "params": .object(params)]
    }
}
