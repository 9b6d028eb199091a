//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging

/// Raises notifications for every replica: each is logged in the shared notification log (so a session's
/// standalone stream replays what it missed, even while no stream was connected), then published on the bus (which
/// feeds `subscriptions/listen` streams).
struct Notifier: Sendable {
    let backends: Backends
    let logger: Logger

    /// `notifications/resources/updated` for `uri`.
    func resourceUpdated(uri: String) async throws {
        try await raise(ClusterWire.Payload.resourceUpdated(uri: uri), on: ClusterWire.Channel.resourceUpdated)
    }

    /// `notifications/<kind>/list_changed`.
    func listChanged(_ kind: ListKind) async throws {
        try await raise([], on: ClusterWire.Channel.listChanged(kind))
    }

    /// The notification log's last position, creating the log if it has no entry yet (a tail of a log that does
    /// not exist would end at once).
    func head() async throws -> UInt64 {
        let log = backends.eventLog
        let name = ClusterWire.Stream.notifications
        let position = try await log.lastPosition(stream: name)
        guard position == 0 else { return position }
        return try await log.append(stream: name, data: [], ttl: ClusterWire.Stream.notificationLogTTL)
    }

    private func raise(_ payload: [UInt8], on channel: String) async throws {
        let log = backends.eventLog
        let name = ClusterWire.Stream.notifications
        do {
            let position = try await log.append(
                stream: name,
                data: ClusterWire.Payload.loggedNotification(channel: channel, payload: payload),
                ttl: ClusterWire.Stream.notificationLogTTL
            )
            // Trimmed every 128 appends, derived from the position: no second round trip per notification.
            if position % 128 == 0 { try await log.trim(stream: name, keepingLast: ClusterWire.Stream.notificationLogLength) }
        } catch {
            // Listen streams still hear it on the bus; a session stream that misses it has ended (the store failed
            // under it too), and its client resumes from the log once the store is back.
            logger.warning("could not log a notification", metadata: ["mcp.error": "\(error)"])
        }
        try await backends.messageBus.publish(payload, to: channel)
    }
}
