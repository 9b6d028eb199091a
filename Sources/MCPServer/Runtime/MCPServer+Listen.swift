//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ServiceLifecycle

/// What an open `subscriptions/listen` stream carries, in order.
package enum ListenEvent: Sendable {
    /// A notification that matches the stream's filter.
    case notification(JSONValue)
    /// A keep-alive tick: the transport adds these; the runtime never sends one.
    case keepAlive
    /// The server is draining: the stream ends with ``MCPServer/listenFinalResponse(_:)``.
    case drained
    /// The message bus ended the subscription (it is shutting down): the stream ends with no response.
    case ended
}

/// An accepted `subscriptions/listen` request whose subscription is not open yet.
///
/// It lives as long as the stream, so it keeps only what it needs to rebuild its messages, not the messages.
package struct ListenSubscription: Sendable {
    /// The listen request's id, which names the subscription.
    package let id: JSONRPCRequestID
    /// The bus channels the filter needs.
    let channels: [String]
    /// The resource URIs the client subscribed to (empty when the server has no resources).
    let uris: Set<String>
    /// The list-changed kinds acknowledged: `toolsListChanged`, `promptsListChanged`, `resourcesListChanged`.
    let listChanged: [String]

    /// `{"io.modelcontextprotocol/subscriptionId": <request id>}`, the `_meta` of every message of the stream.
    var meta: JSONValue { Self.meta(id) }

    /// The `_meta` of every message of the listen stream whose request id is `id`.
    static func meta(_ id: JSONRPCRequestID) -> JSONValue { [MetaKey.subscriptionID: id.json] }

    /// The `notifications/subscriptions/acknowledged` message that opens the stream.
    package var acknowledgement: JSONValue {
        var acknowledged: [String: JSONValue] = [:]
        for kind in listChanged { acknowledged[kind] = true }
        if !uris.isEmpty { acknowledged["resourceSubscriptions"] = .array(uris.sorted().map { .string($0) }) }
        return [
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": ["_meta": meta, "notifications": .object(acknowledged)],
        ]
    }
}

extension MCPServer {
    /// How many events (notifications, and the transport's keep-alive ticks) one listen stream buffers for a slow
    /// client; beyond that the oldest are dropped.
    package static let listenBufferSize = 4096

    /// Checks a `subscriptions/listen` request (its `_meta`, its filter, and that the server is not draining)
    /// without opening anything; ``withListen(_:deliver:_:)`` opens it.
    package func acceptListen(_ request: IncomingRequest) throws(JSONRPCError) -> ListenSubscription {
        _ = try parseModernMeta(request.params)
        return try listenSubscription(request)
    }

    /// Reads the filter of a `subscriptions/listen` request.
    func listenSubscription(_ request: IncomingRequest) throws(JSONRPCError) -> ListenSubscription {
        guard case .object(let filter)? = request.params["notifications"] else {
            throw .invalidParams("subscriptions/listen needs a \"notifications\" filter object")
        }
        func flag(_ key: String) throws(JSONRPCError) -> Bool {
            guard let v = filter[key] else { return false }
            guard case .bool(let b) = v else { throw .invalidParams("notifications.\(key) must be a boolean") }
            return b
        }
        var uris: Set<String> = []
        if let list = filter["resourceSubscriptions"] {
            guard case .array(let items) = list else { throw .invalidParams("resourceSubscriptions must be an array") }
            for item in items {
                guard case .string(let uri) = item else { throw .invalidParams("resourceSubscriptions must hold strings") }
                uris.insert(uri)
            }
        }
        let caps = capabilities()
        let tools = try flag("toolsListChanged") && caps["tools"] != nil
        let prompts = try flag("promptsListChanged") && caps["prompts"] != nil
        let resourcesList = try flag("resourcesListChanged") && caps["resources"] != nil
        if caps["resources"] == nil { uris = [] }
        if isDraining { throw .internalError("server is shutting down; reconnect to another replica") }

        var listChanged: [String] = []
        var channels: [String] = []
        if tools {
            listChanged.append("toolsListChanged")
            channels.append(Self.toolsListChangedChannel)
        }
        if prompts {
            listChanged.append("promptsListChanged")
            channels.append(Self.promptsListChangedChannel)
        }
        if resourcesList {
            listChanged.append("resourcesListChanged")
            channels.append(Self.resourcesListChangedChannel)
        }
        if !uris.isEmpty { channels.append(Self.resourceUpdatedChannel) }
        return ListenSubscription(id: request.id, channels: channels, uris: uris, listChanged: listChanged)
    }

