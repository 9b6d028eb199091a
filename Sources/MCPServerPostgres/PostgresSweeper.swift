//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import Logging
public import PostgresNIO
public import ServiceLifecycle

/// Deletes expired rows: session-store keys, event-log streams and their events, and bus messages older than the
/// bus retention. Every replica runs one; a transaction-scoped advisory lock lets one sweep at a time, and the others
/// skip their turn. Expired rows are invisible to reads before they are swept, so the sweeper only bounds disk use.
public struct PostgresSweeper: Service {
    let client: PostgresClient
    let logger: Logger
    let interval: Duration
    let batchSize: Int
    let busRetention: Duration

    /// Creates a sweeper; `client` is not owned.
    /// - Parameters:
    ///   - interval: between sweeps (default 5 s); a sweep that found a full batch runs again at once.
    ///   - batchSize: rows of each kind per sweep (default 5,000; bus messages four times as many).
    ///   - busRetention: how long bus messages are kept; the ``PostgresListener``'s retention.
    public init(client: PostgresClient, logger: Logger, interval: Duration = .seconds(5), batchSize: Int = 5000, busRetention: Duration = .seconds(60)) {
        precondition(interval > .zero && batchSize > 0 && busRetention > .zero)
        self.client = client
        self.logger = logger
        self.interval = interval
        self.batchSize = batchSize
        self.busRetention = busRetention
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            // The first sweep waits one interval: the pool starts alongside.
            try? await Task.sleep(for: interval)
            var sweeps = 0
            while !Task.isCancelled {
                let swept = await sweepOnce()
                sweeps += 1
                // Events left without their stream (rare) are looked for less often: it reads the whole table.
                if sweeps % 60 == 0 { await sweepOrphans() }
                if swept < batchSize { try? await Task.sleep(for: interval) }
            }
        }
    }

    /// Deletes events whose stream row is gone; the rows deleted, `0` on an error (logged).
    @discardableResult
    public func sweepOrphans() async -> Int {
        do {
            return Int(try await client.scalar("SELECT mcp_sweep_orphans(\(batchSize))::bigint", timeout: .seconds(60)) ?? 0)
        } catch {
            logger.warning("sweeping orphaned events failed", metadata: ["error": "\(PostgresBackendError.explain(error))"])
            return 0
        }
    }

    /// One sweep: the rows deleted, `-1` if another replica holds the lock, `0` on an error (logged).
    @discardableResult
    public func sweepOnce() async -> Int {
        do {
            let deleted = Int(
                try await client.scalar("SELECT mcp_sweep(\(batchSize), \(busRetention.wholeMilliseconds))::bigint", timeout: .seconds(30)) ?? 0
            )
            if deleted > 0 { logger.debug("swept expired rows", metadata: ["mcp.postgres.rows": "\(deleted)"]) }
            return deleted
        } catch {
            logger.warning("sweeping failed", metadata: ["error": "\(PostgresBackendError.explain(error))"])
            return 0
        }
    }
}
