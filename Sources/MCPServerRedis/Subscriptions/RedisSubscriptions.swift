//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import NIOCore
import Synchronization

/// The dedicated subscription connection: one connection for every subscriber of the client.
///
/// Subscribers register the channels they want and wait until the server has confirmed them. ``run()`` keeps the
/// server's subscriptions equal to the union of what subscribers want: it connects when the first channel is
/// wanted, sends `SUBSCRIBE`/`UNSUBSCRIBE` for the difference whenever it changes, and when the connection drops it
/// reconnects with exponential backoff and subscribes to every active channel again.
final class RedisSubscriptions: Sendable {
    private struct Subscriber {
        var channels: Set<String>
        var deliver: @Sendable (RedisPubSubMessage) -> Void
        var finish: @Sendable () -> Void
        /// Told when the connection drops (messages published until it is back are lost), if the subscriber cares.
        var interrupted: (@Sendable () -> Void)?
    }

    private struct Waiter {
        var channels: Set<String>
        var continuation: CheckedContinuation<Void, any Error>
        var timer: Scheduled<Void>
    }

    private struct State {
        var subscribers: [Int: Subscriber] = [:]
        var channelSubscribers: [String: Set<Int>] = [:]
        /// Channels the server has confirmed on the current connection.
        var confirmed: Set<String> = []
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
        var isShutdown = false
        var lastError: (any Error)?
    }

    private let state = Mutex(State())
    private let configuration: RedisClientConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    /// Wakes ``run()`` when the wanted channels change or the connection closes; coalesced.
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let connectionNumber = Atomic<Int>(0)

