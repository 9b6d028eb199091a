//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import ServiceLifecycle

/// A message received from a ``MessageBus`` subscription.
public struct BusMessage: Sendable, Hashable {
    /// The channel it was published to.
    public var channel: String
    /// The payload.
    public var payload: [UInt8]

    /// Creates a message.
    public init(channel: String, payload: [UInt8]) {
        self.channel = channel
        self.payload = payload
    }
}

/// Publish and subscribe across replicas. Delivery is at most once, to subscribers present at publish time.
public protocol MessageBus: Service {
    /// Publishes `payload` on `channel`.
    func publish(_ payload: [UInt8], to channel: String) async throws
    /// Subscribes to `channels` for the duration of `body`. The subscription is active before `body` starts and
    /// is removed when it returns or throws.
    func subscribe<Result: Sendable>(
        to channels: [String],
        _ body: (AsyncStream<BusMessage>) async throws -> Result
    ) async throws -> Result

    /// Subscribes to `channels` for the duration of `body`, handing each message to `deliver` as it arrives instead
    /// of buffering it for a reader: a subscriber that needs no task of its own to read (an open
    /// `subscriptions/listen` stream, of which a replica may hold tens of thousands) costs no more than its callbacks.
    ///
    /// The subscription is active before `body` starts and is removed when it returns or throws. A message published
    /// while `body` is returning may still reach `deliver` just after, so `deliver` must tolerate a late call
    /// (yielding to a finished `AsyncStream` continuation, for example, does nothing).
    /// - Parameters:
    ///   - channels: the channels.
    ///   - deliver: called with every message, on whatever thread the bus delivers on; it must not block.
    ///   - onEnd: called when the bus will deliver no more messages, or may have lost some: a bus that can end its
    ///     subscriptions calls it when its client shuts down, and when its connection drops (the Redis bus: messages
    ///     published while it reconnects are lost, so the subscriber must re-sync rather than carry on with a gap).
    ///     The in-memory bus never ends a subscription. Some buses also call it as the subscription is removed,
    ///     after `body` returns or when the subscription could not be opened.
    ///   - body: runs while subscribed.
    func subscribe<Result: Sendable>(
        to channels: [String],
        deliver: @escaping @Sendable (BusMessage) -> Void,
        onEnd: @escaping @Sendable () -> Void,
        _ body: () async throws -> Result
    ) async throws -> Result
}

extension MessageBus {
    public func run() async throws {
        try? await gracefulShutdown()
    }

    /// The stream form built on the callback form, for a bus that implements the callback form natively: messages
    /// wait in a buffer of `bufferSize` (the oldest are dropped beyond it), and the stream finishes when the bus
    /// ends the subscription or `body` returns.
    package func bufferedSubscribe<Result: Sendable>(
        to channels: [String],
        bufferSize: Int,
        _ body: (AsyncStream<BusMessage>) async throws -> Result
    ) async throws -> Result {
        let (stream, continuation) = AsyncStream<BusMessage>.makeStream(bufferingPolicy: .bufferingNewest(bufferSize))
        defer { continuation.finish() }
        return try await subscribe(to: channels, deliver: { continuation.yield($0) }, onEnd: { continuation.finish() }) {
            try await body(stream)
        }
    }

    /// A default for buses that only offer the stream: a child task reads the stream and calls `deliver`.
    public func subscribe<Result: Sendable>(
        to channels: [String],
        deliver: @escaping @Sendable (BusMessage) -> Void,
        onEnd: @escaping @Sendable () -> Void,
        _ body: () async throws -> Result
    ) async throws -> Result {
        try await subscribe(to: channels) { messages in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await message in messages { deliver(message) }
                    if !Task.isCancelled { onEnd() }
                }
                defer { group.cancelAll() }
                return try await body()
            }
        }
    }
}
