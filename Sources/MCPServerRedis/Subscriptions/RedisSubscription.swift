//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import NIOCore

/// A message published to a channel.
public struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel it was published to.
    public var channel: String
    /// The published bytes.
    public var payload: ByteBuffer

    /// Creates a message.
    public init(channel: String, payload: ByteBuffer) {
        self.channel = channel
        self.payload = payload
    }
}

/// The messages of one scoped subscription; see ``RedisClient/subscribe(to:_:)``.
///
/// The sequence ends when the subscription's scope ends or the client shuts down. While the subscription
/// connection reconnects, messages published in the gap are not delivered (pub/sub is at most once).
public struct RedisSubscription: AsyncSequence, Sendable {
    public typealias Element = RedisPubSubMessage
    public typealias Failure = Never

    let base: AsyncStream<RedisPubSubMessage>

    public func makeAsyncIterator() -> AsyncStream<RedisPubSubMessage>.Iterator {
        base.makeAsyncIterator()
    }
}
