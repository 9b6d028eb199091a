//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

// `mcp-bench-raw`: the `raw` target of scripts/bench. A Hummingbird 2 server, configured like mcp-demo-server,
// that answers every POST with the same fixed JSON-RPC result and parses nothing (not the headers' values, not the
// body): the physical limit of this HTTP stack on this machine, against which scripts/bench reports the others.
//
// Usage: mcp-bench-raw [port] [--event-loop-executor]      (binds 127.0.0.1; default port 8081)

import Hummingbird
import NIOCore
import NIOPosix

// `--event-loop-executor`: the same option as mcp-demo-server's, so each configuration has its own `raw`.
if CommandLine.arguments.contains("--event-loop-executor") {
    _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8081 : 8081

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
