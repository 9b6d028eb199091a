//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Foundation
import Testing

/// The demo server against stores whose certificate it must refuse: it exits at start, non-zero, and says why.
/// Runs the `mcp-demo-server` that `swift build --build-tests` built (`MCP_DEMO_SERVER_BIN` overrides it).
@Suite("mcp-demo-server stops at start on a wrong CA", .enabled(if: TestPostgres.shouldRun), .timeLimit(.minutes(1)))
struct DemoServerStartupTests {
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["MCP_DEMO_SERVER_BIN"] { return path }
        return FileManager.default.currentDirectoryPath + "/.build/debug/mcp-demo-server"
    }()

    /// Runs the server with `backend` and returns its exit status and output, or fails if it is still running after
    /// 20 s (it would be serving).
    func start(backend: String) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["--port", "0", "--backend", backend]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let deadline = ContinuousClock.now + .seconds(20)
        while process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            Issue.record("mcp-demo-server was still running 20 s after start with --backend \(backend)")
        }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, output)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary)))
    func postgresWithTheWrongCA() async throws {
        let base = TestPostgres.configuration
        let certs = TestPostgres.certificates ?? "/nonexistent"
        let (status, output) = try await start(
            backend: "postgres://\(base.username)@localhost:\(base.port)/\(base.database ?? base.username)?sslmode=verify-full&sslrootcert=\(certs)/other-ca.pem"
        )
        #expect(status != 0)
        #expect(output.uppercased().contains("CERTIFICATE_VERIFY_FAILED"), "output: \(output.suffix(600))")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary) && ProcessInfo.processInfo.environment["REDIS_TLS_PORT"] != nil))
    func redisWithTheWrongCA() async throws {
        let environment = ProcessInfo.processInfo.environment
        let port = environment["REDIS_TLS_PORT"] ?? "1"
        let certs = environment["REDIS_CERTS"] ?? "/nonexistent"
        let (status, output) = try await start(backend: "rediss://127.0.0.1:\(port)?cacert=\(certs)/other-ca.pem")
        #expect(status != 0)
        #expect(output.uppercased().contains("CERTIFICATE_VERIFY_FAILED"), "output: \(output.suffix(600))")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary)))
    func postgresWithAMissingCAFile() async throws {
        let base = TestPostgres.configuration
        let (status, output) = try await start(
            backend: "postgres://\(base.username)@localhost:\(base.port)/mcp?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"
        )
        #expect(status != 0)
        #expect(output.contains("/nonexistent/ca.pem"), "output: \(output.suffix(600))")
    }
}
