//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Foundation

/// The MCP request metadata headers of one HTTP request.
package struct RequestMetadataHeaders: Sendable {
    /// `MCP-Protocol-Version`.
    package var protocolVersion: String?
    /// `Mcp-Method`.
    package var method: String?
    /// `Mcp-Name`, as sent (possibly in the Base64 sentinel form).
    package var name: String?
    /// `Mcp-Param-{Name}` headers, keyed by the lower-cased `{Name}`.
    package var params: [String: String]

    /// Creates the header set.
    package init(protocolVersion: String? = nil, method: String? = nil, name: String? = nil, params: [String: String] = [:]) {
        self.protocolVersion = protocolVersion
        self.method = method
        self.name = name
        self.params = params
    }

    /// Decodes a header value that may use the `=?base64?…?=` sentinel form. `nil` if the value is malformed.
    package static func decodeValue(_ value: String) -> String? {
        guard value.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 <= 0x7E) }) else { return nil }
        guard value.hasPrefix("=?base64?"), value.hasSuffix("?="), value.utf8.count >= 11 else { return value }
        let inner = value.dropFirst(9).dropLast(2)
        guard let data = Data(base64Encoded: String(inner)) else { return nil }
        return String(validating: Array(data), as: UTF8.self)
    }
}

extension MCPServer {
    /// Checks the request metadata headers of a stateless request against its body, as the Streamable HTTP transport
    /// requires. Returns the error to send (HTTP 400), or `nil` when the headers are valid.
    func validateHeaders(_ headers: RequestMetadataHeaders, method: String, params: [String: JSONValue]) -> JSONRPCError? {
        guard let headerVersion = headers.protocolVersion else {
            return .headerMismatch("the MCP-Protocol-Version header is required")
        }
        // An unknown version first, whatever else is wrong: a client that speaks several eras learns which to use.
        guard Self.statelessVersions.contains(headerVersion) else {
            return .unsupportedProtocolVersion(requested: headerVersion, supported: Self.statelessVersions)
        }
        // A request missing a required `_meta` field (or with one of the wrong type) is malformed: -32602 with status
        // 400 (basic/index.mdx).
        guard case .object(let meta)? = params["_meta"], case .string(let bodyVersion)? = meta[MetaKey.protocolVersion],
            case .object? = meta[MetaKey.clientCapabilities]
        else {
            return .invalidParams(
                "params._meta must carry the required fields \(MetaKey.protocolVersion) (a string) and \(MetaKey.clientCapabilities) (an object)"
            )
        }
        guard bodyVersion == headerVersion else {
            return .headerMismatch("MCP-Protocol-Version header value '\(headerVersion)' does not match body value '\(bodyVersion)'")
        }
        guard let headerMethod = headers.method else { return .headerMismatch("the Mcp-Method header is required") }
        guard headerMethod == method else {
            return .headerMismatch("Mcp-Method header value '\(headerMethod)' does not match body value '\(method)'")
        }
        let nameKey: String?
        switch method {
        case "tools/call", "prompts/get": nameKey = "name"
        case "resources/read": nameKey = "uri"
        case "tasks/get", "tasks/update", "tasks/cancel": nameKey = "taskId"
        default: nameKey = nil
        }
        if let nameKey {
            guard let raw = headers.name else { return .headerMismatch("the Mcp-Name header is required for \(method)") }
            guard let decoded = RequestMetadataHeaders.decodeValue(raw) else {
                return .headerMismatch("the Mcp-Name header value is malformed")
            }
            let bodyValue = params[nameKey]?.stringValue
            guard decoded == bodyValue else {
                return .headerMismatch("Mcp-Name header value '\(decoded)' does not match body value '\(bodyValue ?? "(absent)")'")
            }
        }
        if method == "tools/call", let toolName = params["name"]?.stringValue {
            let annotated = registry.headerParameters(ofTool: toolName)
            for (header, path) in annotated {
                var node: JSONValue? = params["arguments"]
                for key in path { node = node?[key] }
                let sent = headers.params[header]
                switch (node, sent) {
                case (nil, nil), (.null?, nil):
                    continue
                case (nil, _?), (.null?, _?):
                    return .headerMismatch("Mcp-Param-\(header) is present but the argument is absent")
                case (let value?, nil):
                    return .headerMismatch("the Mcp-Param-\(header) header is required: the argument \(path.joined(separator: ".")) is present (\(value.typeName))")
                case (let value?, let raw?):
                    guard let decoded = RequestMetadataHeaders.decodeValue(raw) else {
                        return .headerMismatch("the Mcp-Param-\(header) header value is malformed")
                    }
                    if !Self.headerValue(decoded, matches: value) {
                        return .headerMismatch("Mcp-Param-\(header) header value '\(decoded)' does not match the body")
                    }
                }
            }
            // Headers for parameters this tool does not annotate are ignored, as intermediaries must.
        }
        return nil
    }

    static func headerValue(_ header: String, matches value: JSONValue) -> Bool {
        switch value {
        case .string(let s): return s == header
        case .bool(let b): return header == (b ? "true" : "false")
        case .int, .double:
            guard let d = Double(header) else { return false }
            return d == value.doubleValue
        default: return false
        }
    }
}
