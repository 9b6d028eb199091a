//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging

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
        _ = try await store.set(
            ClusterWire.Key.replicaLease(replicaID),
            value: ClusterWire.Payload.lease(at: WallClock.system.millis(), incarnation: incarnation),
            ttl: period
        )
    }

    /// Removes this replica's lease: it has finished its work and stops.
    func release() async {
        do { try await store.delete(ClusterWire.Key.replicaLease(replicaID)) } catch {
            logger.debug("could not release the replica lease; it expires by itself", metadata: ["mcp.error": "\(error)"])
        }
    }

    /// Whether `replica` holds a lease, and, when `incarnation` is given, whether it is still that incarnation's
    /// (a replica restarted under the same id does not keep the work of the one that died alive).
    func isAlive(_ replica: String, incarnation: String? = nil) async throws -> Bool {
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
