//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Logging

/// The sessions of protocols 2025-03-26 … 2025-11-25, kept only in the session store: created by `initialize`,
/// resumed by every later request on any replica, changed with compare-and-set, ended by DELETE.
struct Sessions: Sendable {
    /// The session-based protocol versions served, newest first.
    static let versions: [String] = ProtocolVersion.sessionBased.map(\.rawValue)

    let store: any SessionStore
    let ids: SessionIDAuthority
    let ttl: Duration

    /// Stores a new session and returns its id.
    func create(_ session: SessionState) async throws -> String {
        let id = try await ids.mint()
        guard try await store.create(ClusterWire.Key.session(id), value: session.json, ttl: ttl) != nil else {
            throw JSONRPCError.internalError("session id collision")
        }
        return id
    }

    /// A session's state; `nil` if it does not exist or has expired.
    func load(_ id: String) async throws -> SessionState? {
        guard let stored = try await store.get(ClusterWire.Key.session(id)) else { return nil }
        return SessionState(json: stored.value)
    }

    /// Checks a session id as a request presents it: authentic (MAC) first, with no store access, then present in
    /// the store, then owned by `principal`. Extends the session's lifetime. `nil` means "not found", whichever of
    /// the three failed.
    func resume(_ id: String, principal: Principal) async throws -> SessionState? {
        guard await ids.isAuthentic(id) else { return nil }
        guard let stored = try await store.getAndTouch(ClusterWire.Key.session(id), ttl: ttl),
            let session = SessionState(json: stored.value), session.principal == principal.id
        else { return nil }
        return session
    }

    /// Applies `change` to a stored session with compare-and-set, retrying on concurrent updates.
    func update(_ id: String, _ change: (inout SessionState) -> Void) async throws {
        let key = ClusterWire.Key.session(id)
        for _ in 0..<32 {
            guard let stored = try await store.get(key), var session = SessionState(json: stored.value) else {
                throw JSONRPCError.invalidRequest("session not found")
            }
            change(&session)
            if try await store.compareAndSet(key, value: session.json, expectedVersion: stored.version, ttl: ttl) != nil {
                return
            }
        }
        throw JSONRPCError.internalError("session update conflicted too often")
    }

    /// Removes a session's state and its GET-stream lock.
    func remove(_ id: String) async throws {
        try await store.delete(ClusterWire.Key.session(id))
        try await store.delete(ClusterWire.Key.getStreamLock(id))
    }
}
