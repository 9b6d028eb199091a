//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import NIOCore

/// One RESP3 value, as read from a Redis server.
///
/// RESP2 replies are the subset without maps, sets, pushes and the other RESP3 types; null bulk strings (`$-1`)
/// and null arrays (`*-1`) read as ``null``.
public enum RESPValue: Sendable, Hashable {
    /// `+`: a short status reply such as `OK`.
    case simpleString(String)
    /// `-`: an error reply on one line, such as `ERR unknown command`.
    case simpleError(String)
    /// `:`: a signed 64-bit integer.
    case integer(Int64)
    /// `$`: binary-safe bytes.
    case bulkString(ByteBuffer)
    /// `!`: an error reply with binary-safe bytes.
    case bulkError(ByteBuffer)
    /// `=`: text with a three-letter format such as `txt` or `mkd`.
    case verbatimString(format: String, text: ByteBuffer)
    /// `*`: an ordered list.
    case array([RESPValue])
    /// `~`: an unordered collection of distinct values (kept in wire order).
    case set([RESPValue])
    /// `%`: key-value pairs (kept in wire order).
    case map([Pair])
    /// `>`: out-of-band data such as a pub/sub message; never the reply to a command.
    case push([RESPValue])
    /// `_` (and RESP2 `$-1` / `*-1`): no value.
    case null
    /// `#`: true or false.
    case boolean(Bool)
    /// `,`: a double, including `inf`, `-inf` and `nan`.
    case double(Double)
    /// `(`: an integer too large for 64 bits, as its decimal text.
    case bigNumber(String)
    /// `|`: a value preceded by auxiliary attributes (a map the server sends ahead of a reply).
    indirect case attributed(attributes: [Pair], value: RESPValue)

    /// One key-value pair of a ``RESPValue/map(_:)`` or attribute.
    public struct Pair: Sendable, Hashable {
        /// The key.
        public var key: RESPValue
        /// The value.
        public var value: RESPValue

        /// Creates a pair.
        public init(key: RESPValue, value: RESPValue) {
            self.key = key
            self.value = value
        }
    }
}

extension RESPValue {
    /// The value with any attributes removed.
    public var withoutAttributes: RESPValue {
        if case .attributed(_, let value) = self { return value.withoutAttributes }
        return self
    }

    /// The text of a simple string, bulk string or verbatim string (bulk bytes decoded as UTF-8).
    public var string: String? {
        switch self.withoutAttributes {
        case .simpleString(let s): return s
        case .bulkString(let b): return String(buffer: b)
        case .verbatimString(_, let b): return String(buffer: b)
        case .integer(let i): return String(i)
        case .bigNumber(let s): return s
        default: return nil
        }
    }

    /// The bytes of a bulk string, simple string or verbatim string.
    public var bytes: [UInt8]? {
        switch self.withoutAttributes {
        case .bulkString(let b), .verbatimString(_, let b): return Array(b.readableBytesView)
        case .simpleString(let s): return Array(s.utf8)
        default: return nil
        }
    }

    /// An integer reply, or a string reply that holds a decimal integer.
    public var int64: Int64? {
        switch self.withoutAttributes {
        case .integer(let i): return i
        case .bulkString, .simpleString: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    /// The elements of an array, set or push.
    public var elements: [RESPValue]? {
        switch self.withoutAttributes {
        case .array(let a), .set(let a), .push(let a): return a
        default: return nil
        }
    }

    /// Whether this is ``null``.
    public var isNull: Bool {
        if case .null = self.withoutAttributes { return true }
        return false
    }

    /// The error text of a simple or bulk error reply.
    public var errorMessage: String? {
        switch self.withoutAttributes {
        case .simpleError(let s): return s
        case .bulkError(let b): return String(buffer: b)
        default: return nil
        }
    }
}
