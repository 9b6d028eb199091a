//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import HTTPTypes
public import Hummingbird
public import HummingbirdTesting
public import MCPServer
public import MCPServerHTTP
import NIOCore

/// Which test framework serves the application.
public struct MCPTestMode: Sendable {
    let setup: TestingSetup
    let isRouter: Bool

    /// In process, through the router, with no socket.
    public static let router = MCPTestMode(setup: .router, isRouter: true)
    /// A real server on a loopback port.
    public static let live = MCPTestMode(setup: .live, isRouter: false)
}

/// A response from the MCP endpoint, with its SSE events (if any) decoded.
public struct MCPTestResponse: Sendable {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// The response headers.
    public var headers: HTTPFields
    /// The raw body.
    public var body: ByteBuffer
    /// Every JSON-RPC message in the body: one for a JSON response, each `data:` event for SSE.
    public var messages: [JSONValue]

    /// The last message: the final response of a request.
    public var final: JSONValue? { messages.last }
    /// The `result` of the final response.
    public var result: JSONValue? { final?["result"] }
    /// The `error` of the final response.
    public var error: JSONValue? { final?["error"] }
    /// Whether the response was an SSE stream.
    public var isEventStream: Bool { headers[.contentType]?.hasPrefix("text/event-stream") == true }
}

/// Sends MCP requests to an application under test, with the headers a conforming 2026-07-28 client sends.
public struct MCPTestClient: Sendable {
    /// The underlying Hummingbird test client.
    public let client: any TestClientProtocol
    /// The endpoint path.
    public var path: String
    /// `_meta` client capabilities sent with each request.
    public var clientCapabilities: JSONValue

    /// Wraps a Hummingbird test client.
    public init(client: any TestClientProtocol, path: String = "/mcp", clientCapabilities: JSONValue = [:]) {
        self.client = client
        self.path = path
        self.clientCapabilities = clientCapabilities
    }

    /// The standard headers for a request, including `Mcp-Name` where the method needs it.
    public func headers(method: String, params: [String: JSONValue]) -> HTTPFields {
        var h = HTTPFields()
        h[.contentType] = "application/json"
        h[.accept] = "application/json, text/event-stream"
        h[HTTPField.Name("MCP-Protocol-Version")!] = ProtocolVersion.v2026_07_28.rawValue
        h[HTTPField.Name("Mcp-Method")!] = method
        let name = method == "resources/read" ? params["uri"]?.stringValue : params["name"]?.stringValue
        if let name, ["tools/call", "resources/read", "prompts/get"].contains(method) {
            h[HTTPField.Name("Mcp-Name")!] = name
        }
        return h
    }

    /// The params of a request with the standard `_meta` added.
    public func params(_ params: [String: JSONValue], meta extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
        var p = params
        var meta: [String: JSONValue] = [
            MetaKey.protocolVersion: .string(ProtocolVersion.v2026_07_28.rawValue),
            MetaKey.clientInfo: ["name": "mcp-test-client", "version": "1.0.0"],
            MetaKey.clientCapabilities: clientCapabilities,
        ]
        for (k, v) in extra { meta[k] = v }
        p["_meta"] = .object(meta)
        return p
    }

    /// Sends a well-formed request.
    public func request(
        _ method: String,
        params: [String: JSONValue] = [:],
        meta: [String: JSONValue] = [:],
        id: JSONRPCRequestID = .int(1),
        extraHeaders: HTTPFields = HTTPFields()
    ) async throws -> MCPTestResponse {
        let full = self.params(params, meta: meta)
        var h = headers(method: method, params: full)
        for field in extraHeaders { h[field.name] = field.value }
        let body = JSONWriter.encode(["jsonrpc": "2.0", "id": id.json, "method": .string(method), "params": .object(full)])
        return try await raw(body: body, headers: h)
    }

    /// Sends any bytes with any headers.
    public func raw(body: [UInt8], headers: HTTPFields, method: HTTPRequest.Method = .post) async throws -> MCPTestResponse {
        let response = try await client.executeRequest(uri: path, method: method, headers: headers, body: ByteBuffer(bytes: body))
        return MCPTestResponse(status: response.status, headers: response.headers, body: response.body, messages: Self.decode(response))
    }

    static func decode(_ response: TestResponse) -> [JSONValue] {
        let text = String(buffer: response.body)
        if response.headers[.contentType]?.hasPrefix("text/event-stream") == true {
            return text.components(separatedBy: "\n\n").compactMap { event -> JSONValue? in
                let data = event.split(separator: "\n").filter { $0.hasPrefix("data:") }.map { $0.dropFirst(5).drop { $0 == " " } }
                guard !data.isEmpty else { return nil }
                return try? JSONParser().parse(data.joined(separator: "\n"))
            }
        }
        guard !text.isEmpty, let value = try? JSONParser().parse(text) else { return [] }
        return [value]
    }
}

extension MCPServer {
    /// Serves this server through the HTTP edge in a test application and runs `body` with a client.
    /// - Parameters:
    ///   - mode: in-process router or a live loopback server.
    ///   - configuration: the edge configuration; inbound-close cancellation is turned off in router mode.
    ///   - clientCapabilities: capabilities the client declares on each request.
    ///   - body: the test.
    public func withTestClient<Value: Sendable>(
        mode: MCPTestMode = .router,
        configuration: MCPHTTPConfiguration = MCPHTTPConfiguration(),
        clientCapabilities: JSONValue = [:],
        _ body: @Sendable (MCPTestClient) async throws -> Value
    ) async throws -> Value {
        var configuration = configuration
        if mode.isRouter { configuration.cancelOnInboundClose = false }
        let router = Router()
        MCPHTTPEndpoint(server: self, configuration: configuration).addRoutes(to: router)
        var app = Application(router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)))
        app.addServices(self)
        app.addServices(backends.services)
        let path = configuration.path
        return try await app.test(mode.setup) { client in
            try await body(MCPTestClient(client: client, path: path, clientCapabilities: clientCapabilities))
        }
    }
}
