//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import NIOSSL
import PostgresNIO

/// An error from the PostgreSQL backends: a code to match on, a message, and where it was raised.
///
/// ``description`` names the code and message only; ``debugDescription`` adds the underlying error and location.
public struct PostgresBackendError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidURL
            case tlsConfiguration
            case connectionFailed
            case migrationFailed
            case unexpectedResult
            case timeout
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A `postgres://` URL could not be read.
        public static let invalidURL = Code(.invalidURL)
        /// A TLS file (`sslrootcert`, `sslcert`, `sslkey`) could not be read.
        public static let tlsConfiguration = Code(.tlsConfiguration)
        /// The server could not be reached, refused the login, or failed the TLS handshake.
        public static let connectionFailed = Code(.connectionFailed)
        /// The schema could not be brought up to date.
        public static let migrationFailed = Code(.migrationFailed)
        /// A query returned something the backend did not expect.
        public static let unexpectedResult = Code(.unexpectedResult)
        /// The server did not answer within the operation timeout (or no pooled connection could be had).
        public static let timeout = Code(.timeout)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation, free of passwords and stored data.
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

    public var description: String { "PostgreSQL \(code): \(message)" }

    public var debugDescription: String {
        var text = "PostgresBackendError(code: \(code), message: \(message)"
        if let underlyingError { text += ", underlyingError: \(String(reflecting: underlyingError))" }
        return text + ", at: \(file):\(line))"
    }

    /// Whether `error` means the server could not be reached at all (refused or timed out), as opposed to a TLS
    /// failure or an error the server sent (a refused login, a missing database), which waiting does not cure.
    static func isUnreachable(_ error: any Error) -> Bool {
        guard let psql = error as? PSQLError else { return false }
        if psql.serverInfo != nil || psql.code == .sslUnsupported { return false }
        if let underlying = psql.underlying {
            return !(underlying is NIOSSLError) && !(underlying is BoringSSLError) && !(underlying is NIOSSLExtraError)
        }
        return psql.code == .connectionError || psql.code == .serverClosedConnection
    }

    /// A readable account of a postgres-nio error, whose own `description` hides everything: the error code, the
    /// server's message and SQLSTATE, and the underlying cause (a TLS certificate error, a refused connection).
    public static func explain(_ error: any Error) -> String {
        guard let psql = error as? PSQLError else { return "\(error)" }
        var parts = ["\(psql.code)"]
        if let info = psql.serverInfo {
            if let message = info[.message] { parts.append(message) }
            if let state = info[.sqlState] { parts.append("SQLSTATE \(state)") }
            if let detail = info[.detail] { parts.append(detail) }
        }
        if let underlying = psql.underlying { parts.append("\(underlying)") }
        return parts.joined(separator: ": ")
    }
}
