//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import AsyncHTTPClient
import Foundation
import JWTKit
import MCPServer
import NIOCore

/// Where a JSON Web Key Set comes from.
public enum JWKSSource: Sendable, Hashable {
    /// A file, read again when a refresh is due (a key rotated on disk is picked up).
    case file(String)
    /// An `http(s)` URL, fetched with async-http-client.
    case url(String)

    /// A URL for `http://` and `https://`, a file otherwise.
    public init(pathOrURL: String) {
        self = pathOrURL.hasPrefix("https://") || pathOrURL.hasPrefix("http://") ? .url(pathOrURL) : .file(pathOrURL)
    }
}

/// A cached key set: loaded once, and loaded again when a token names a `kid` it does not hold, at most once per
/// refresh interval.
actor JWKSCache {
    let source: JWKSSource
    let refreshInterval: Duration
    private var keys = JWTKeyCollection()
    /// The key ids held, with the algorithm each key names (if any).
    private var algorithms: [String: String?] = [:]
    private var loadedAt: ContinuousClock.Instant?

    init(source: JWKSSource, refreshInterval: Duration) {
        self.source = source
        self.refreshInterval = refreshInterval
    }

    /// The collection holding `kid`, and the algorithm its key names; `nil` if the key set does not hold it, even
    /// after a refresh.
    func key(_ kid: String) async throws -> (JWTKeyCollection, String?)? {
        if let algorithm = algorithms[kid] { return (keys, algorithm) }
        try await refresh(force: false)
        guard let algorithm = algorithms[kid] else { return nil }
        return (keys, algorithm)
    }

    /// Loads the key set, unless it was loaded less than a refresh interval ago (and `force` is off).
    func refresh(force: Bool) async throws {
        if !force, let loadedAt, ContinuousClock.now - loadedAt < refreshInterval { return }
        loadedAt = .now
        let bytes = try await fetch()
        guard case .array(let entries)? = try JSONParser().parse(bytes)["keys"] else {
            throw JWKSError(message: "the key set has no 'keys' array")
        }
        let collection = JWTKeyCollection()
        try await collection.add(jwksJSON: String(decoding: bytes, as: UTF8.self))
        var algorithms: [String: String?] = [:]
        for entry in entries {
            if case .string(let kid)? = entry["kid"] { algorithms[kid] = entry["alg"]?.stringValue }
        }
        self.keys = collection
        self.algorithms = algorithms
    }

    private func fetch() async throws -> [UInt8] {
        switch source {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else { throw JWKSError(message: "cannot read the key set at \(path)") }
            return Array(data)
        case .url(let url):
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            guard response.status == .ok else { throw JWKSError(message: "fetching the key set from \(url) answered \(response.status.code)") }
            return Array(buffer: try await response.body.collect(upTo: 1024 * 1024))
        }
    }
}

/// A key set that cannot be loaded.
public struct JWKSError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    public var description: String { message }
}
