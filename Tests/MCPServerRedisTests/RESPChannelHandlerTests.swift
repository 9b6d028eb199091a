//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import MCPServerRedis

@Suite("RESP channel handler")
struct RESPChannelHandlerTests {
    final class Pushes: Sendable {
        let values = Mutex<[RESPValue]>([])
    }

    func makeChannel(pushes: Pushes = Pushes()) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder(limits: RESPParser.Limits())))
        try channel.pipeline.syncOperations.addHandler(
            RESPChannelHandler(logger: Logger(label: "test"), onPush: { value in pushes.values.withLock { $0.append(value) } })
        )
        return channel
    }

    func send(
        _ channel: EmbeddedChannel,
        _ commands: [RESPCommand],
        expectation: RESPRequest.Expectation = .reply,
        timeout: TimeAmount = .seconds(10)
    ) throws -> [EventLoopFuture<RESPValue>] {
        var bytes = ByteBuffer()
        var entries: [RESPRequest.Entry] = []
        for command in commands {
            command.encode(into: &bytes)
            entries.append(.init(promise: channel.eventLoop.makePromise(), expectation: expectation, name: command.name))
        }
        channel.writeAndFlush(RESPRequest(bytes: bytes, entries: entries, timeout: timeout), promise: nil)
        return entries.map { $0.promise.futureResult }
    }

    func reply(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    func result(_ future: EventLoopFuture<RESPValue>) -> Result<RESPValue, any Error>? {
        var result: Result<RESPValue, any Error>?
        future.assumeIsolated().whenComplete { result = $0 }
        return result
    }

    @Test func pipelinedRepliesMatchInOrder() throws {
        let channel = try makeChannel()
        let futures = try send(channel, [RESPCommand("PING"), RESPCommand("GET", "k"), RESPCommand("INCR", "n")])
        let written = try channel.readOutbound(as: ByteBuffer.self)
        #expect(written.map { String(buffer: $0) } == "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n")
        try reply(channel, "+PONG\r\n$1\r\nv")
        #expect(try result(futures[0])?.get() == .simpleString("PONG"))
        #expect(result(futures[1]) == nil)
        try reply(channel, "\r\n:3\r\n")
        #expect(try result(futures[1])?.get() == .bulkString(ByteBuffer(string: "v")))
        #expect(try result(futures[2])?.get() == .integer(3))
    }

    @Test func errorRepliesFailOnlyTheirCommand() throws {
        let channel = try makeChannel()
        let futures = try send(channel, [RESPCommand("BAD"), RESPCommand("PING")])
        try reply(channel, "-ERR unknown command 'BAD'\r\n+PONG\r\n")
        guard case .failure(let error as RedisClientError)? = result(futures[0]) else {
            Issue.record("expected a RedisClientError")
            return
        }
        #expect(error.code == .serverError)
        #expect(error.serverMessage == "ERR unknown command 'BAD'")
        #expect(try result(futures[1])?.get() == .simpleString("PONG"))
    }

    @Test func pushesGoToTheHandlerNotToCommands() throws {
        let pushes = Pushes()
        let channel = try makeChannel(pushes: pushes)
        let futures = try send(channel, [RESPCommand("GET", "k")])
        try reply(channel, ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n$1\r\nv\r\n")
        #expect(try result(futures[0])?.get() == .bulkString(ByteBuffer(string: "v")))
        #expect(pushes.values.withLock { $0.count } == 1)
    }

    @Test func subscribeWaitsForOneConfirmationPerChannel() throws {
        let pushes = Pushes()
        let channel = try makeChannel(pushes: pushes)
        let futures = try send(channel, [RESPCommand("SUBSCRIBE", "a", "b")], expectation: .confirmations(kind: "subscribe", count: 2))
        let ping = try send(channel, [RESPCommand("PING")])
        try reply(channel, ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n")
        #expect(result(futures[0]) == nil)
        try reply(channel, ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n")  // a message may arrive in between
        try reply(channel, ">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n+PONG\r\n")
        #expect(try result(futures[0])?.get() != nil)
        #expect(try result(ping[0])?.get() == .simpleString("PONG"))
        #expect(pushes.values.withLock { $0.count } == 1)
    }

    @Test func closeFailsEveryCommandInFlightAndLaterOnes() throws {
        let channel = try makeChannel()
        let futures = try send(channel, [RESPCommand("GET", "a"), RESPCommand("GET", "b")])
        channel.pipeline.fireChannelInactive()
        for future in futures {
            guard case .failure(let error as RedisClientError)? = result(future) else {
                Issue.record("expected a failure")
                continue
            }
            #expect(error.code == .connectionClosed)
        }
        let later = try send(channel, [RESPCommand("PING")])
        guard case .failure(let error as RedisClientError)? = result(later[0]) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.code == .connectionClosed)
    }

    @Test func timeoutFailsTheCommandAndClosesTheConnection() throws {
        let channel = try makeChannel()
        let slow = try send(channel, [RESPCommand("BLPOP", "k", "0")], timeout: .seconds(1))
        let next = try send(channel, [RESPCommand("PING")], timeout: .seconds(5))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1500))
        guard case .failure(let first as RedisClientError)? = result(slow[0]), case .failure(let second as RedisClientError)? = result(next[0]) else {
            Issue.record("expected failures")
            return
        }
        #expect(first.code == .timeout)
        #expect(second.code == .connectionClosed)
        #expect(!channel.isActive)
    }

    @Test func invalidBytesFromTheServerFailCommandsWithAProtocolError() throws {
        let channel = try makeChannel()
        let futures = try send(channel, [RESPCommand("PING")])
        try? reply(channel, "?garbage\r\n")
        guard case .failure(let error as RedisClientError)? = result(futures[0]) else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.code == .protocolError)
    }

    @Test func unsolicitedReplyIsAProtocolError() throws {
        let channel = try makeChannel()
        try reply(channel, "+OK\r\n")
        #expect(!channel.isActive)
    }
}
