//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import ArgumentParser
import MCPDemo
import MCPServerCLI

@main
struct DemoServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp-demo-server",
        abstract: "The MCP demo server: protocol 2026-07-28 over Streamable HTTP at /mcp."
    )

    @OptionGroup var options: ServeOptions

    static func main() async {
        await ServeOptions.main(Self.self) { $0.options }
    }

    func run() async throws {
        try await options.serve(
            name: "mcp-demo-server",
            version: "0.1.0",
            instructions: "A demo server: echo, add, countdown, ask, ask-twice, summarize, list-roots, touch and fail.",
            register: DemoServer.register(on:)
        )
    }
}
