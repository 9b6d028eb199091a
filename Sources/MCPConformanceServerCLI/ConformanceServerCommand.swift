//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ArgumentParser
import MCPConformance
import MCPServerCLI

@main
struct ConformanceServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp-conformance-server",
        abstract: "The official MCP conformance suite's everything-server contract, on this runtime (docs/conformance.md).",
        discussion: "Takes the same flags as mcp-demo-server: with --backend redis://... or postgres://... it runs as one of many replicas."
    )

    @OptionGroup var options: ServeOptions

    static func main() async {
        await ServeOptions.main(Self.self) { $0.options }
    }

    func run() async throws {
        try await options.serve(
            name: "mcp-conformance-server",
            version: "1.0.0",
            instructions: "The MCP conformance suite's everything server: test_* tools, test:// resources and test_* prompts.",
            register: ConformanceServer.register(on:)
        )
    }
}
