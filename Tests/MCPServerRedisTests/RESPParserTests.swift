//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import NIOCore
import Testing

@testable import MCPServerRedis

@Suite("RESP3 parser")
struct RESPParserTests {
    func parseAll(_ text: String, limits: RESPParser.Limits = RESPParser.Limits()) throws -> [RESPValue] {
        try parseAll(Array(text.utf8), limits: limits)
    }

    func parseAll(_ bytes: [UInt8], limits: RESPParser.Limits = RESPParser.Limits()) throws -> [RESPValue] {
        var parser = RESPParser(limits: limits)
        var buffer = ByteBuffer(bytes: bytes)
        var values: [RESPValue] = []
        while let value = try parser.next(from: &buffer) { values.append(value) }
        #expect(buffer.readableBytes == 0, "unconsumed bytes")
        return values
    }

    func one(_ text: String) throws -> RESPValue {
        let values = try parseAll(text)
        #expect(values.count == 1)
        return values[0]
    }

    func b(_ s: String) -> RESPValue { .bulkString(ByteBuffer(string: s)) }

    @Test func simpleTypes() throws {
        #expect(try one("+OK\r\n") == .simpleString("OK"))
        #expect(try one("-ERR bad thing\r\n") == .simpleError("ERR bad thing"))
        #expect(try one(":0\r\n") == .integer(0))
        #expect(try one(":-9223372036854775808\r\n") == .integer(.min))
        #expect(try one(":9223372036854775807\r\n") == .integer(.max))
        #expect(try one("_\r\n") == .null)
        #expect(try one("#t\r\n") == .boolean(true))
        #expect(try one("#f\r\n") == .boolean(false))
        #expect(try one(",1.23\r\n") == .double(1.23))
        #expect(try one(",-4e3\r\n") == .double(-4000))
        #expect(try one(",inf\r\n") == .double(.infinity))
        #expect(try one(",-inf\r\n") == .double(-.infinity))
        guard case .double(let nan) = try one(",nan\r\n") else { Issue.record("not a double"); return }
        #expect(nan.isNaN)
        #expect(try one("(3492890328409238509324850943850943825024385\r\n") == .bigNumber("3492890328409238509324850943850943825024385"))
        #expect(try one("(-12\r\n") == .bigNumber("-12"))
    }

    @Test func bulkTypes() throws {
        #expect(try one("$5\r\nhello\r\n") == b("hello"))
        #expect(try one("$0\r\n\r\n") == b(""))
        #expect(try one("$4\r\na\r\nb\r\n") == b("a\r\nb"))  // binary safe
        #expect(try one("$-1\r\n") == .null)  // RESP2 null bulk
        #expect(try one("!21\r\nSYNTAX invalid syntax\r\n") == .bulkError(ByteBuffer(string: "SYNTAX invalid syntax")))
        #expect(try one("=15\r\ntxt:Some string\r\n") == .verbatimString(format: "txt", text: ByteBuffer(string: "Some string")))
        #expect(try one("=4\r\nmkd:\r\n") == .verbatimString(format: "mkd", text: ByteBuffer()))
    }

