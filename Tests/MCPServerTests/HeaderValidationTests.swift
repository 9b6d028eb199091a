//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Testing

@testable import MCPServer

@Suite("Request metadata headers")
struct HeaderValidationTests {
    let server: MCPServer = {
        let s = MCPServer(configuration: MCPServerConfiguration(name: "t", version: "1"), backends: .inMemory())
        s.registerTool(
            Tool(
                name: "sql",
                inputSchema: [
                    "type": "object",
                    "properties": ["region": ["type": "string", "x-mcp-header": "Region"], "limit": ["type": "integer", "x-mcp-header": "Limit"]],
                ]
            )
        ) { _, _ in .text("ok") }
        return s
    }()

    func params(_ extra: [String: JSONValue] = [:], version: String = "2026-07-28") -> [String: JSONValue] {
        var p = extra
        p["_meta"] = [MetaKey.protocolVersion: .string(version), MetaKey.clientCapabilities: [:]]
        return p
    }

    func code(_ headers: RequestMetadataHeaders, _ method: String, _ params: [String: JSONValue]) -> Int? {
        server.validateHeaders(headers, method: method, params: params)?.code
    }

    @Test func requiresVersionAndMethodHeaders() {
        #expect(code(RequestMetadataHeaders(method: "tools/list"), "tools/list", params()) == -32020)
        #expect(code(RequestMetadataHeaders(protocolVersion: "2026-07-28"), "tools/list", params()) == -32020)
        #expect(code(RequestMetadataHeaders(protocolVersion: "2026-07-28", method: "tools/list"), "tools/list", params()) == nil)
        #expect(code(RequestMetadataHeaders(protocolVersion: "2026-07-28", method: "prompts/list"), "tools/list", params()) == -32020)
        // Header and body disagree on the version.
        #expect(code(RequestMetadataHeaders(protocolVersion: "2026-07-28", method: "tools/list"), "tools/list", params(version: "2025-11-25")) == -32020)
        // Both agree on a version this server does not speak.
        #expect(code(RequestMetadataHeaders(protocolVersion: "2099-01-01", method: "tools/list"), "tools/list", params(version: "2099-01-01")) == -32022)
        // A required `_meta` field missing is malformed (-32602, HTTP 400), before any comparison with the headers.
        let both = RequestMetadataHeaders(protocolVersion: "2026-07-28", method: "tools/list")
        #expect(code(both, "tools/list", ["_meta": [MetaKey.protocolVersion: "2026-07-28"]]) == -32602)
        #expect(code(both, "tools/list", ["_meta": [MetaKey.clientCapabilities: [:]]]) == -32602)
        #expect(code(both, "tools/list", [:]) == -32602)
        #expect(code(both, "tools/list", ["_meta": "2026-07-28"]) == -32602)
        #expect(code(both, "tools/list", ["_meta": [MetaKey.protocolVersion: "2026-07-28", MetaKey.clientCapabilities: .null]]) == -32602)
        #expect(code(both, "tools/list", ["_meta": [MetaKey.protocolVersion: 20260728, MetaKey.clientCapabilities: [:]]]) == -32602)
        // An unknown version is reported as such even when `_meta` is incomplete.
        #expect(code(RequestMetadataHeaders(protocolVersion: "2099-01-01", method: "tools/list"), "tools/list", [:]) == -32022)
    }

    @Test func checksMcpNameIncludingBase64() {
        let h = RequestMetadataHeaders(protocolVersion: "2026-07-28", method: "tools/call", name: "sql")
        #expect(code(h, "tools/call", params(["name": "sql"])) == nil)
        #expect(code(h, "tools/call", params(["name": "other"])) == -32020)
        var missing = h
        missing.name = nil
        #expect(code(missing, "tools/call", params(["name": "sql"])) == -32020)
        // "Hello, 世界" in the sentinel form.
        let encoded = RequestMetadataHeaders(protocolVersion: "2026-07-28", method: "resources/read", name: "=?base64?SGVsbG8sIOS4lueVjA==?=")
        #expect(code(encoded, "resources/read", params(["uri": "Hello, 世界"])) == nil)
        let broken = RequestMetadataHeaders(protocolVersion: "2026-07-28", method: "resources/read", name: "=?base64?***?=")
        #expect(code(broken, "resources/read", params(["uri": "x"])) == -32020)
        #expect(RequestMetadataHeaders.decodeValue("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=") == "=?base64?literal?=")
        #expect(RequestMetadataHeaders.decodeValue("bad\u{7F}") == nil)
    }

    @Test func checksCustomParameterHeaders() {
        var h = RequestMetadataHeaders(protocolVersion: "2026-07-28", method: "tools/call", name: "sql")
        let args: [String: JSONValue] = ["name": "sql", "arguments": ["region": "us-west1", "limit": 42]]
        #expect(code(h, "tools/call", params(args)) == -32020)  // headers missing
        h.params = ["region": "us-west1", "limit": "42.0"]
        #expect(code(h, "tools/call", params(args)) == nil)  // numeric comparison
        h.params = ["region": "eu", "limit": "42"]
        #expect(code(h, "tools/call", params(args)) == -32020)
        h.params = ["region": "us-west1"]
        #expect(code(h, "tools/call", params(["name": "sql", "arguments": ["region": "us-west1"]])) == nil)
        h.params = ["region": "us-west1", "limit": "1"]
        #expect(code(h, "tools/call", params(["name": "sql", "arguments": ["region": "us-west1"]])) == -32020)
        // Unknown Mcp-Param headers are ignored.
        h.params = ["region": "us-west1", "other": "x"]
        #expect(code(h, "tools/call", params(["name": "sql", "arguments": ["region": "us-west1", "limit": nil]])) == nil)
    }

    @Test func mapsErrorsToStatusCodes() {
        #expect(Refusal.status(for: -32700) == 400)
        #expect(Refusal.status(for: -32020) == 400)
        #expect(Refusal.status(for: -32021) == 400)
        #expect(Refusal.status(for: -32022) == 400)
        #expect(Refusal.status(for: -32601) == 404)
        #expect(Refusal.status(for: -32602) == 200)
    }
}
