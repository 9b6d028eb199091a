//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ServiceLifecycle
import Synchronization

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
    /// The tasks whose `notifications/tasks` the stream carries, and the principal they must belong to.
    var taskIDs: [String] = []
    var principal: String = ""

    /// `{"io.modelcontextprotocol/subscriptionId": <request id>}`, the `_meta` of every message of the stream.
    var meta: JSONValue { Self.meta(id) }

    /// The `_meta` of every message of the listen stream whose request id is `id`.
    static func meta(_ id: JSONRPCRequestID) -> JSONValue { [MetaKey.subscriptionID: id.json] }

    /// The `notifications/subscriptions/acknowledged` message that opens the stream.
    package var acknowledgement: JSONValue {
        var acknowledged: [String: JSONValue] = [:]
        for kind in listChanged { acknowledged[kind] = true }
        if !uris.isEmpty { acknowledged["resourceSubscriptions"] = .array(uris.sorted().map { .string($0) }) }
        if !taskIDs.isEmpty { acknowledged["taskIds"] = .array(taskIDs.map { .string($0) }) }
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
    /// without opening anything, and returns its stream: the subscription opens when the stream is written, and
    /// the acknowledgement is its first event.
    func listenStream(_ request: IncomingRequest) throws(JSONRPCError) -> EventStream {
        _ = try parseStatelessMeta(request.params)
        return listenStream(try listenSubscription(request))
    }

    /// The stream of an accepted listen subscription, with its acknowledgement already first.
    func listenStream(_ subscription: ListenSubscription) -> EventStream {
        let (events, continuation) = AsyncStream<OutboundEvent>.makeStream(bufferingPolicy: .bufferingNewest(Self.listenBufferSize))
        // The acknowledgement goes first; a drain that comes before the subscription is open simply follows it.
        let head = EventStream.Head(.message(subscription.acknowledgement))
        let supervisor = self.supervisor
        let bus = backends.messageBus
        let channels = subscription.channels
        let id = subscription.id
        // Built here rather than where they are used: only what they capture is kept, not the subscription.
        let deliver: @Sendable (BusMessage) -> Void = { [uris = subscription.uris, principal = subscription.principal] message in
            if let notification = Self.notification(for: message, uris: uris, subscriptionID: id, principal: principal) {
                continuation.yield(.message(notification))
            }
        }
        // The drain ends the stream with its final result, so that the client listens again elsewhere.
        let onDrain: @Sendable () -> Void = {
            continuation.yield(.message(self.listenFinalResponse(subscription)))
            continuation.finish()
        }
        // So does a bus that ends the subscription (it shut down, or its connection dropped and messages may be
        // lost), so that the client re-syncs; but not one that could not open it at all: that request's one response
        // is the error that replaces the acknowledgement.
        let onEnd: @Sendable () -> Void = {
            if head.wasTaken { continuation.yield(.message(self.listenFinalResponse(subscription))) }
            continuation.finish()
        }
        return EventStream(events: events, continuation: continuation, head: head) { write in
            // This closure's frame lives as long as the stream: it keeps only what it needs.
            supervisor.statistics.withLock { $0.openListenStreams += 1 }
            defer { supervisor.statistics.withLock { $0.openListenStreams -= 1 } }
            let drainHandler = supervisor.onDrain(onDrain)
            defer { supervisor.removeDrainHandler(drainHandler) }
            do {
                try await withGracefulShutdownHandler {
                    try await bus.subscribe(to: channels, deliver: deliver, onEnd: onEnd, write)
                } onGracefulShutdown: {
                    supervisor.beginDraining()
                }
            } catch where !(error is CancellationError) && head.replace(with: self.listenRefusal(error, id: id)) {
                // The bus could not subscribe (Redis down, say) before anything was written: the request's one
                // response is an error event in place of the acknowledgement.
                continuation.finish()
                try await write()
            }
        }
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
        let caps = registry.capabilities()
        let tools = try flag("toolsListChanged") && caps["tools"] != nil
        let prompts = try flag("promptsListChanged") && caps["prompts"] != nil
        let resourcesList = try flag("resourcesListChanged") && caps["resources"] != nil
        if caps["resources"] == nil { uris = [] }
        if isDraining { throw .internalError("server is shutting down; reconnect to another replica") }

        var listChanged: [String] = []
        var channels: [String] = []
        if tools {
            listChanged.append("toolsListChanged")
            channels.append(ClusterWire.Channel.toolsListChanged)
        }
        if prompts {
            listChanged.append("promptsListChanged")
            channels.append(ClusterWire.Channel.promptsListChanged)
        }
        if resourcesList {
            listChanged.append("resourcesListChanged")
            channels.append(ClusterWire.Channel.resourcesListChanged)
        }
        if !uris.isEmpty { channels.append(ClusterWire.Channel.resourceUpdated) }
        var taskIDs: [String] = []
        if let list = filter["taskIds"] {
            guard case .array(let items) = list else { throw .invalidParams("taskIds must be an array") }
            let capabilities = request.params["_meta"]?[MetaKey.clientCapabilities]
            guard capabilities?["extensions"]?[Self.tasksExtension] != nil else { throw Self.tasksCapabilityMissing }
            for item in items {
                guard case .string(let task) = item else { throw .invalidParams("taskIds must hold strings") }
                if !taskIDs.contains(task) { taskIDs.append(task) }
            }
        }
        // Another principal's task is never told apart from an unknown one: its notifications are filtered out.
        return ListenSubscription(
            id: request.id, channels: channels + taskIDs.map(ClusterWire.Channel.task), uris: uris, listChanged: listChanged,
            taskIDs: taskIDs, principal: request.principal.id
        )
    }

    /// The response that ends a listen stream when the server drains: a `complete` result.
    func listenFinalResponse(_ subscription: ListenSubscription) -> JSONValue {
        ["jsonrpc": "2.0", "id": subscription.id.json, "result": completeResult(["_meta": subscription.meta])]
    }

    /// Serves `subscriptions/listen` through a ``MessageSink``: acknowledges the filter, then forwards matching bus
    /// notifications until the client closes the stream (no response) or the server drains (a final `complete`
    /// result). Transports serve listen streams as the ``EventStream`` of ``respond(to:)``; this is the same stream.
    func listen(_ request: IncomingRequest, meta: RequestMeta, sink: any MessageSink) async throws -> JSONValue {
        let stream = listenStream(try listenSubscription(request))
        let final = Mutex<JSONValue?>(nil)
        try await stream.withEvents {
            if case .message(let acknowledgement)? = stream.takeFirst() {
                guard acknowledgement["id"] == nil else {
                    final.withLock { $0 = acknowledgement }
                    return
                }
                try await sink.send(acknowledgement)
            }
            for await event in stream.events {
                guard case .message(let message) = event else { continue }
                if message["id"] != nil {
                    final.withLock { $0 = message }
                    return
                }
                try await sink.send(message)
            }
        }
        guard let result = final.withLock({ $0 })?["result"] else { throw CancellationError() }
        return result
    }

    /// The error that answers a listen whose subscription could not be opened. Not inlined: the stream's frame keeps
    /// none of this.
    @inline(never)
    func listenRefusal(_ error: any Error, id: JSONRPCRequestID) -> OutboundEvent {
        logger.warning("listen subscription failed", metadata: ["mcp.error": "\(error)"])
        return .message(JSONRPCMessage.errorResponse(id: id, error: .internalError("could not subscribe to notifications; retry later")).json)
    }

    /// The notification a bus message means for a subscriber of `uris`, or `nil` when it is not for it.
    /// - Parameter subscriptionID: the listen stream's id, put in the notification's `_meta`; `nil` for a legacy
    ///   session's stream.
    static func notification(for message: BusMessage, uris: Set<String>, subscriptionID: JSONRPCRequestID?, principal: String = "") -> JSONValue? {
        let method: String
        var params: [String: JSONValue] = [:]
        if message.channel.hasPrefix(ClusterWire.Channel.taskPrefix) {
            guard let payload = try? JSONParser().parse(message.payload), payload["p"]?.stringValue == principal,
                case .object(let task)? = payload["t"]
            else { return nil }
            params = task
            if let subscriptionID { params["_meta"] = ListenSubscription.meta(subscriptionID) }
            return ["jsonrpc": "2.0", "method": "notifications/tasks", "params": .object(params)]
        }
        switch message.channel {
        case ClusterWire.Channel.toolsListChanged: method = "notifications/tools/list_changed"
        case ClusterWire.Channel.promptsListChanged: method = "notifications/prompts/list_changed"
        case ClusterWire.Channel.resourcesListChanged: method = "notifications/resources/list_changed"
        case ClusterWire.Channel.resourceUpdated:
            guard let uri = ClusterWire.Payload.resourceUpdatedURI(message.payload), uris.contains(uri) else { return nil }
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
