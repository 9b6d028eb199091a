//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// The MCP protocol revisions this runtime knows.
public struct ProtocolVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The revision date, e.g. `2026-07-28`.
    public var rawValue: String

    /// Wraps a revision string.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }

    public static func < (lhs: ProtocolVersion, rhs: ProtocolVersion) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The stateless revision: per-request metadata, MRTR, `subscriptions/listen`.
    public static let v2026_07_28 = ProtocolVersion("2026-07-28")
    /// The last session-based revision.
    public static let v2025_11_25 = ProtocolVersion("2025-11-25")
    /// Session-based revision.
    public static let v2025_06_18 = ProtocolVersion("2025-06-18")
    /// The first Streamable HTTP revision.
    public static let v2025_03_26 = ProtocolVersion("2025-03-26")
    /// The first revision, served only over the HTTP+SSE transport (`GET /sse`, `POST /messages`).
    public static let v2024_11_05 = ProtocolVersion("2024-11-05")

    /// The stateless revisions this runtime serves: every request carries its own metadata, with no session.
    public static let stateless: [ProtocolVersion] = [.v2026_07_28]

    /// The session-based revisions this runtime serves, newest first.
    public static let sessionBased: [ProtocolVersion] = [.v2025_11_25, .v2025_06_18, .v2025_03_26]

    /// The revisions a session of the 2024-11-05 HTTP+SSE transport may negotiate, newest first: its own, and the
    /// session-based ones (clients of that transport often ask for a newer revision).
    public static let httpSSE: [ProtocolVersion] = sessionBased + [.v2024_11_05]
}

/// Names of the reserved `_meta` keys.
public enum MetaKey {
    public static let protocolVersion = "io.modelcontextprotocol/protocolVersion"
    public static let clientInfo = "io.modelcontextprotocol/clientInfo"
    public static let clientCapabilities = "io.modelcontextprotocol/clientCapabilities"
    public static let logLevel = "io.modelcontextprotocol/logLevel"
    public static let serverInfo = "io.modelcontextprotocol/serverInfo"
    public static let subscriptionID = "io.modelcontextprotocol/subscriptionId"
    public static let progressToken = "progressToken"
}
