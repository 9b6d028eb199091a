//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

extension RedisClient {
    /// Subscribes to `channels` for the duration of `body`.
    ///
    /// The server has confirmed the subscription before `body` starts, so every message published afterwards is
    /// delivered (unless the subscription connection drops; it then reconnects with backoff and subscribes again).
    /// The subscription ends when `body` returns or throws. Each subscription buffers up to
    /// ``RedisClientConfiguration/subscriptionBufferSize`` messages, dropping the oldest beyond that.
    ///
    /// ```swift
    /// try await client.subscribe(to: ["news"]) { messages in
    ///     for await message in messages { print(String(buffer: message.payload)) }
    /// }
    /// ```
    /// - Throws: ``RedisClientError`` when the subscription cannot be confirmed in time, or what `body` throws.
    public func subscribe<Result>(
        to channels: [String],
        _ body: (RedisSubscription) async throws -> Result
    ) async throws -> Result {
        try await subscribe(to: channels, bufferSize: configuration.subscriptionBufferSize, transform: { $0 }) { stream in
            try await body(RedisSubscription(base: stream))
        }
    }

    /// Subscribes with a message transform, for adapters that need another element type (`nil` drops a message).
    package func subscribe<Message: Sendable, Result>(
        to channels: [String],
        bufferSize: Int,
        transform: @escaping @Sendable (RedisPubSubMessage) -> Message?,
        _ body: (AsyncStream<Message>) async throws -> Result
    ) async throws -> Result {
        let (stream, continuation) = AsyncStream<Message>.makeStream(bufferingPolicy: .bufferingNewest(bufferSize))
        return try await subscriptions.withSubscription(
            to: channels,
            deliver: { message in
                if let transformed = transform(message) { continuation.yield(transformed) }
            },
            finish: { continuation.finish() }
        ) {
            try await body(stream)
        }
    }
}
