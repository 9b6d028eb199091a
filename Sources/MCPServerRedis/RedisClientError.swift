//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// An error from the Redis client: a code to match on, a message, and where it was raised.
///
/// ``description`` names the code and message only; ``debugDescription`` adds the underlying error and location.
/// Neither holds command arguments, which may carry secrets or user data.
public struct RedisClientError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case connectionFailed
            case connectionClosed
            case timeout
            case serverError
            case protocolError
            case unexpectedReply
            case poolShutdown
            case clientNotRunning
            case cancelled
            case invalidURL
            case tlsConfiguration
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Connecting (TCP connect, HELLO, AUTH or SELECT) failed.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection closed before the reply arrived; the command may or may not have run.
        public static let connectionClosed = Code(.connectionClosed)
        /// No reply (or no pooled connection) within the configured time.
        public static let timeout = Code(.timeout)
        /// The server answered with an error reply.
        public static let serverError = Code(.serverError)
        /// The server sent bytes that are not valid RESP3, or exceed the parser limits.
        public static let protocolError = Code(.protocolError)
        /// The reply had a type the caller did not expect.
        public static let unexpectedReply = Code(.unexpectedReply)
        /// The client is shutting down.
        public static let poolShutdown = Code(.poolShutdown)
        /// The client's `run()` has not started or has ended.
        public static let clientNotRunning = Code(.clientNotRunning)
        /// The calling task was cancelled.
        public static let cancelled = Code(.cancelled)
        /// A `redis://` URL could not be read.
        public static let invalidURL = Code(.invalidURL)
        /// A TLS file (CA, client certificate or key) could not be read, or the TLS settings are invalid.
        public static let tlsConfiguration = Code(.tlsConfiguration)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation, free of command arguments.
    public var message: String
    /// The error that caused this one, if any.
    public var underlyingError: (any Error)?
    /// Where the error was raised.
    public var file: String
    /// Where the error was raised.
    public var line: Int

    /// Creates an error.
    public init(_ code: Code, message: String, underlyingError: (any Error)? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.underlyingError = underlyingError
        self.file = file
        self.line = line
    }

    /// The server's error text, for ``Code/serverError`` (for example `NOSCRIPT No matching script`).
    public var serverMessage: String? { code == .serverError ? message : nil }

    public var description: String { "Redis \(code): \(message)" }

    public var debugDescription: String {
        var text = "RedisClientError(code: \(code), message: \(message)"
        if let underlyingError { text += ", underlyingError: \(String(reflecting: underlyingError))" }
        return text + ", at: \(file):\(line))"
    }
}
