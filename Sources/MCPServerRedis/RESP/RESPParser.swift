//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import NIOCore

/// Why bytes from a server are not valid RESP3 (or exceed a ``RESPParser/Limits`` bound).
public struct RESPParsingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The offset of the offending byte, from the start of the value being parsed.
    public var offset: Int
    /// What is wrong.
    public var reason: String

    /// Creates an error.
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid RESP at byte \(offset): \(reason)" }
}

/// An incremental RESP3 parser over NIO `ByteBuffer`s.
///
/// Call ``next(from:)`` whenever bytes arrive. It consumes exactly one complete value, or nothing when the value is
/// still incomplete, so input may be split anywhere. Every size read from the wire is checked against ``Limits``
/// before it is used, so hostile input gets a ``RESPParsingError`` instead of a crash or an unbounded allocation.
///
/// An incomplete value is parsed again from its start when more bytes arrive; a bulk string whose length is known
/// records how many bytes it needs, so a large value is not rescanned until it can be complete.
public struct RESPParser: Sendable {
    /// Bounds on what the parser accepts.
    public struct Limits: Sendable, Hashable {
        /// Maximum nesting of aggregates and attributes (default 32).
        public var maximumDepth: Int
        /// Maximum length of one bulk string, bulk error or verbatim string (default 64 MiB).
        public var maximumBulkLength: Int
        /// Maximum number of elements (or pairs) in one aggregate (default 1,048,576).
        public var maximumAggregateCount: Int
        /// Maximum length of one simple line: simple strings, errors, numbers (default 64 KiB).
        public var maximumLineLength: Int
        /// Maximum number of bytes one incomplete value may hold buffered (default 128 MiB).
        public var maximumMessageSize: Int

        /// Creates limits; the defaults suit a Redis client.
        public init(
            maximumDepth: Int = 32,
            maximumBulkLength: Int = 64 << 20,
            maximumAggregateCount: Int = 1 << 20,
            maximumLineLength: Int = 64 << 10,
            maximumMessageSize: Int = 128 << 20
        ) {
            precondition(maximumDepth > 0 && maximumBulkLength >= 0 && maximumAggregateCount >= 0 && maximumLineLength > 0)
            self.maximumDepth = maximumDepth
            self.maximumBulkLength = maximumBulkLength
            self.maximumAggregateCount = maximumAggregateCount
            self.maximumLineLength = maximumLineLength
            self.maximumMessageSize = maximumMessageSize
        }
    }

    /// The limits in force.
    public var limits: Limits
    /// Readable bytes the current incomplete value needs at least, so it is not rescanned before then.
    private var bytesNeeded = 0

    /// Creates a parser.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Reads one complete value from the front of `buffer`, or returns `nil` (consuming nothing) if more bytes are needed.
    public mutating func next(from buffer: inout ByteBuffer) throws(RESPParsingError) -> RESPValue? {
        let limits = self.limits
        guard buffer.readableBytes > 0 else { return nil }
        guard buffer.readableBytes >= bytesNeeded else {
            try Self.checkIncompleteSize(buffer.readableBytes, limits)
            return nil
        }
        let outcome = buffer.withUnsafeReadableBytes { bytes -> Result<(RESPValue?, Int), RESPParsingError> in
            var reader = Reader(bytes: bytes, limits: limits)
            do throws(RESPParsingError) {
                guard let value = try reader.value(depth: 0) else {
                    return .success((nil, reader.needed))
                }
                return .success((value, reader.position))
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .failure(let error):
            throw error
        case .success((nil, let needed)):
            try Self.checkIncompleteSize(buffer.readableBytes, limits)
            // Lengths are checked against the limits before `needed` is computed, so this cannot overflow.
            bytesNeeded = max(needed, buffer.readableBytes + 1)
            return nil
        case .success((let value?, let consumed)):
            buffer.moveReaderIndex(forwardBy: consumed)
            bytesNeeded = 0
            return value
        }
    }

    private static func checkIncompleteSize(_ readable: Int, _ limits: Limits) throws(RESPParsingError) {
        if readable > limits.maximumMessageSize {
            throw RESPParsingError(offset: readable, reason: "incomplete value exceeds \(limits.maximumMessageSize) bytes")
        }
    }
}

/// A cursor over the readable bytes; every method returns `nil` when the input ends too early.
private struct Reader {
    let bytes: UnsafeRawBufferPointer
    let limits: RESPParser.Limits
    var position = 0
    /// When the input ends too early: how many bytes the value is known to need at least.
    var needed = 0

