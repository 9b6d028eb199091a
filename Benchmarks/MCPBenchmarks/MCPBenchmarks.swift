//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

// Micro-benchmarks of the per-request hot paths (docs/performance.md), with ordo-one/package-benchmark:
//
//   ENABLE_MCP_BENCHMARKS=1 swift package --scratch-path .build-bench benchmark
//
// Each benchmark reports CPU instructions and mallocs per operation (and wall clock, for orientation). Every input
// is built once, outside the measured loop; the loops run `scaledIterations` operations per sample.

import Benchmark
import MCPDemo
import MCPServer
import MCPServerHTTP
import MCPServerRedis
import NIOCore

// A 2026-07-28 `tools/call echo` request as the load harness sends it (scripts/bench), 300-odd bytes.
let echoRequest: [UInt8] = Array(
    #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},"#
        .utf8
) + Array(
    #""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1.0"},"io.modelcontextprotocol/clientCapabilities":{}}}}"#
        .utf8
)

// The response the runtime builds for it.
let echoResponse: JSONValue = [
    "jsonrpc": "2.0",
    "id": 1,
    "result": [
        "content": [["type": "text", "text": "hello"]],
        "isError": false,
        "resultType": "complete",
        "_meta": ["io.modelcontextprotocol/serverInfo": ["name": "mcp-demo-server", "version": "0.1.0"]],
    ],
]

// A progress notification, the most frequent SSE event.
let progressNotification: JSONValue = [
    "jsonrpc": "2.0",
    "method": "notifications/progress",
    "params": ["progressToken": 7, "progress": 3, "total": 10, "message": "step 3 of 10"],
]

// One elicitation answer, what an MRTR round seals after the first `ask`.
let mrtrPayload: JSONValue = [
    "input-1": ["action": "accept", "content": ["answer": "forty-two"]]
]

// RESP3 replies the Redis backend reads on the request path: `GETEX` of a session (a bulk string holding the
// session JSON), and `XRANGE` of an event stream with 8 entries (what a resuming tail reads).
let getexReply: [UInt8] = {
    let session =
        #"3:{"protocolVersion":"2025-11-25","clientInfo":{"name":"bench","version":"1"},"capabilities":{},"principal":"anonymous","createdAt":1790000000000}"#
    return Array("$\(session.utf8.count)\r\n\(session)\r\n".utf8)
}()
let xrangeReply: [UInt8] = {
    var text = "*8\r\n"
    for n in 1...8 {
        let id = "\(n)-0"
        let data = #"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":2,"progress":\#(n),"total":8}}"#
        text += "*2\r\n$\(id.utf8.count)\r\n\(id)\r\n*2\r\n$1\r\nd\r\n$\(data.utf8.count)\r\n\(data)\r\n"
    }
    return Array(text.utf8)
}()

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.instructions, .mallocCountTotal, .wallClock],
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000
    )

    Benchmark("JSON-RPC envelope parse (tools/call, \(echoRequest.count) B)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try JSONRPCMessage.parse(echoRequest))
        }
    }

    // The runtime's whole share of a modern `tools/call echo`: `_meta`, dispatch, argument validation, the handler,
    // the result and its envelope (not the HTTP edge, not the encoding).
    let server = MCPServer(configuration: MCPServerConfiguration(name: "mcp-demo-server", version: "0.1.0"), backends: .inMemory())
    DemoServer.register(on: server)
    let echoCall: IncomingRequest = {
        guard case .request(let id, let method, let params) = try! JSONRPCMessage.parse(echoRequest) else { fatalError() }
        return IncomingRequest(id: id, method: method, params: params)
    }()
    Benchmark("runtime handle (MCPServer.handle, modern tools/call echo, in-memory)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(await server.handle(echoCall, sink: DiscardingSink()))
        }
    }

    Benchmark("result encoding (JSONWriter.encode, echo response)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(JSONWriter.encode(echoResponse))
        }
    }

    Benchmark("SSE event framing (SSE.frame, progress notification)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(SSE.frame(progressNotification))
        }
    }

    let sealer = RequestStateSealer(keyRing: StaticKeyRing(keys: [.random()]))
    let binding = RequestStateSealer.binding(method: "tools/call", target: "ask", arguments: ["question": "Why?"])

    // Computed for every tools/call, resources/read and prompts/get, MRTR or not.
    Benchmark("MRTR binding (RequestStateSealer.binding, every tools/call)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(RequestStateSealer.binding(method: "tools/call", target: "echo", arguments: ["text": "hello"]))
        }
    }

    Benchmark("MRTR seal (RequestStateSealer.seal, one answer)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await sealer.seal(mrtrPayload, binding: binding, principal: .anonymous))
        }
    }

    Benchmark("MRTR open (RequestStateSealer.open, one answer)") { benchmark in
        let token = try await sealer.seal(mrtrPayload, binding: binding, principal: .anonymous)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await sealer.open(token, binding: binding, principal: .anonymous))
        }
    }

    Benchmark("RESP parser (GETEX reply, session JSON, \(getexReply.count) B)") { benchmark in
        let input = ByteBuffer(bytes: getexReply)
        var parser = RESPParser()
        for _ in benchmark.scaledIterations {
            var buffer = input
            blackHole(try parser.next(from: &buffer))
        }
    }

    Benchmark("RESP parser (XRANGE reply, 8 entries, \(xrangeReply.count) B)") { benchmark in
        let input = ByteBuffer(bytes: xrangeReply)
        var parser = RESPParser()
        for _ in benchmark.scaledIterations {
            var buffer = input
            blackHole(try parser.next(from: &buffer))
        }
    }
}
