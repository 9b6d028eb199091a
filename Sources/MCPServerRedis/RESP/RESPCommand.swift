//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import NIOCore

/// One argument of a ``RESPCommand``: binary-safe bytes.
public struct RESPArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    /// The bytes sent for this argument.
    public var bytes: ByteBuffer

    /// Wraps bytes.
    public init(bytes: ByteBuffer) { self.bytes = bytes }
    /// The UTF-8 bytes of `string`.
    public init(_ string: String) { self.bytes = ByteBuffer(string: string) }
    /// The given bytes.
    public init(_ bytes: [UInt8]) { self.bytes = ByteBuffer(bytes: bytes) }
    /// The decimal text of `value`.
    public init(_ value: some BinaryInteger) { self.bytes = ByteBuffer(string: String(value)) }

    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }

    /// The UTF-8 bytes of `string`.
    public static func string(_ string: String) -> RESPArgument { RESPArgument(string) }
    /// The given bytes.
    public static func bytes(_ bytes: [UInt8]) -> RESPArgument { RESPArgument(bytes) }
    /// The decimal text of `value`.
    public static func int(_ value: some BinaryInteger) -> RESPArgument { RESPArgument(value) }
}

/// A command: an array of bulk strings, the name first.
///
/// ```swift
/// let reply = try await client.execute(RESPCommand("SET", .string(key), .bytes(value), "PX", .int(30_000)))
/// ```
public struct RESPCommand: Sendable, Hashable, CustomStringConvertible {
    /// The command name and its arguments.
    public var arguments: [RESPArgument]

    /// Creates a command from its name and arguments.
    public init(_ arguments: RESPArgument...) { self.arguments = arguments }
    /// Creates a command from its name and arguments.
    public init(_ arguments: [RESPArgument]) { self.arguments = arguments }

    /// The command name (the first argument), upper-cased; safe to log.
    public var name: String {
        arguments.first.map { String(buffer: $0.bytes).uppercased() } ?? ""
    }

    /// Only the command name: arguments may hold secrets (AUTH, HELLO) or user data.
    public var description: String { name }

    /// Appends the RESP encoding (`*N\r\n` then `$len\r\n<bytes>\r\n` per argument) to `buffer`.
    @inlinable
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "*"))
        buffer.writeString(String(arguments.count))
        buffer.writeStaticString("\r\n")
        for argument in arguments {
            buffer.writeInteger(UInt8(ascii: "$"))
            buffer.writeString(String(argument.bytes.readableBytes))
            buffer.writeStaticString("\r\n")
            var bytes = argument.bytes
            buffer.writeBuffer(&bytes)
            buffer.writeStaticString("\r\n")
        }
    }
}
