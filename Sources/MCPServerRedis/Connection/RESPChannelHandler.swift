//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import NIOCore

/// Commands to write, already encoded, with the promises their replies complete.
struct RESPRequest: Sendable {
    /// What one promise waits for.
    enum Expectation: Sendable, Hashable {
        /// One reply.
        case reply
        /// `count` push confirmations of `kind` (`subscribe` or `unsubscribe`): in RESP3, SUBSCRIBE and
        /// UNSUBSCRIBE answer with one push per channel instead of a reply.
        case confirmations(kind: String, count: Int)
    }

    struct Entry: Sendable {
        var promise: EventLoopPromise<RESPValue>
        var expectation: Expectation
        var name: String
    }

    var bytes: ByteBuffer
    var entries: [Entry]
    var timeout: TimeAmount
}

/// Matches replies to commands in order (pipelining), routes pushes, and fails every command in flight when the
/// connection closes, errors, or a command times out.
final class RESPChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RESPRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var id: UInt64
        var entry: RESPRequest.Entry
        var remaining: Int
        var timeout: Scheduled<Void>?
    }

    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private var nextID: UInt64 = 0
    /// Set once the connection can no longer carry commands; later writes fail with it.
    private var closedError: RedisClientError?
    private let onPush: @Sendable (RESPValue) -> Void
    private let logger: Logger

    init(logger: Logger, onPush: @escaping @Sendable (RESPValue) -> Void) {
        self.logger = logger
        self.onPush = onPush
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let closedError {
            for entry in request.entries { entry.promise.fail(closedError) }
            promise?.fail(closedError)
            return
        }
        let loop = context.eventLoop.assumeIsolated()
        for entry in request.entries {
            let id = nextID
            nextID &+= 1
            let count: Int
            switch entry.expectation {
            case .reply: count = 1
            case .confirmations(_, let n): count = n
            }
            let timeout = loop.scheduleTask(in: request.timeout) { [self] in
                self.timedOut(id: id, name: entry.name, context: context)
            }
            pending.append(Pending(id: id, entry: entry, remaining: count, timeout: timeout))
        }
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        if case .push(let elements) = value.withoutAttributes {
            let kind = elements.first?.string?.lowercased() ?? ""
            if let head = pending.first, case .confirmations(let expected, _) = head.entry.expectation, expected == kind {
                pending[pending.startIndex].remaining -= 1
                if pending[pending.startIndex].remaining == 0 {
                    let done = pending.removeFirst()
                    done.timeout?.cancel()
                    done.entry.promise.succeed(value)
                }
            } else {
                onPush(value)
            }
            return
        }
        guard let head = pending.popFirst() else {
            fail(context: context, RedisClientError(.protocolError, message: "the server sent a reply no command was waiting for"))
            return
        }
        head.timeout?.cancel()
        if let message = value.errorMessage {
            head.entry.promise.fail(RedisClientError(.serverError, message: message))
        } else {
            head.entry.promise.succeed(value)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisClientError(.connectionClosed, message: "the connection to Redis closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let mapped: RedisClientError
        if let error = error as? RedisClientError {
            mapped = error
        } else if error is RESPParsingError || error is ByteToMessageDecoderError {
            mapped = RedisClientError(.protocolError, message: "the server sent invalid RESP", underlyingError: error)
        } else {
            mapped = RedisClientError(.connectionClosed, message: "the connection to Redis failed", underlyingError: error)
        }
        fail(context: context, mapped)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(RedisClientError(.connectionClosed, message: "the connection to Redis closed"))
    }

    private func timedOut(id: UInt64, name: String, context: ChannelHandlerContext) {
        guard let index = pending.firstIndex(where: { $0.id == id }) else { return }
        let timedOut = pending.remove(at: index)
        logger.debug("Redis command timed out", metadata: ["redis.command": "\(name)"])
        // Later replies could still arrive in order, but a server this slow is treated as gone. Close before
        // failing the promise, so the waiting task never sees this connection as still open.
        fail(context: context, RedisClientError(.connectionClosed, message: "the connection was closed because \(name) timed out"))
        timedOut.entry.promise.fail(RedisClientError(.timeout, message: "no reply to \(name) in time; closing the connection"))
    }

    private func fail(context: ChannelHandlerContext, _ error: RedisClientError) {
        if closedError == nil { closedError = error }
        let failing = pending
        pending.removeAll()
        // Closing first makes `isActive` false before any waiting task resumes.
        context.close(promise: nil)
        for p in failing {
            p.timeout?.cancel()
            p.entry.promise.fail(error)
        }
    }

    private func failAll(_ error: RedisClientError) {
        if closedError == nil { closedError = error }
        while let p = pending.popFirst() {
            p.timeout?.cancel()
            p.entry.promise.fail(error)
        }
    }
}
