//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

// `mcp-bench-raw`: the `raw` target of scripts/bench. A Hummingbird 2 server, configured like mcp-demo-server,
// that answers every POST with the same fixed JSON-RPC result and parses nothing (not the headers' values, not the
// body): the physical limit of this HTTP stack on this machine, against which scripts/bench reports the others.
//
// Usage: mcp-bench-raw [port] [--event-loop-executor] [--event-loop-threads N]   (binds 127.0.0.1; default port 8081)

import Hummingbird
import MCPServerHTTP
import NIOCore
import NIOPosix

// `--event-loop-threads N` and `--event-loop-executor`: the same options, with the same defaults, as
// mcp-demo-server's, so that `raw` is configured like the server it is compared with.
let arguments = CommandLine.arguments
var loops: Int?
if let i = arguments.firstIndex(of: "--event-loop-threads") {
    guard i + 1 < arguments.count, let count = Int(arguments[i + 1]), (1...EventLoopThreads.maximumLoops).contains(count) else {
        print("mcp-bench-raw: --event-loop-threads needs a count from 1 to \(EventLoopThreads.maximumLoops)")
        exit(2)
    }
    loops = count
}
EventLoopThreads.configureSingletonGroup(loops: loops)
if arguments.contains("--event-loop-executor") {
    _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}

let port = arguments.count > 1 ? Int(arguments[1]) ?? 8081 : 8081

// A 2026-07-28 `tools/call echo` result of "hello", 210 bytes: about what the demo server writes for it (194 bytes).
let body = ByteBuffer(
    string: #"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}],"isError":false,"#
        + #""resultType":"complete","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"mcp-demo-server","version":"0.1.0"}}}}"#
)

let router = Router()
router.post("**") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}
let app = Application(
    router: router,
    configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port), serverName: "mcp-bench-raw")
)
try await app.runService()