    init(configuration: RedisClientConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        var logger = logger
        logger[metadataKey: "redis.subscriptions"] = "true"
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Registers `deliver` for `channels`, waits until the server confirms them, and runs `body`; unregisters after.
    /// When the connection drops, the subscription carries on after the reconnection, and `interrupted` (if given)
    /// is told that messages may have been lost in between.
    func withSubscription<Result>(
        to channels: [String],
        deliver: @escaping @Sendable (RedisPubSubMessage) -> Void,
        finish: @escaping @Sendable () -> Void,
        interrupted: (@Sendable () -> Void)? = nil,
        _ body: () async throws -> Result
    ) async throws -> Result {
        let wanted = Set(channels)
        let id = try state.withLock { s -> Int in
            guard !s.isShutdown else { throw RedisClientError(.poolShutdown, message: "the Redis client is shutting down") }
            let id = s.nextID
            s.nextID += 1
            s.subscribers[id] = Subscriber(channels: wanted, deliver: deliver, finish: finish, interrupted: interrupted)
            for channel in wanted { s.channelSubscribers[channel, default: []].insert(id) }
            return id
        }
        wake.yield()
        defer {
            state.withLock { s in
                s.subscribers[id] = nil
                for channel in wanted {
                    s.channelSubscribers[channel]?.remove(id)
                    if s.channelSubscribers[channel]?.isEmpty == true { s.channelSubscribers[channel] = nil }
                }
            }
            finish()
            wake.yield()
        }
        try await waitUntilConfirmed(id, wanted)
        return try await body()
    }

    private func waitUntilConfirmed(_ id: Int, _ channels: Set<String>) async throws {
        let timeout = configuration.timeouts.connect + configuration.timeouts.command
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let timer = eventLoopGroup.any().scheduleTask(in: TimeAmount(timeout)) { [self] in
                    let error = state.withLock { s in s.lastError }
                    self.failWaiter(
                        id,
                        RedisClientError(.timeout, message: "Redis did not confirm the subscription within \(timeout)", underlyingError: error)
                    )
                }
                let ready = state.withLock { s -> Bool in
                    if Task.isCancelled || channels.isSubset(of: s.confirmed) { return true }
                    s.waiters[id] = Waiter(channels: channels, continuation: continuation, timer: timer)
                    return false
                }
                if ready {
                    timer.cancel()
                    continuation.resume()
                }
            }
        } onCancel: {
            failWaiter(id, RedisClientError(.cancelled, message: "the task waiting for the subscription was cancelled"))
        }
        try Task.checkCancellation()
    }

    private func failWaiter(_ id: Int, _ error: RedisClientError) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.timer.cancel()
        waiter?.continuation.resume(throwing: error)
    }

    /// Keeps the server's subscriptions in line with what subscribers want until cancelled.
    func run() async {
        var backoff = configuration.reconnect.initialBackoff
        var iterator = wakeups.makeAsyncIterator()
        while !Task.isCancelled {
            guard state.withLock({ !$0.channelSubscribers.isEmpty }) else {
                // Nothing wanted: connect only when a subscriber arrives.
                guard await iterator.next() != nil else { break }
                continue
            }
            let connection: RedisConnection
            do {
                connection = try await RedisConnection.connect(
                    id: connectionNumber.wrappingAdd(1, ordering: .relaxed).newValue,
                    configuration: configuration,
                    eventLoop: eventLoopGroup.any(),
                    logger: logger,
                    onPush: { [self] push in self.handle(push) }
                )
            } catch {
                state.withLock { $0.lastError = error }
                logger.debug("Redis subscription connection failed", metadata: ["redis.error": "\(error)", "redis.backoff": "\(backoff)"])
                try? await Task.sleep(for: jittered(backoff))
                backoff = min(backoff * 2, configuration.reconnect.maximumBackoff)
                continue
            }
            backoff = configuration.reconnect.initialBackoff
            connection.closeFuture.whenComplete { [wake] _ in wake.yield() }
            while connection.isActive, !Task.isCancelled {
                do {
                    try await synchronize(connection)
                } catch {
                    state.withLock { $0.lastError = error }
                    logger.debug("Redis subscribe failed", metadata: ["redis.error": "\(error)"])
                    await connection.close()
                    break
                }
                guard await iterator.next() != nil else { break }
            }
            await connection.close()
            // Messages published while the connection is down are lost: tell the subscribers that care, so that
            // they re-sync (the message bus ends their subscriptions) rather than carry on with a gap.
            let interrupted = state.withLock { s -> [@Sendable () -> Void] in
                s.confirmed = []
                return s.subscribers.values.compactMap(\.interrupted)
            }
            for tell in interrupted { tell() }
            if !Task.isCancelled {
                logger.debug("Redis subscription connection lost; reconnecting")
                try? await Task.sleep(for: jittered(backoff))
            }
        }
        shutdown()
    }

    /// Sends SUBSCRIBE and UNSUBSCRIBE for the difference between wanted and confirmed channels.
    private func synchronize(_ connection: RedisConnection) async throws {
        let (add, remove) = state.withLock { s in
            let wanted = Set(s.channelSubscribers.keys)
            return (wanted.subtracting(s.confirmed).sorted(), s.confirmed.subtracting(wanted).sorted())
        }
        if !add.isEmpty {
            _ = try await connection.execute(
                RESPCommand(["SUBSCRIBE"] + add.map { .string($0) }),
                expectation: .confirmations(kind: "subscribe", count: add.count)
            )
            let ready = state.withLock { s -> [Waiter] in
                s.confirmed.formUnion(add)
                let ready = s.waiters.filter { $0.value.channels.isSubset(of: s.confirmed) }
                for id in ready.keys { s.waiters[id] = nil }
                return Array(ready.values)
            }
            for waiter in ready {
                waiter.timer.cancel()
                waiter.continuation.resume()
            }
        }
        if !remove.isEmpty {
            _ = try await connection.execute(
                RESPCommand(["UNSUBSCRIBE"] + remove.map { .string($0) }),
                expectation: .confirmations(kind: "unsubscribe", count: remove.count)
            )
            state.withLock { $0.confirmed.subtract(remove) }
        }
        if !add.isEmpty || !remove.isEmpty {
            // The wanted set may have changed while the commands were in flight.
            wake.yield()
        }
    }

    /// Delivers a `message` push to the channel's subscribers (on the event loop).
    private func handle(_ push: RESPValue) {
        guard let elements = push.elements, elements.count == 3, elements[0].string?.lowercased() == "message",
            let channel = elements[1].string
        else { return }
        let payload: ByteBuffer
        switch elements[2].withoutAttributes {
        case .bulkString(let b), .verbatimString(_, let b): payload = b
        case .simpleString(let s): payload = ByteBuffer(string: s)
        default: return
        }
        let message = RedisPubSubMessage(channel: channel, payload: payload)
        let targets = state.withLock { s in (s.channelSubscribers[channel] ?? []).compactMap { s.subscribers[$0]?.deliver } }
        for deliver in targets { deliver(message) }
    }

    /// Fails waiters and ends every subscriber's messages.
    func shutdown() {
        wake.finish()
        let (waiters, subscribers) = state.withLock { s in
            s.isShutdown = true
            let w = Array(s.waiters.values)
            s.waiters = [:]
            return (w, Array(s.subscribers.values))
        }
        for waiter in waiters {
            waiter.timer.cancel()
            waiter.continuation.resume(throwing: RedisClientError(.poolShutdown, message: "the Redis client is shutting down"))
        }
        for subscriber in subscribers { subscriber.finish() }
    }

    private func jittered(_ duration: Duration) -> Duration {
        duration * Double.random(in: 0.5...1.0)
    }
}
