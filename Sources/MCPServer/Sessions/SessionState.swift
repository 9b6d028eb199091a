//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// The state of a session (protocols 2025-03-26 … 2025-11-25), kept only in the ``SessionStore`` as JSON.
public struct SessionState: Sendable, Hashable {
    /// The negotiated protocol version.
    public var protocolVersion: ProtocolVersion
    /// The client's `clientInfo` from `initialize`.
    public var clientInfo: JSONValue
    /// The client's capabilities from `initialize`.
    public var clientCapabilities: JSONValue
    /// The level set by `logging/setLevel`; `nil` until the client sets one.
    public var logLevel: LogLevel?
    /// URIs subscribed with `resources/subscribe`.
    public var subscriptions: [String]
    /// The principal the session is bound to.
    public var principal: String
    /// Creation time, milliseconds since the epoch.
    public var createdAt: Int64
    /// Whether `notifications/initialized` arrived.
    public var initialized: Bool

    var json: JSONValue {
        var o: [String: JSONValue] = [
            "v": .string(protocolVersion.rawValue), "ci": clientInfo, "cc": clientCapabilities,
            "sub": .array(subscriptions.map { .string($0) }), "p": .string(principal), "t": .int(createdAt),
            "init": .bool(initialized),
        ]
        if let logLevel { o["ll"] = .string(logLevel.rawValue) }
        return .object(o)
    }

    init(protocolVersion: ProtocolVersion, clientInfo: JSONValue, clientCapabilities: JSONValue, principal: String, createdAt: Int64) {
        self.protocolVersion = protocolVersion
        self.clientInfo = clientInfo
        self.clientCapabilities = clientCapabilities
        self.logLevel = nil
        self.subscriptions = []
        self.principal = principal
        self.createdAt = createdAt
        self.initialized = false
    }

    init?(json: JSONValue) {
        guard case .string(let v)? = json["v"], case .string(let p)? = json["p"] else { return nil }
        self.protocolVersion = ProtocolVersion(v)
        self.clientInfo = json["ci"] ?? [:]
        self.clientCapabilities = json["cc"] ?? [:]
        self.logLevel = json["ll"]?.stringValue.flatMap(LogLevel.init(rawValue:))
        self.subscriptions = json["sub"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.principal = p
        self.createdAt = json["t"].flatMap { if case .int(let i) = $0 { return i } else { return nil } } ?? 0
        self.initialized = json["init"]?.boolValue ?? false
    }
}

/// What a handler running in a session needs to know about it.
struct SessionContext: Sendable {
    var sessionID: String
    var protocolVersion: ProtocolVersion
    var clientCapabilities: JSONValue
}
