//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

package import ArgumentParser
import Hummingbird
import Logging
package import MCPServer
import MCPServerAuth
import MCPServerHTTP
import MCPServerPostgres
import MCPServerRedis
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The command-line options every server executable of this package shares (`mcp-demo-server`,
/// `mcp-conformance-server`): where to listen, the backend, keys, authorization, drain and the event loops.
///
/// An executable embeds them with `@OptionGroup`, so the flags are the same everywhere, and calls
/// ``serve(name:version:instructions:register:)`` from `run()` and ``main(_:options:)`` from its `main()`.
package struct ServeOptions: ParsableArguments {
    package init() {}

    @Option(help: "The address to bind.")
    package var host = "127.0.0.1"

    @Option(help: "The port to bind (0 picks a free one).")
    package var port = 8080

    @Option(
        help: """
            Where shared state lives: memory (embedded, one process), redis://[user:password@]host:port[/db] \
            (rediss:// for TLS, ?cacert=&sni=&cert=&key=), or postgres://user[:password]@host:port/db \
            (?sslmode=disable|require|verify-full&sslrootcert=&pool_size=).
            """
    )
    package var backend = "memory"

    @Option(name: .customLong("replica-id"), help: "This replica's id (default: random).")
    package var replicaID: String?

    @Option(name: .customLong("allowed-origin"), help: "An Origin allowed to call the endpoint; repeatable. Default: loopback origins only.")
    package var allowedOrigins: [String] = []

    @Option(name: .customLong("key"), help: "A base64 32-byte key; repeatable. The first seals, all open. Default: one random key.")
    package var keys: [String] = []

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    package var logLevel = "info"

    @Option(
        name: .customLong("sse-poll-after-ms"),
        help: "Legacy SSE polling (SEP-1699): close SSE connections after this many ms without ending the stream; 0 = never."
    )
    package var ssePollAfterMs = 0

    @Flag(
        name: .customLong("http-sse"), inversion: .prefixedNo,
        help: "Serve the 2024-11-05 HTTP+SSE transport (GET --sse-path, POST --messages-path) beside /mcp."
    )
    package var httpSSE = true

    @Option(name: .customLong("sse-path"), help: "The HTTP+SSE transport's stream path (GET).")
    package var ssePath = "/sse"

    @Option(name: .customLong("messages-path"), help: "The HTTP+SSE transport's message path (POST ?sessionId=...).")
    package var messagesPath = "/messages"

    @Option(name: .customLong("auth-jwks"), help: "Turns authorization on: the JSON Web Key Set of the token issuer, as a file path or an http(s) URL.")
    package var authJWKS: String?

    @Option(name: .customLong("auth-issuer"), help: "With --auth-jwks: the expected iss of access tokens, also listed as the authorization server.")
    package var authIssuer: String?

    @Option(
        name: .customLong("auth-audience"),
        help: "With --auth-jwks: this server's canonical resource URI, expected in aud and served as resource (default http://<host>:<port>/mcp)."
    )
    package var authAudience: String?

    @Option(name: .customLong("auth-scope"), help: "With --auth-jwks: a scope every MCP request needs; repeatable.")
    package var authScopes: [String] = []

    @Option(
        name: .customLong("auth-jwks-refresh-ms"),
        help: "With --auth-jwks: a token naming an unknown key reloads the key set, at most once per this many ms."
    )
    package var authJWKSRefreshMs = 60_000

    @Option(name: .customLong("client-request-timeout-ms"), help: "How long a handler waits for a legacy client's answer to a server-to-client request.")
    package var clientRequestTimeoutMs = 60_000

    @Option(
        name: .customLong("replica-lease-ms"),
        help: "This replica's lease in the shared store, renewed every third of it: another replica ends the streams of a dead one within about this long (at least 300)."
    )
    package var replicaLeaseMs = 5_000

    @Option(
        name: .customLong("drain-delay-ms"),
        help: "On SIGTERM/SIGINT, keep serving this long (readiness 503, every response with Connection: close) before the drain begins: the load balancer's propagation time."
    )
    package var drainDelayMs = 0

    @Option(
        name: .customLong("drain-timeout-ms"),
        help: "Once the drain begins, how long in-flight handlers may run before they are cancelled (their answer is then -32010, reason drain_deadline)."
    )
    package var drainTimeoutMs = 30_000

    @Flag(
        name: .customLong("task-rerun"), inversion: .prefixedNo,
        help: "Run a task again elsewhere when the replica running it dies, if its tool declares that safe; with --no-task-rerun such a task fails with -32010 (replica_lost)."
    )
    package var taskRerun = true

    @Flag(
        name: .customLong("event-loop-executor"),
        help: "Run all Swift concurrency work on the SwiftNIO event loops instead of the global thread pool: fewer thread hops per request, but a handler that blocks its thread stalls that loop's connections (docs/performance.md)."
    )
    package var eventLoopExecutor = false

    @Option(
        name: .customLong("event-loop-threads"),
        help: "How many SwiftNIO event loops to run (1-1024). Default: one per CPU this process may run on (its CPU affinity, e.g. under taskset, within any cgroup limit), unless NIO_SINGLETON_GROUP_LOOP_COUNT is set."
    )
    package var eventLoopThreads: Int?

    /// Runs `Command` as the process's root command: parses the command line, sizes SwiftNIO's event-loop group and
    /// installs the event-loop executor when asked (both must happen before anything uses SwiftNIO or Swift
    /// concurrency), then runs it.
    /// - Parameters:
    ///   - Command: the executable's command.
    ///   - options: where the command keeps its ``ServeOptions``.
    package static func main<Command: AsyncParsableCommand>(_: Command.Type, options: (Command) -> ServeOptions) async {
        do {
            var command = try Command.parseAsRoot()
            if let serving = command as? Command {
                let options = options(serving)
                EventLoopThreads.configureSingletonGroup(loops: options.eventLoopThreads)
                if options.eventLoopExecutor {
                    guard NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() else {
                        throw ValidationError("--event-loop-executor is not supported on this platform")
                    }
                }
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            Command.exit(withError: error)
        }
    }

    package func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard ssePollAfterMs >= 0 else { throw ValidationError("--sse-poll-after-ms must not be negative") }
        for (flag, path) in [("--sse-path", ssePath), ("--messages-path", messagesPath)] {
            guard path.hasPrefix("/"), path.count > 1, !path.contains("?"), !path.contains("#") else {
                throw ValidationError("\(flag) must be a path that starts with / (got '\(path)')")
            }
        }
        guard !httpSSE || (ssePath != messagesPath && ssePath != "/mcp" && messagesPath != "/mcp") else {
            throw ValidationError("--sse-path and --messages-path must differ from each other and from /mcp")
        }
        if authJWKS == nil {
            guard authIssuer == nil, authAudience == nil, authScopes.isEmpty else {
                throw ValidationError("--auth-issuer, --auth-audience and --auth-scope need --auth-jwks")
            }
        } else {
            guard let authIssuer, !authIssuer.isEmpty else { throw ValidationError("--auth-jwks needs --auth-issuer") }
            if let authAudience, !(authAudience.hasPrefix("https://") || authAudience.hasPrefix("http://")) {
                throw ValidationError("--auth-audience must be an http(s) URI")
            }
            guard authJWKSRefreshMs >= 0 else { throw ValidationError("--auth-jwks-refresh-ms must not be negative") }
        }
        guard clientRequestTimeoutMs > 0 else { throw ValidationError("--client-request-timeout-ms must be positive") }
        guard replicaLeaseMs >= 300 else { throw ValidationError("--replica-lease-ms must be at least 300") }
        guard drainDelayMs >= 0 else { throw ValidationError("--drain-delay-ms must not be negative") }
        guard drainTimeoutMs >= 0 else { throw ValidationError("--drain-timeout-ms must not be negative") }
        if let eventLoopThreads, !(1...EventLoopThreads.maximumLoops).contains(eventLoopThreads) {
            throw ValidationError("--event-loop-threads must be between 1 and 1024")
        }
        if let replicaID, replicaID.isEmpty || !replicaID.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
            throw ValidationError("--replica-id must be letters, digits, - or _")
        }
        for key in keys where RingKey(base64: key) == nil {
            throw ValidationError("--key must be base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)")
        }
        switch BackendKind(backend) {
        case .memory: break
        case .redis:
            do { _ = try RedisClientConfiguration(url: backend) } catch {
                throw ValidationError("--backend is not a valid Redis URL: \(error)")
            }
        case .postgres:
            do { _ = try PostgresBackendConfiguration(url: backend) } catch {
                throw ValidationError("--backend is not a valid PostgreSQL URL: \(error)")
            }
        case nil:
            throw ValidationError(
                "--backend must be memory, redis://host:port, rediss://host:port or postgres://user@host:port/db"
            )
        }
    }

    /// Serves MCP with these options until SIGTERM or SIGINT: the backend, the key ring, authorization, the HTTP edge
    /// and graceful shutdown, with `register` adding the server's tools, resources and prompts.
    /// - Parameters:
    ///   - name: the server's name (`serverInfo`, the logger label, the HTTP `Server` header).
    ///   - version: the server's version.
    ///   - instructions: the instructions it hands clients.
    ///   - register: adds everything the server serves.
    package func serve(name: String, version: String, instructions: String?, register: (MCPServer) -> Void) async throws {
        let replica = replicaID ?? MCPServerConfiguration.randomReplicaID()
        // The replica id comes from a metadata provider, read only when a line is logged: as stored metadata it
        // would be copied into the logger Hummingbird derives for every request.
        var logger = Logger(label: name, metadataProvider: .init { ["mcp.replica": "\(replica)"] })
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let ringKeys: [RingKey]
        if keys.isEmpty {
            ringKeys = [.random()]
            logger.warning("no --key given: using a random key; every replica of a deployment must share the same keys")
        } else {
            ringKeys = keys.compactMap { RingKey(base64: $0) }
        }
        let startupLogger = logger
        let keyRing = StaticKeyRing(keys: ringKeys)
        let backends: Backends
        switch BackendKind(backend) {
        case .memory, nil:
            backends = .inMemory(keyRing: keyRing)
        case .redis:
            var redisLogger = logger
            redisLogger[metadataKey: "mcp.backend"] = "redis"
            let configuration = try RedisClientConfiguration(url: backend)
            try await Self.checkRedis(configuration, logger: redisLogger)
            backends = .redis(client: RedisClient(configuration: configuration, logger: redisLogger), keyRing: keyRing)
        case .postgres:
            var postgresLogger = logger
            postgresLogger[metadataKey: "mcp.backend"] = "postgres"
            let configuration = try PostgresBackendConfiguration(url: backend)
            do {
                try await PostgresSchema.migrate(configuration: configuration, logger: postgresLogger, waitingUpTo: .seconds(30))
            } catch {
                throw ValidationError("--backend: \(error)")
            }
            backends = try .postgres(configuration: configuration, keyRing: keyRing, logger: postgresLogger)
        }
        var serverConfiguration = MCPServerConfiguration(
            name: name,
            version: version,
            instructions: instructions,
            replicaID: replica,
            clientRequestTimeout: .milliseconds(clientRequestTimeoutMs),
            drainTimeout: .milliseconds(drainTimeoutMs),
            drainDelay: .milliseconds(drainDelayMs),
            replicaLease: .milliseconds(replicaLeaseMs)
        )
        serverConfiguration.taskRerun = taskRerun
        let server = MCPServer(configuration: serverConfiguration, backends: backends, logger: logger)
        register(server)
        var http = MCPHTTPConfiguration(
            allowedOrigins: allowedOrigins,
            ssePollAfter: ssePollAfterMs > 0 ? .milliseconds(ssePollAfterMs) : nil,
            httpSSE: httpSSE ? HTTPSSEPaths(stream: ssePath, messages: messagesPath) : nil
        )
        if let authJWKS, let authIssuer {
            let audience = authAudience ?? "http://\(host):\(port)/mcp"
            let verifier = JWTVerifier(
                configuration: JWTVerifier.Configuration(issuer: authIssuer, audience: audience),
                jwks: JWKSSource(pathOrURL: authJWKS),
                refreshInterval: .milliseconds(authJWKSRefreshMs)
            )
            do {
                try await verifier.load()
            } catch {
                throw ValidationError("--auth-jwks \(authJWKS): \(error)")
            }
            http.authenticator = BearerAuthenticator(verifier: verifier, requiredScopes: authScopes)
            var supported = authScopes
            for scope in server.toolScopes where !supported.contains(scope) { supported.append(scope) }
            http.resourceMetadata = ProtectedResourceMetadata(
                resource: audience, authorizationServers: [authIssuer], scopesSupported: supported, requiredScopes: authScopes
            )
            logger.info("authorization on", metadata: ["mcp.auth.issuer": "\(authIssuer)", "mcp.auth.audience": "\(audience)"])
        }
        let router = Router()
        MCPHTTPEndpoint(server: server, configuration: http).addRoutes(to: router)
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: name),
            onServerRunning: { channel in
                startupLogger.info("serving MCP", metadata: ["mcp.address": "\(channel.localAddress?.description ?? "?")", "mcp.endpoint": "/mcp"])
            },
            logger: logger
        )
        // Shutdown runs in reverse order: the MCP server drains its streams first, the HTTP server stops next, and the
        // backends, which both need until the end, stop last.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: backends.services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
                    + [.init(service: app), .init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    /// Connects to Redis once before serving: a TLS or login failure (a wrong CA, a wrong password) stops the
    /// replica at start with the reason; a server that is not up yet only gets a warning, and the client keeps
    /// trying, as it does after any outage.
    static func checkRedis(_ configuration: RedisClientConfiguration, logger: Logger) async throws {
        do {
            let connection = try await RedisConnection.connect(
                id: 0,
                configuration: configuration,
                eventLoop: MultiThreadedEventLoopGroup.singleton.any(),
                logger: logger
            )
            await connection.close()
        } catch let error as RedisClientError where error.code == .tlsConfiguration {
            throw ValidationError("--backend: \(error)")
        } catch let error as RedisClientError where error.message.hasPrefix("the TLS handshake") {
            throw ValidationError("--backend: \(error.message)")
        } catch let error as RedisClientError where (error.underlyingError as? RedisClientError)?.code == .serverError {
            throw ValidationError("--backend: Redis refused the login: \(error.underlyingError.map { "\($0)" } ?? error.message)")
        } catch {
            logger.warning("Redis is not reachable yet; the client keeps trying", metadata: ["error": "\(error)"])
        }
    }
}

/// The kinds of `--backend` URL.
enum BackendKind {
    case memory
    case redis
    case postgres

    init?(_ url: String) {
        if url == "memory" {
            self = .memory
        } else if url.hasPrefix("redis://") || url.hasPrefix("rediss://") {
            self = .redis
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            self = .postgres
        } else {
            return nil
        }
    }
}
