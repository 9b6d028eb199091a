//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging
import Synchronization

/// Replica leases: how one replica knows that another is alive without talking to it.
///
/// A running replica keeps its lease in the shared store, renewed every third of the lease period; the lease of a
/// replica that dies expires within one period. A replica that finds work of a dead one (a request stream with no
/// final response, a GET-stream lock) finishes it for it.
struct Leases: Sendable {
    let store: any SessionStore
    let replicaID: String
    /// This run of the replica: a replica restarted under the same id is another incarnation, and work of the one
    /// that died is not its own.
    let incarnation: String
    let period: Duration
    let logger: Logger
    /// Since when this replica's renewals have all succeeded (`nil` after a failure).
    private let healthySince = HealthySince()

    final class HealthySince: Sendable {
        let instant = Mutex<ContinuousClock.Instant?>(nil)
    }

    init(store: any SessionStore, replicaID: String, period: Duration, logger: Logger) {
        self.store = store
        self.replicaID = replicaID
        // Letters and digits only: it sits inside server-issued ids, between separators.
        self.incarnation = String(UInt64.random(in: 1 ... .max), radix: 36)
        self.period = period
        self.logger = logger
    }

    /// Writes this replica's lease, valid for one period.
    func renew() async throws {
        do {
            _ = try await store.set(
                ClusterWire.Key.replicaLease(replicaID),
                value: ClusterWire.Payload.lease(at: WallClock.system.millis(), incarnation: incarnation),
                ttl: period
            )
        } catch {
            healthySince.instant.withLock { $0 = nil }
            throw error
        }
        healthySince.instant.withLock { $0 = $0 ?? .now }
    }

    /// Whether this replica may judge another dead from a missing lease: only once its own renewals have succeeded
    /// for a whole period. After a store outage (or a restart that lost the leases) every live replica has renewed
    /// by then, so a missing lease means a dead replica, not a store that was away.
    var mayJudgeOthers: Bool {
        guard let since = healthySince.instant.withLock({ $0 }) else { return false }
        return ContinuousClock.now - since >= period
    }

    /// Removes this replica's lease: it has finished its work and stops.
    func release() async {
        do { try await store.delete(ClusterWire.Key.replicaLease(replicaID)) } catch {
            logger.debug("could not release the replica lease; it expires by itself", metadata: ["mcp.error": "\(error)"])
        }
    }

    /// Whether `replica` holds a lease, and, when `incarnation` is given, whether it is still that incarnation's
    /// (a replica restarted under the same id does not keep the work of the one that died alive). While this replica
    /// may not judge others (``mayJudgeOthers``), every replica counts as alive.
    func isAlive(_ replica: String, incarnation: String? = nil) async throws -> Bool {
        guard mayJudgeOthers else { return true }
        return try await holdsLease(replica, incarnation: incarnation)
    }

    /// Whether the store holds a lease of `replica` (of `incarnation`, when given), whatever this replica's own health.
    func holdsLease(_ replica: String, incarnation: String? = nil) async throws -> Bool {
        guard let lease = try await store.get(ClusterWire.Key.replicaLease(replica)) else { return false }
        guard let incarnation else { return true }
        return ClusterWire.Payload.leaseIncarnation(lease.value) == incarnation
    }

    /// Renews this replica's lease every third of a period until cancelled. A renewal that fails (the store is
    /// unreachable) is retried at the next beat.
    func hold() async {
        while !Task.isCancelled {
            do { try await renew() } catch {
                logger.warning("could not renew the replica lease", metadata: ["mcp.error": "\(error)"])
            }
            try? await Task.sleep(for: period / 3)
        }
    }
}
