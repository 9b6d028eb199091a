//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ServiceLifecycle
import Synchronization

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
/// ``clientGone()`` when the client goes away. The stream ends when ``events`` finishes.
package struct EventStream: Sendable {
    typealias Continuation = AsyncStream<OutboundEvent>.Continuation
    /// Opens what feeds a stream, runs the transport's writer, and closes it when the writer returns.
    @usableFromInline typealias Run = @Sendable (_ write: @concurrent () async throws -> Void) async throws -> Void

    /// The events after ``takeFirst()``, in order: iterate them inside ``withEvents(_:)``.
    package let events: AsyncStream<OutboundEvent>
    let continuation: Continuation
    /// What feeds the stream, as a closure rather than an enum to switch on: called from the transport's own frame
    /// (``withEvents(_:)`` is inlined), it adds no frame of its own to the chain a listen stream keeps.
    @usableFromInline let run: Run
    /// Cancels what only this stream was waiting for (a stateless handler) when the client goes away.
    let cancel: (@Sendable () -> Void)?
    /// The event that goes before ``events``, kept apart so that a source that fails before anything is written can
    /// still put its error in its place: write ``Head/take()`` first.
    package let head: Head?

    /// The first event of a stream, taken once.
    package final class Head: Sendable {
        let state: Mutex<(taken: Bool, event: OutboundEvent?)>
        init(_ event: OutboundEvent) { state = Mutex((false, event)) }

        /// Whether the stream has begun to be written (``take()`` was called).
        var wasTaken: Bool { state.withLock { $0.taken } }

        /// The event to write before the stream's ``EventStream/events``; `nil` after the first call.
        package func take() -> OutboundEvent? {
            state.withLock { s in
                s.taken = true
                defer { s.event = nil }
                return s.event
            }
        }
    }

    init(
        events: AsyncStream<OutboundEvent>,
        continuation: Continuation,
        head: Head? = nil,
        cancel: (@Sendable () -> Void)? = nil,
        run: @escaping Run
    ) {
        self.events = events
        self.continuation = continuation
        self.head = head
        self.cancel = cancel
        self.run = run
    }

    /// A stream of `events` and nothing more.
    static func buffered(_ events: [OutboundEvent]) -> EventStream {
        let (stream, continuation) = AsyncStream<OutboundEvent>.makeStream()
        for event in events { continuation.yield(event) }
        continuation.finish()
        return EventStream(events: stream, continuation: continuation) { write in try await write() }
    }

    /// The stream of a running stateless handler, which it owns: the handler is cancelled when the stream ends or
    /// the client goes away.
    static func handler(_ task: Task<Void, Never>, events: AsyncStream<OutboundEvent>, continuation: Continuation) -> EventStream {
        EventStream(events: events, continuation: continuation, cancel: { task.cancel() }) { write in
            defer { task.cancel() }
            try await write()
        }
    }

    /// A stream fed by `produce`, which runs while the stream is written: the stream ends when `produce` returns,
    /// and `produce` is cancelled when the client goes away. `finally` runs once both are done. `first`, if given, is
    /// written before anything `produce` yields, even if `produce` fails at once.
    static func produced(
        first: OutboundEvent? = nil,
        finally: (@Sendable () async -> Void)? = nil,
        _ produce: @escaping @Sendable (Continuation) async -> Void
    ) -> EventStream {
        let (stream, continuation) = AsyncStream<OutboundEvent>.makeStream()
        return EventStream(events: stream, continuation: continuation, head: first.map(Head.init)) { write in
            do {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask {
                        await produce(continuation)
                        continuation.finish()
                    }
                    defer { group.cancelAll() }
                    try await write()
                }
            } catch {
                await finally?()
                throw error
            }
            await finally?()
        }
    }

    /// A keep-alive tick from the transport's timer.
    package func keepAlive() {
        continuation.yield(.keepAlive)
    }

    /// The client went away: the stream ends, and a handler that only it was waiting for is cancelled.
    package func clientGone() {
        cancel?()
        continuation.finish()
    }

    /// The event to write before ``events``, if there is one; `nil` after the first call.
    package func takeFirst() -> OutboundEvent? {
        head?.take()
    }

    /// Opens what feeds the stream and runs `write`, which writes ``takeFirst()`` and then iterates ``events``; closes
    /// it when `write` returns.
    ///
    /// `write` should return when the sequence ends or a write fails. A listen stream's whole life runs inside this
    /// call, so everything between the transport's frame and `write` stays as shallow as it can: this is inlined into
    /// the transport, and `write` goes to the bus as it is, because a listen stream's memory is mostly the async
    /// frames on this chain (docs/performance.md, "Frame sizes"; `scripts/check-stream-memory` guards it).
    @inlinable
    package func withEvents(_ write: @concurrent () async throws -> Void) async throws {
        try await run(write)
    }
}

extension EventStream.Head {
    /// Replaces the first event with `event`, if it has not been taken yet.
    /// - Returns: whether it did.
    func replace(with event: @autoclosure () -> OutboundEvent) -> Bool {
        state.withLock { s in
            guard !s.taken else { return false }
            s.event = event()
            return true
        }
    }
}
