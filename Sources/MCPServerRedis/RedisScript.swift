//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Crypto

/// A Lua script run with `EVALSHA`, falling back to `EVAL` (which also caches it) when the server does not
/// know it yet (`NOSCRIPT`, for example after a restart or `SCRIPT FLUSH`). Either way a call is one round trip
/// in the common case.
public struct RedisScript: Sendable, Hashable {
    /// The Lua source.
    public let source: String
    /// The SHA-1 of the source, in lower-case hex, as `EVALSHA` names it.
    public let sha1: String

    /// Creates a script.
    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

extension RedisClient {
    /// Runs `script` with `keys` and `arguments` on a pooled connection.
    ///
    /// All keys must hash to one slot (use one `{hash tag}`) for the script to run on a Redis Cluster.
    /// - Throws: ``RedisClientError``; an error raised by the script has code ``RedisClientError/Code/serverError``.
    @discardableResult
    public func run(_ script: RedisScript, keys: [String], arguments: [RESPArgument]) async throws -> RESPValue {
        let tail: [RESPArgument] = [.int(keys.count)] + keys.map { .string($0) } + arguments
        return try await withConnection { connection in
            do {
                return try await connection.execute(RESPCommand(["EVALSHA", .string(script.sha1)] + tail))
            } catch let error as RedisClientError where error.serverMessage?.hasPrefix("NOSCRIPT") == true {
                return try await connection.execute(RESPCommand(["EVAL", .string(script.source)] + tail))
            }
        }
    }
}