    init(bytes: UnsafeRawBufferPointer, limits: RESPParser.Limits) {
        self.bytes = bytes
        self.limits = limits
    }

    private static let cr: UInt8 = 0x0D
    private static let lf: UInt8 = 0x0A

    func fail(_ reason: String, at offset: Int? = nil) -> RESPParsingError {
        RESPParsingError(offset: offset ?? position, reason: reason)
    }

    mutating func value(depth: Int) throws(RESPParsingError) -> RESPValue? {
        guard position < bytes.count else { return nil }
        let start = position
        let type = bytes[position]
        position += 1
        switch type {
        case UInt8(ascii: "+"):
            return try line().map { .simpleString(String(decoding: $0, as: UTF8.self)) }
        case UInt8(ascii: "-"):
            return try line().map { .simpleError(String(decoding: $0, as: UTF8.self)) }
        case UInt8(ascii: ":"):
            guard let text = try line() else { return nil }
            guard let value = Self.integer(text) else { throw fail("invalid integer", at: start) }
            return .integer(value)
        case UInt8(ascii: "$"):
            guard let length = try length(allowNull: true) else { return nil }
            guard length >= 0 else { return .null }
            return try bulk(length).map { .bulkString($0) }
        case UInt8(ascii: "!"):
            guard let length = try length(allowNull: false) else { return nil }
            return try bulk(length).map { .bulkError($0) }
        case UInt8(ascii: "="):
            guard let length = try length(allowNull: false) else { return nil }
            guard let payload = try bulk(length) else { return nil }
            guard payload.readableBytes >= 4, payload.getInteger(at: payload.readerIndex + 3, as: UInt8.self) == UInt8(ascii: ":") else {
                throw fail("verbatim string without a format", at: start)
            }
            var text = payload
            let format = text.readString(length: 3) ?? ""
            text.moveReaderIndex(forwardBy: 1)
            return .verbatimString(format: format, text: text)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            guard let count = try length(allowNull: type == UInt8(ascii: "*"), isAggregate: true) else { return nil }
            guard count >= 0 else { return .null }
            guard let elements = try aggregate(count: count, depth: depth) else { return nil }
            switch type {
            case UInt8(ascii: "*"): return .array(elements)
            case UInt8(ascii: "~"): return .set(elements)
            default: return .push(elements)
            }
        case UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard let count = try length(allowNull: false, isAggregate: true) else { return nil }
            guard let pairs = try pairs(count: count, depth: depth) else { return nil }
            if type == UInt8(ascii: "%") { return .map(pairs) }
            // An attribute precedes the value it describes; it counts as one level of nesting.
            guard depth + 1 <= limits.maximumDepth else { throw fail("nesting deeper than \(limits.maximumDepth)", at: start) }
            guard let value = try value(depth: depth + 1) else { return nil }
            return .attributed(attributes: pairs, value: value)
        case UInt8(ascii: "_"):
            guard let text = try line() else { return nil }
            guard text.isEmpty else { throw fail("null with a payload", at: start) }
            return .null
        case UInt8(ascii: "#"):
            guard let text = try line() else { return nil }
            guard text.count == 1 else { throw fail("invalid boolean", at: start) }
            switch text.first {
            case UInt8(ascii: "t"): return .boolean(true)
            case UInt8(ascii: "f"): return .boolean(false)
            default: throw fail("invalid boolean", at: start)
            }
        case UInt8(ascii: ","):
            guard let text = try line() else { return nil }
            guard let value = Self.double(text) else { throw fail("invalid double", at: start) }
            return .double(value)
        case UInt8(ascii: "("):
            guard let text = try line() else { return nil }
            let digits = text.first == UInt8(ascii: "-") ? text.dropFirst() : text[...]
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw fail("invalid big number", at: start) }
            return .bigNumber(String(decoding: text, as: UTF8.self))
        default:
            throw fail("unknown type byte \(type)", at: start)
        }
    }

