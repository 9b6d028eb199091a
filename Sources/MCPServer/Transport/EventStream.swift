//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ServiceLifecycle

/// One event of an ``EventStream``, in the order the transport must write them.
package enum OutboundEvent: Sendable {
    /// A JSON-RPC message with no event id (stateless streams are not resumable).
    case message(JSONValue)
    /// A JSON-RPC message, already encoded, with the event id that resumes after it (session streams).
    case logged(id: String, data: [UInt8])
    /// The priming event of a session stream (SEP-1699): an id, empty data, and how long the client waits before it
    /// reconnects.
    case priming(id: String, retry: Duration)
    /// A keep-alive comment.
    case keepAlive
    /// A named event with text data, such as the `endpoint` event of the 2024-11-05 transport.
    case named(event: String, data: String)
}

/// The reply of a request whose answer is a stream of events: a stateless handler that streams, a
/// `subscriptions/listen` stream, a session's request or standalone stream.
///
/// The runtime owns what feeds it (a handler task, a bus subscription, an event-log tail); the transport only
/// writes what ``withEvents(_:)`` hands it, adds ``keepAlive()`` ticks on its own timer, and calls
/// ``clientGone()`` when the client goes away. The stream ends when the sequence finishes.
package struct EventStream: Sendable {
    typealias Continuation = AsyncStream<OutboundEvent>.Continuation

    /// What feeds the stream.
    enum Source: Sendable {
        /// Nothing more: the events are all in the buffer.
        case buffered
        /// A running stateless handler, owned by the stream: it is cancelled when the stream ends.
        case handler(Task<Void, Never>)
        /// An accepted `subscriptions/listen` request, whose bus subscription opens when the stream is written.
        case listen(MCPServer, ListenSubscription)
        /// Work that yields events while the stream is written, and ends it by returning; then `finally` runs.
        case producer(@Sendable (Continuation) async -> Void, finally: (@Sendable () async -> Void)?)
    }

    /// The events, in order.
    let events: AsyncStream<OutboundEvent>
    let continuation: Continuation
    let source: Source

    init(events: AsyncStream<OutboundEvent>, continuation: Continuation, source: Source) {
        self.events = events
        self.continuation = continuation
        self.source = source
    }

    /// A stream of `events` and nothing more.
    static func buffered(_ events: [OutboundEvent]) -> EventStream {
        let (stream, continuation) = AsyncStream<OutboundEvent>.makeStream()
        for event in events { continuation.yield(event) }
        continuation.finish()
        return EventStream(events: stream, continuation: continuation, source: .buffered)
    }

    /// A stream fed by `produce`, which runs while the stream is written: the stream ends when `produce` returns,
    /// and `produce` is cancelled when the client goes away. `finally` runs once both are done, not cancelled.
    static func produced(
        finally: (@Sendable () async -> Void)? = nil,
        _ produce: @escaping @Sendable (Continuation) async -> Void
    ) -> EventStream {
        let (stream, continuation) = AsyncStream<OutboundEvent>.makeStream()
        return EventStream(events: stream, continuation: continuation, source: .producer(produce, finally: finally))
    }

    /// A keep-alive tick from the transport's timer.
    package func keepAlive() {
        continuation.yield(.keepAlive)
    }

    /// The client went away: the stream ends, and a handler that only it was waiting for is cancelled.
    package func clientGone() {
        if case .handler(let task) = source { task.cancel() }
        continuation.finish()
    }

    /// Opens what feeds the stream and runs `write` with its events; closes it when `write` returns.
    ///
    /// `write` should return when the sequence ends or a write fails. A listen stream's whole life runs inside this
    /// call, so everything between the transport's frame and `write` stays as shallow as it can: a listen stream's
    /// memory is mostly the async frames on this chain (docs/performance.md).
    package func withEvents(_ write: @concurrent (AsyncStream<OutboundEvent>) async throws -> Void) async throws {
        switch source {
        case .buffered:
            try await write(events)
        case .handler(let task):
            defer { task.cancel() }
            try await write(events)
        case .producer(let produce, let finally):
            do {
                try await Self.run(produce, continuation: continuation, events: events, write)
            } catch {
                await finally?()
                throw error
            }
            await finally?()
        case .listen(let server, let subscription):
            // Inline rather than a call: this frame lives as long as the stream.
            server.supervisor.statistics.withLock { $0.openListenStreams += 1 }
            defer { server.supervisor.statistics.withLock { $0.openListenStreams -= 1 } }
            let continuation = self.continuation
            let uris = subscription.uris
            let id = subscription.id
            // The acknowledgement is already first in the buffer; a drain that comes before the subscription is open
            // simply follows it.
            let drainHandler = server.supervisor.onDrain {
                continuation.yield(.message(server.listenFinalResponse(subscription)))
                continuation.finish()
            }
            defer { server.supervisor.removeDrainHandler(drainHandler) }
            var opened = false
            do {
                try await withGracefulShutdownHandler {
                    try await server.backends.messageBus.subscribe(
                        to: subscription.channels,
                        deliver: { message in
                            if let notification = MCPServer.notification(for: message, uris: uris, subscriptionID: id) {
                                continuation.yield(.message(notification))
                            }
                        },
                        onEnd: { continuation.finish() }
                    ) {
                        opened = true
                        try await write(events)
                    }
                } onGracefulShutdown: {
                    server.supervisor.beginDraining()
                }
            } catch where !opened && !(error is CancellationError) {
                // The bus could not subscribe (Redis down, say): the request's one response is an error event in
                // place of the acknowledgement.
                try await write(Self.buffered([.message(Self.listenRefusal(error, id: id, server: server))]).events)
            }
        }
    }

    /// Runs `produce` beside `write`, and stops it when `write` returns.
    private static func run(
        _ produce: @escaping @Sendable (Continuation) async -> Void,
        continuation: Continuation,
        events: AsyncStream<OutboundEvent>,
        _ write: @concurrent (AsyncStream<OutboundEvent>) async throws -> Void
    ) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                await produce(continuation)
                continuation.finish()
            }
            defer { group.cancelAll() }
            try await write(events)
        }
    }

    /// The error that answers a listen whose subscription could not be opened. Not inlined: the stream's frame
    /// keeps none of this.
    @inline(never)
    static func listenRefusal(_ error: any Error, id: JSONRPCRequestID, server: MCPServer) -> JSONValue {
        server.logger.warning("listen subscription failed", metadata: ["mcp.error": "\(error)"])
        return JSONRPCMessage.errorResponse(id: id, error: .internalError("could not subscribe to notifications; retry later")).json
    }
}
