//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ServiceLifecycle
import Synchronization

/// The embedded message bus: delivers within one process.
///
/// A subscriber through the stream form buffers up to `bufferSize` messages; beyond that the oldest undelivered ones
/// are dropped, so a stalled subscriber cannot grow memory without bound. The callback form buffers nothing.
public final class MemoryMessageBus: MessageBus {
    struct State {
        var nextID = 0
        var subscribers: [String: [Int: @Sendable (BusMessage) -> Void]] = [:]
    }

    private let state = Mutex(State())
    private let bufferSize: Int

    /// Creates a bus.
    /// - Parameter bufferSize: the buffer of each stream-form subscription (default 4096 messages).
    public init(bufferSize: Int = 4096) {
        precondition(bufferSize > 0)
        self.bufferSize = bufferSize
    }

    /// The number of active subscriptions to `channel`.
    public func subscriberCount(_ channel: String) -> Int {
        state.withLock { $0.subscribers[channel]?.count ?? 0 }
    }

    public func publish(_ payload: [UInt8], to channel: String) async throws {
        let targets = state.withLock { Array(($0.subscribers[channel] ?? [:]).values) }
        let message = BusMessage(channel: channel, payload: payload)
        for deliver in targets { deliver(message) }
    }

    public func subscribe<Result: Sendable>(
        to channels: [String],
        _ body: (AsyncStream<BusMessage>) async throws -> Result
    ) async throws -> Result {
        try await bufferedSubscribe(to: channels, bufferSize: bufferSize, body)
    }

    public func subscribe<Result: Sendable>(
        to channels: [String],
        deliver: @escaping @Sendable (BusMessage) -> Void,
        onEnd: @escaping @Sendable () -> Void,
        _ body: () async throws -> Result
    ) async throws -> Result {
        let id = state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            for channel in channels { s.subscribers[channel, default: [:]][id] = deliver }
            return id
        }
        defer {
            state.withLock { s in
                for channel in channels {
                    s.subscribers[channel]?[id] = nil
                    if s.subscribers[channel]?.isEmpty == true { s.subscribers[channel] = nil }
                }
            }
        }
        return try await body()
    }
}
