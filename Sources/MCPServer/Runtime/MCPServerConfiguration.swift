//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// How an ``MCPServer`` presents itself and paces its answers.
public struct MCPServerConfiguration: Sendable {
    /// The server's name in `serverInfo`.
    public var name: String
    /// The server's version in `serverInfo`.
    public var version: String
    /// A display title in `serverInfo`.
    public var title: String?
    /// Guidance for the model, returned by `server/discover`.
    public var instructions: String?
    /// Items per page of `tools/list`, `resources/list`, `resources/templates/list` and `prompts/list`. Default 50.
    public var pageSize: Int
    /// `ttlMs` on `server/discover` and the list results. Default 5 minutes.
    public var listCacheTTL: Duration
    /// `cacheScope` on `server/discover` and the list results. Default `public`: the lists are the same for every caller.
    public var listCacheScope: CacheScope
    /// How long a sealed MRTR `requestState` stays valid. Default 10 minutes.
    public var requestStateLifetime: Duration
    /// This replica's identifier, used in logs and in identifiers that route answers between replicas.
    public var replicaID: String
    /// How long an idle legacy session lives; every request restarts the clock. Default 30 minutes.
    public var sessionTTL: Duration
    /// How long a legacy SSE stream's events stay resumable after its final response. Default 5 minutes.
    public var eventRetention: Duration
    /// How long a handler waits for the client's answer to a server-to-client request. Default 60 seconds.
    public var clientRequestTimeout: Duration
    /// On shutdown, how long in-flight session handlers may run once the drain begins before they are cancelled
    /// (their final answer is then `-32010` with reason `drain_deadline`). Default 30 seconds.
    public var drainTimeout: Duration
    /// On shutdown, how long the replica keeps serving before the drain begins, answering `/readyz` with `503` and
    /// every response with `Connection: close`: the load balancer's propagation time (a Kubernetes endpoint
    /// update, an nginx reload). Default zero.
    public var drainDelay: Duration
    /// This replica's lease in the shared store: renewed every third of it while the replica runs, so another
    /// replica finds a dead one's streams within about this long and ends them with `-32010` (reason
    /// `replica_lost`). Default 5 seconds.
    public var replicaLease: Duration
    /// Whether a task whose replica died may be run again from the start elsewhere, for tools that declare it safe
    /// (``TaskSupport/rerunnable``). Off: every such task fails with `-32010` (reason `replica_lost`). Default on.
    public var taskRerun: Bool = true

    /// Creates a configuration.
    public init(
        name: String,
        version: String,
        title: String? = nil,
        instructions: String? = nil,
        pageSize: Int = 50,
        listCacheTTL: Duration = .seconds(300),
        listCacheScope: CacheScope = .public,
        requestStateLifetime: Duration = .seconds(600),
        replicaID: String = MCPServerConfiguration.randomReplicaID(),
        sessionTTL: Duration = .seconds(1800),
        eventRetention: Duration = .seconds(300),
        clientRequestTimeout: Duration = .seconds(60),
        drainTimeout: Duration = .seconds(30),
        drainDelay: Duration = .zero,
        replicaLease: Duration = .seconds(5)
    ) {
        precondition(pageSize > 0, "pageSize must be positive")
        precondition(listCacheTTL >= .zero, "listCacheTTL must not be negative")
        precondition(requestStateLifetime > .zero, "requestStateLifetime must be positive")
        self.name = name
        self.version = version
        self.title = title
        self.instructions = instructions
        self.pageSize = pageSize
        self.listCacheTTL = listCacheTTL
        self.listCacheScope = listCacheScope
        self.requestStateLifetime = requestStateLifetime
        precondition(!replicaID.isEmpty && replicaID.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }, "replicaID must be letters, digits, - or _")
        precondition(sessionTTL > .zero && eventRetention > .zero && clientRequestTimeout > .zero && drainTimeout >= .zero)
        precondition(drainDelay >= .zero, "drainDelay must not be negative")
        precondition(replicaLease >= .milliseconds(300), "replicaLease must be at least 300 ms")
        self.replicaID = replicaID
        self.sessionTTL = sessionTTL
        self.eventRetention = eventRetention
        self.clientRequestTimeout = clientRequestTimeout
        self.drainTimeout = drainTimeout
        self.drainDelay = drainDelay
        self.replicaLease = replicaLease
    }

    /// A random 8-character replica id.
    public static func randomReplicaID() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<8).map { _ in alphabet[Int(rng.next(upperBound: UInt(alphabet.count)))] })
    }
}

/// Who may cache a result (`cacheScope`).
public struct CacheScope: Sendable, Hashable {
    private enum Base: String { case `public`, `private` }
    private let base: Base
    private init(_ base: Base) { self.base = base }

    /// Any cache may store and share the result.
    public static let `public` = CacheScope(.public)
    /// Only caches of the same authorization context may reuse the result.
    public static let `private` = CacheScope(.private)

    var json: JSONValue { .string(base.rawValue) }
}

/// The caching hint of a resource: `ttlMs` and `cacheScope` on its `resources/read` results.
public struct CacheHint: Sendable, Hashable {
    /// How long the result stays fresh.
    public var ttl: Duration
    /// Who may cache it.
    public var scope: CacheScope

    /// Creates a hint.
    public init(ttl: Duration, scope: CacheScope) {
        precondition(ttl >= .zero, "ttl must not be negative")
        self.ttl = ttl
        self.scope = scope
    }

    /// Immediately stale, private: the safe default for resources whose content changes or depends on the caller.
    public static let noStore = CacheHint(ttl: .zero, scope: .private)
}
