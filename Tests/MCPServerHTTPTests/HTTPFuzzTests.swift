//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import HTTPTypes
import Hummingbird
import MCPServer
import MCPServerHTTP
import MCPServerTesting
import Testing

@Suite("HTTP edge fuzzing")
struct HTTPFuzzTests {
    static let seeds: [String] = [
        #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        #"{"jsonrpc":"2.0","id":"x","method":"tools/list","params":{"cursor":"cDEuMQ","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{"question":"q"},"requestState":"v1.AAAA.BBBB","inputResponses":{"input-1":{"action":"accept"}},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}}"#,
        #"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"demo://items/1","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/logLevel":"debug"}}}"#,
    ]

    /// Thousands of malformed bodies and headers: each gets a 4xx (or a JSON-RPC error), never a crash or a 5xx.
    @Test func malformedRequestsGetClientErrors() async throws {
        let server = demoServer()
        let config = MCPHTTPConfiguration(maxBodySize: 64 * 1024, streamingThreshold: .seconds(5))
        try await server.withTestClient(configuration: config) { client in
            var rng = SeededRandom(seed: 2026)
            let methods = ["tools/call", "tools/list", "resources/read", "prompts/get", "nope", "", "tools/call\u{7F}"]
            var statuses: [Int: Int] = [:]
            for i in 0..<3000 {
                var body = Array(Self.seeds[i % Self.seeds.count].utf8)
                for _ in 0..<(1 + Int(rng.next() % 6)) {
                    let pos = Int(rng.next() % UInt64(body.count))
                    switch rng.next() % 4 {
                    case 0: body[pos] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: body.remove(at: pos)
                    case 2: body.insert(UInt8(truncatingIfNeeded: rng.next() % 128), at: pos)
                    default: body[pos] = Array("{}[]\",:0\\".utf8)[Int(rng.next() % 9)]
                    }
                    if body.isEmpty { body = [0x7B] }
                }
                var headers = client.headers(method: methods[Int(rng.next() % UInt64(methods.count))], params: [:])
                if rng.next() % 3 == 0 { headers[HTTPField.Name("MCP-Protocol-Version")!] = ["", "2025-11-25", "x", "2026-07-28 "][Int(rng.next() % 4)] }
                if rng.next() % 5 == 0 { headers[HTTPField.Name("Mcp-Name")!] = ["=?base64?%%?=", "echo", "=?base64?ZWNobw==?="][Int(rng.next() % 3)] }
                if rng.next() % 7 == 0 { headers[.contentType] = "application/json; charset=utf-8" }
                let r = try await client.raw(body: body, headers: headers)
                let code = r.status.code
                statuses[code, default: 0] += 1
                #expect(code < 500, "status \(code) for \(String(decoding: body, as: UTF8.self))")
                if code >= 400 && code != 413 {
                    #expect(r.final?["error"]?["code"]?.intValue != nil, "no JSON-RPC error for status \(code)")
                }
                if code == 200 {
                    #expect(r.final?["result"] != nil || r.final?["error"] != nil)
                }
            }
            // The mutations must actually reach the error paths.
            #expect((statuses[400] ?? 0) > 500)
            // And the server still answers normally afterwards.
            let ok = try await client.request("tools/call", params: ["name": "echo", "arguments": ["text": "still up"]])
            #expect(ok.result?["content"] == [["type": "text", "text": "still up"]])
        }
    }
}
