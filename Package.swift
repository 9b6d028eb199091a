// swift-tools-version: 6.1
//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "swift-mcp-server",
    platforms: [.macOS(.v15)],
    products: [
        // The protocol runtime: no HTTP, no backend dependency beyond the in-memory ones.
        .library(name: "MCPServer", targets: ["MCPServer"]),
        // The Hummingbird 2 HTTP edge.
        .library(name: "MCPServerHTTP", targets: ["MCPServerHTTP"]),
        // Helpers for testing servers built on the runtime.
        .library(name: "MCPServerTesting", targets: ["MCPServerTesting"]),
        // The demo server's tools, resources and prompts, as a library.
        .library(name: "MCPDemo", targets: ["MCPDemo"]),
        // The Redis backends and their RESP3 client on SwiftNIO.
        .library(name: "MCPServerRedis", targets: ["MCPServerRedis"]),
        // The PostgreSQL backends on postgres-nio; a product of its own, so servers without it do not build it.
        .library(name: "MCPServerPostgres", targets: ["MCPServerPostgres"]),
        // OAuth 2.1 resource server: JWT access tokens verified against a JWKS (a file, or a URL), on jwt-kit and
        // async-http-client; a product of its own, so servers without it do not build them.
        .library(name: "MCPServerAuth", targets: ["MCPServerAuth"]),
        .executable(name: "mcp-demo-server", targets: ["MCPDemoServerCLI"]),
        // A server with the official conformance suite's "everything server" contract (docs/conformance.md).
        .executable(name: "mcp-conformance-server", targets: ["MCPConformanceServerCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .target(
            name: "MCPServer",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MCPServerHTTP",
            dependencies: [
                "MCPServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MCPServerTesting",
            dependencies: [
                "MCPServer",
                "MCPServerHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MCPServerRedis",
            dependencies: [
                "MCPServer",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MCPServerPostgres",
            dependencies: [
                "MCPServer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MCPServerAuth",
            dependencies: [
                "MCPServer",
                "MCPServerHTTP",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MCPDemo",
            dependencies: ["MCPServer"],
            swiftSettings: swiftSettings
        ),
        // The flags and the serving code that the server executables share.
        .target(
            name: "MCPServerCLI",
            dependencies: [
                "MCPServer",
                "MCPServerHTTP",
                "MCPServerRedis",
                "MCPServerPostgres",
                "MCPServerAuth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MCPDemoServerCLI",
            dependencies: [
                "MCPDemo",
                "MCPServerCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MCPConformance",
            dependencies: ["MCPServer"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MCPConformanceServerCLI",
            dependencies: [
                "MCPConformance",
                "MCPServerCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MCPServerTests",
            dependencies: [
                "MCPServer",
                "MCPDemo",
                "MCPServerTesting",
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MCPServerHTTPTests",
            dependencies: [
                "MCPServer",
                "MCPServerHTTP",
                "MCPServerTesting",
                "MCPDemo",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MCPServerAuthTests",
            dependencies: [
                "MCPServer",
                "MCPServerHTTP",
                "MCPServerAuth",
                "MCPServerTesting",
                "MCPDemo",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MCPServerPostgresTests",
            dependencies: [
                "MCPServer",
                "MCPServerPostgres",
                "MCPServerRedis",
                "MCPServerTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MCPServerRedisTests",
            dependencies: [
                "MCPServer",
                "MCPServerRedis",
                "MCPServerTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// Benchmarks (docs/performance.md), only when asked for, the way Hummingbird does it, so ordinary builds never
// resolve package-benchmark:
//   ENABLE_MCP_BENCHMARKS=1 swift package --scratch-path .build-bench benchmark   (micro-benchmarks)
//   scripts/bench                                                                  (the load harness; builds mcp-bench-raw)
if Context.environment["ENABLE_MCP_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"])
    )
    package.targets.append(contentsOf: [
        // The `raw` target of scripts/bench: Hummingbird 2 answering every POST with a fixed JSON-RPC result.
        .executableTarget(
            name: "mcp-bench-raw",
            dependencies: [
                "MCPServerHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // Rooted at Benchmarks/ (not Benchmarks/RawServer) so `swift package benchmark`, which runs every
            // executable target in a folder directly under Benchmarks/, does not mistake it for a benchmark.
            path: "Benchmarks",
            exclude: ["MCPBenchmarks", "python", "wrk", "harness"],
            sources: ["RawServer"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MCPBenchmarks",
            dependencies: [
                "MCPDemo",
                "MCPServer",
                "MCPServerHTTP",
                "MCPServerRedis",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/MCPBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ])
}
