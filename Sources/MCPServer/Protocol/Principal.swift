//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// The authenticated caller of a request.
///
/// The HTTP edge fills this in through its authenticator; the default is ``anonymous``.
public struct Principal: Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier of the caller (for example a token subject).
    public var id: String

    /// Creates a principal.
    public init(id: String) { self.id = id }

    /// The caller when no authentication is configured.
    public static let anonymous = Principal(id: "anonymous")

    public var description: String { id }
}