    @Test func aggregates() throws {
        #expect(try one("*2\r\n$3\r\nfoo\r\n:7\r\n") == .array([b("foo"), .integer(7)]))
        #expect(try one("*0\r\n") == .array([]))
        #expect(try one("*-1\r\n") == .null)  // RESP2 null array
        #expect(try one("~2\r\n+a\r\n+b\r\n") == .set([.simpleString("a"), .simpleString("b")]))
        #expect(try one(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n") == .push([b("message"), b("ch"), b("hi")]))
        #expect(
            try one("%2\r\n+first\r\n:1\r\n+second\r\n*1\r\n_\r\n")
                == .map([.init(key: .simpleString("first"), value: .integer(1)), .init(key: .simpleString("second"), value: .array([.null]))])
        )
        #expect(
            try one("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2\r\n:9\r\n")
                == .attributed(
                    attributes: [.init(key: .simpleString("key-popularity"), value: .map([.init(key: b("a"), value: .double(0.19))]))],
                    value: .array([.integer(2), .integer(9)])
                )
        )
        #expect(try one("*1\r\n*1\r\n*1\r\n*0\r\n") == .array([.array([.array([.array([])])])]))
    }

    @Test func accessors() throws {
        #expect(try one("$3\r\n123\r\n").int64 == 123)
        #expect(try one("+OK\r\n").string == "OK")
        #expect(try one("-ERR x\r\n").errorMessage == "ERR x")
        #expect(try one("|1\r\n+a\r\n+b\r\n:5\r\n").int64 == 5)
        #expect(try one("*1\r\n:1\r\n").elements == [.integer(1)])
    }

    @Test func pipelinedValuesInOneBuffer() throws {
        let values = try parseAll("+OK\r\n:1\r\n$-1\r\n>2\r\n+a\r\n+b\r\n*1\r\n#t\r\n")
        #expect(values == [.simpleString("OK"), .integer(1), .null, .push([.simpleString("a"), .simpleString("b")]), .array([.boolean(true)])])
    }

    /// Every value in the corpus, fed split at every byte boundary and byte by byte, parses identically.
    @Test func partialInputSplitAtEveryByte() throws {
        var rng = SplitMix64(seed: 7)
        var corpus: [RESPValue] = [
            .simpleString("OK"), .integer(-42), .bulkString(ByteBuffer(string: "hello\r\nworld")), .null, .boolean(true), .double(2.5),
            .bigNumber("123456789012345678901234567890"), .bulkError(ByteBuffer(string: "ERR x")),
            .verbatimString(format: "txt", text: ByteBuffer(string: "v")),
            .map([.init(key: .simpleString("k"), value: .set([.integer(1), .integer(2)]))]),
            .push([.bulkString(ByteBuffer(string: "message")), .bulkString(ByteBuffer(string: "c")), .bulkString(ByteBuffer(string: "p"))]),
            .attributed(attributes: [.init(key: .simpleString("a"), value: .integer(1))], value: .array([.simpleError("ERR e")])),
        ]
        for _ in 0..<20 { corpus.append(RESPWire.random(&rng)) }
        let bytes = corpus.flatMap { RESPWire.encode($0) }

        // Two parts, split at every index.
        for split in 0...bytes.count {
            var parser = RESPParser()
            var buffer = ByteBuffer(bytes: bytes[..<split])
            var values: [RESPValue] = []
            while let v = try parser.next(from: &buffer) { values.append(v) }
            buffer.writeBytes(bytes[split...])
            while let v = try parser.next(from: &buffer) { values.append(v) }
            #expect(values.count == corpus.count && Self.same(values, corpus), "split at \(split)")
        }

        // One byte at a time.
        var parser = RESPParser()
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for byte in bytes {
            buffer.writeInteger(byte)
            while let v = try parser.next(from: &buffer) { values.append(v) }
        }
        #expect(Self.same(values, corpus))
        #expect(buffer.readableBytes == 0)
    }

    /// Random value trees survive an encode-parse round trip.
    @Test func randomRoundTrip() throws {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            let value = RESPWire.random(&rng)
            let parsed = try parseAll(RESPWire.encode(value))
            #expect(Self.same(parsed, [value]))
        }
    }

    @Test func commandEncoding() throws {
        var buffer = ByteBuffer()
        RESPCommand("SET", "key", .bytes([0, 13, 10, 255]), "PX", .int(1500)).encode(into: &buffer)
        #expect(String(buffer: buffer) == "*5\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\n\u{0}\r\n\u{FFFD}\r\n$2\r\nPX\r\n$4\r\n1500\r\n")
        let parsed = try parseAll(Array(buffer.readableBytesView))
        #expect(parsed == [.array([b("SET"), b("key"), .bulkString(ByteBuffer(bytes: [0, 13, 10, 255])), b("PX"), b("1500")])])
        #expect(RESPCommand("auth", "user", "secret").description == "AUTH")
    }

    @Test(arguments: [
        "?\r\n",  // unknown type
        ":12a\r\n", ":\r\n", ":99999999999999999999\r\n", ":-\r\n", ":+1\r\n",  // bad integers
        "$-2\r\n", "$abc\r\n", "$3\r\nabcd\r\n", "$1\r\na\n\n",  // bad bulk
        "*-2\r\n", "~-1\r\n", "%-1\r\n",  // bad counts
        "+OK\n", "+O\rK\r\n",  // bare LF / CR
        "_x\r\n", "#x\r\n", "#tt\r\n", ",1.2.3x\r\n", ",\r\n", "(12a\r\n", "(\r\n",  // bad scalars
        "=3\r\ntxt\r\n", "=5\r\ntxt;x\r\n",  // verbatim without format
        "!-1\r\n",
    ])
    func rejectsMalformedInput(_ input: String) {
        #expect(throws: RESPParsingError.self) { _ = try parseAll(input) }
    }

    @Test func enforcesLimits() throws {
        let limits = RESPParser.Limits(
            maximumDepth: 3, maximumBulkLength: 10, maximumAggregateCount: 4, maximumLineLength: 16, maximumMessageSize: 64)
        #expect(try parseAll("*1\r\n*1\r\n*0\r\n", limits: limits).count == 1)
        #expect(throws: RESPParsingError.self) { _ = try parseAll("*1\r\n*1\r\n*1\r\n*0\r\n", limits: limits) }
        // Attributes count as nesting: a chain of them cannot recurse without bound.
        #expect(throws: RESPParsingError.self) { _ = try parseAll(String(repeating: "|0\r\n", count: 10) + ":1\r\n", limits: limits) }
        #expect(throws: RESPParsingError.self) { _ = try parseAll("$11\r\n", limits: limits) }
        #expect(throws: RESPParsingError.self) { _ = try parseAll("*5\r\n", limits: limits) }
        #expect(throws: RESPParsingError.self) { _ = try parseAll("%5\r\n", limits: limits) }
        #expect(throws: RESPParsingError.self) { _ = try parseAll("+" + String(repeating: "a", count: 40), limits: limits) }
        // A huge declared length fails before anything is allocated.
        #expect(throws: RESPParsingError.self) { _ = try parseAll("$9223372036854775807\r\n") }
        #expect(throws: RESPParsingError.self) { _ = try parseAll("*9223372036854775807\r\n") }
        // An incomplete value cannot grow the buffer past the message size.
        var parser = RESPParser(limits: limits)
        var buffer = ByteBuffer(string: "*4\r\n")
        #expect(try parser.next(from: &buffer) == nil)
        buffer.writeString(String(repeating: "$10\r\n0123456789\r\n", count: 3) + "$10\r\n01234")
        #expect(throws: RESPParsingError.self) { _ = try parser.next(from: &buffer) }
    }

    @Test func incompleteValuesConsumeNothing() throws {
        var parser = RESPParser()
        var buffer = ByteBuffer(string: "$10\r\nhello")
        #expect(try parser.next(from: &buffer) == nil)
        #expect(buffer.readableBytes == 10)
        buffer.writeString("world\r\n+OK")
        #expect(try parser.next(from: &buffer) == b("helloworld"))
        #expect(try parser.next(from: &buffer) == nil)
        buffer.writeString("\r\n")
        #expect(try parser.next(from: &buffer) == .simpleString("OK"))
    }

    /// Equality that treats NaN as equal to itself.
    static func same(_ a: [RESPValue], _ b: [RESPValue]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { same($0, $1) }
    }

    static func same(_ a: RESPValue, _ b: RESPValue) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)): return x == y || (x.isNaN && y.isNaN)
        case (.array(let x), .array(let y)), (.set(let x), .set(let y)), (.push(let x), .push(let y)): return same(x, y)
        case (.map(let x), .map(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { same($0.key, $1.key) && same($0.value, $1.value) }
        case (.attributed(let xa, let xv), .attributed(let ya, let yv)):
            return same(.map(xa), .map(ya)) && same(xv, yv)
        default: return a == b
        }
    }
}
