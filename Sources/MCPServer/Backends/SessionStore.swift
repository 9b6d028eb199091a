//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

public import ServiceLifecycle

/// A stored JSON value and the version that a compare-and-set must name.
public struct VersionedValue: Sendable, Hashable {
    /// The value.
    public var value: JSONValue
    /// Increases on every write.
    public var version: UInt64

    /// Creates a versioned value.
    public init(value: JSONValue, version: UInt64) {
        self.value = value
        self.version = version
    }
}

/// Key-value storage for session state: JSON values with a time to live and compare-and-set.
///
/// Every replica reads and writes the same store, so nothing a later request needs lives in one process.
/// The default `run()` waits for graceful shutdown.
public protocol SessionStore: Service {
    /// Reads a value, or `nil` when it is absent or expired.
    func get(_ key: String) async throws -> VersionedValue?
    /// Stores a value only if the key is absent. Returns the new version, or `nil` if the key exists.
    func create(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64?
    /// Stores a value unconditionally and returns its new version.
    func set(_ key: String, value: JSONValue, ttl: Duration) async throws -> UInt64
    /// Stores a value only if the stored version equals `expectedVersion`. Returns the new version, or `nil` on conflict.
    func compareAndSet(_ key: String, value: JSONValue, expectedVersion: UInt64, ttl: Duration) async throws -> UInt64?
    /// Extends a key's time to live (sliding expiry). Returns `false` if the key is absent.
    func touch(_ key: String, ttl: Duration) async throws -> Bool
    /// Removes a key.
    func delete(_ key: String) async throws
    /// Reads a value and restarts its time to live, in one round trip where the backend allows.
    func getAndTouch(_ key: String, ttl: Duration) async throws -> VersionedValue?
}

extension SessionStore {
    /// Reads a value and restarts its time to live. Backends that can do both in one round trip (Redis `GETEX`)
    /// should override this; the default reads, then touches.
    public func getAndTouch(_ key: String, ttl: Duration) async throws -> VersionedValue? {
        guard let value = try await get(key) else { return nil }
        _ = try await touch(key, ttl: ttl)
        return value
    }

    public func run() async throws {
        try? await gracefulShutdown()
    }
}