    /// The bytes up to the next CRLF (which is consumed), checked against the line limit.
    mutating func line() throws(RESPParsingError) -> UnsafeRawBufferPointer.SubSequence? {
        let start = position
        let end = min(bytes.count, start &+ limits.maximumLineLength &+ 2)
        var i = start
        while i < end {
            let byte = bytes[i]
            if byte == Self.cr {
                guard i + 1 < bytes.count else { return nil }
                guard bytes[i + 1] == Self.lf else { throw fail("CR without LF", at: i) }
                position = i + 2
                return bytes[start..<i]
            }
            if byte == Self.lf { throw fail("LF without CR", at: i) }
            i += 1
        }
        if end - start >= limits.maximumLineLength + 2 { throw fail("line longer than \(limits.maximumLineLength) bytes", at: start) }
        return nil
    }

    /// A length or count line: a non-negative decimal, or `-1` where a null is allowed (returned as -1).
    mutating func length(allowNull: Bool, isAggregate: Bool = false) throws(RESPParsingError) -> Int? {
        let start = position - 1
        guard let text = try line() else { return nil }
        if allowNull, text.elementsEqual("-1".utf8) { return -1 }
        guard let value = Self.integer(text), value >= 0 else { throw fail("invalid length", at: start) }
        let limit = isAggregate ? limits.maximumAggregateCount : limits.maximumBulkLength
        guard value <= Int64(limit) else { throw fail("length \(value) exceeds the limit of \(limit)", at: start) }
        return Int(value)
    }

    /// `length` bytes followed by CRLF, copied out of the input.
    mutating func bulk(_ length: Int) throws(RESPParsingError) -> ByteBuffer? {
        guard bytes.count - position >= length + 2 else {
            needed = position + length + 2
            return nil
        }
        let payload = ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[position..<position + length]))
        guard bytes[position + length] == Self.cr, bytes[position + length + 1] == Self.lf else {
            throw fail("bulk payload not followed by CRLF", at: position + length)
        }
        position += length + 2
        return payload
    }

    mutating func aggregate(count: Int, depth: Int) throws(RESPParsingError) -> [RESPValue]? {
        guard depth + 1 <= limits.maximumDepth else { throw fail("nesting deeper than \(limits.maximumDepth)") }
        // Every element takes at least three bytes, so do not start on a value that cannot be complete yet.
        guard count <= (bytes.count - position) / 3 else {
            needed = position + count * 3
            return nil
        }
        var elements: [RESPValue] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            guard let element = try value(depth: depth + 1) else { return nil }
            elements.append(element)
        }
        return elements
    }

    mutating func pairs(count: Int, depth: Int) throws(RESPParsingError) -> [RESPValue.Pair]? {
        guard depth + 1 <= limits.maximumDepth else { throw fail("nesting deeper than \(limits.maximumDepth)") }
        guard count <= (bytes.count - position) / 6 else {
            needed = position + count * 6
            return nil
        }
        var pairs: [RESPValue.Pair] = []
        pairs.reserveCapacity(count)
        for _ in 0..<count {
            guard let key = try value(depth: depth + 1), let value = try value(depth: depth + 1) else { return nil }
            pairs.append(RESPValue.Pair(key: key, value: value))
        }
        return pairs
    }

    /// A strict signed decimal: optional `-`, then one or more digits, no overflow.
    static func integer(_ text: UnsafeRawBufferPointer.SubSequence) -> Int64? {
        var digits = text[...]
        var negative = false
        if digits.first == UInt8(ascii: "-") {
            negative = true
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 19 else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            let digit = Int64(byte - 0x30)
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = next
        }
        return value
    }

    /// A RESP3 double: `inf`, `-inf`, `nan`, or decimal digits with optional sign, fraction and exponent.
    static func double(_ text: UnsafeRawBufferPointer.SubSequence) -> Double? {
        let string = String(decoding: text, as: UTF8.self)
        switch string {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default: break
        }
        guard !text.isEmpty, text.count <= 512,
            text.allSatisfy({
                ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "e")
                    || $0 == UInt8(ascii: "E")
            })
        else { return nil }
        return Double(string)
    }
}