    /// The response that ends a listen stream when the server drains: a `complete` result.
    package func listenFinalResponse(_ subscription: ListenSubscription) -> JSONValue {
        ["jsonrpc": "2.0", "id": subscription.id.json, "result": complete(["_meta": subscription.meta])]
    }

    /// Opens an accepted listen stream's subscription and runs `body` while it is open.
    ///
    /// Events reach `deliver` as they happen, on whatever thread raised them, so a stream needs no task of its own
    /// beyond the one that runs `body`: matching bus messages as ``ListenEvent/notification(_:)``, then
    /// ``ListenEvent/drained`` once the server drains (at once if it already is), or ``ListenEvent/ended`` if the bus
    /// ends first. The subscription is live before `body` starts, so a `body` that sends the acknowledgement first
    /// misses nothing published after it. Graceful shutdown of the calling task's service drains the server too.
    /// - Parameters:
    ///   - subscription: what ``acceptListen(_:)`` accepted.
    ///   - deliver: receives the events; must not block, and must tolerate a call after `body` has returned.
    ///   - body: sends the acknowledgement, then the events, until it sees the end or the client goes away.
    package func withListen<Result: Sendable>(
        _ subscription: ListenSubscription,
        deliver: @escaping @Sendable (ListenEvent) -> Void,
        _ body: @concurrent () async throws -> Result
    ) async throws -> Result {
        stats.withLock { $0.openListenStreams += 1 }
        defer { stats.withLock { $0.openListenStreams -= 1 } }
        let uris = subscription.uris
        let id = subscription.id
        // Registered before subscribing, so that `body` is handed to the bus as it is, with no closure around it: every
        // async frame here lives as long as the stream. A drain that comes first is simply the stream's first event.
        let drainHandler = onDrain { deliver(.drained) }
        defer { removeDrainHandler(drainHandler) }
        return try await withGracefulShutdownHandler {
            try await backends.messageBus.subscribe(
                to: subscription.channels,
                deliver: { message in
                    if let notification = Self.notification(for: message, uris: uris, subscriptionID: id) { deliver(.notification(notification)) }
                },
                onEnd: { deliver(.ended) },
                body
            )
        } onGracefulShutdown: {
            self.beginDraining()
        }
    }

    /// Serves `subscriptions/listen` through a ``MessageSink``: acknowledges the filter, then forwards matching bus
    /// notifications until the client closes the stream (no response) or the server drains (a final `complete`
    /// result). The HTTP edge serves listen streams through ``withListen(_:deliver:_:)`` directly.
    func listen(_ request: IncomingRequest, meta: RequestMeta, sink: any MessageSink) async throws -> JSONValue {
        let subscription = try listenSubscription(request)
        let (events, continuation) = AsyncStream<ListenEvent>.makeStream(bufferingPolicy: .bufferingNewest(Self.listenBufferSize))
        defer { continuation.finish() }
        let drained = try await withListen(subscription, deliver: { continuation.yield($0) }) { () async throws -> Bool in
            try await sink.send(subscription.acknowledgement)
            for await event in events {
                switch event {
                case .notification(let notification): try await sink.send(notification)
                case .keepAlive: continue
                case .drained: return true
                case .ended: return false
                }
            }
            return false
        }
        guard drained else { throw CancellationError() }
        return complete(["_meta": subscription.meta])
    }

    /// The notification a bus message means for a subscriber of `uris`, or `nil` when it is not for it.
    /// - Parameter subscriptionID: the listen stream's id, put in the notification's `_meta`; `nil` for a legacy
    ///   session's stream.
    static func notification(for message: BusMessage, uris: Set<String>, subscriptionID: JSONRPCRequestID?) -> JSONValue? {
        let method: String
        var params: [String: JSONValue] = [:]
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
        // Built only for a message that matches: a bus message reaches every listen stream of the replica.
        if let subscriptionID { params["_meta"] = ListenSubscription.meta(subscriptionID) }
        guard !params.isEmpty else { return ["jsonrpc": "2.0", "method": .string(method)] }
        return ["jsonrpc": "2.0", "method": .string(method), "params": .object(params)]
    }
}
