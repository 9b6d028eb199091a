//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

/// The parts of a store URL, `scheme://[user[:password]@]host[:port][/path][?name=value&...]`, as the Redis and
/// PostgreSQL backends read theirs. Everything but the host and port is percent-decoded; an IPv6 host is written in
/// brackets (`[::1]`).
package struct StoreURL: Sendable {
    /// The scheme, without `://`.
    package var scheme: String
    /// The part before `:` in the user info, if any (empty when the URL has `:password@`).
    package var user: String?
    /// The part after `:` in the user info, if there was a `:`.
    package var password: String?
    /// The host; `nil` when the URL has none (`postgres:///db`).
    package var host: String?
    /// The port, if given.
    package var port: Int?
    /// The path without its leading `/`, decoded; empty when absent.
    package var path: String
    /// The query parameters in order, decoded.
    package var parameters: [(name: String, value: String)]

    /// Reads `url` if its scheme is one of `schemes`.
    /// - Throws: a description of what is wrong, for the caller's own error.
    package init(_ url: String, schemes: [String]) throws(StoreURLError) {
        guard let scheme = schemes.first(where: { url.hasPrefix($0 + "://") }) else {
            throw StoreURLError("the scheme must be " + schemes.map { $0 + "://" }.joined(separator: " or "))
        }
        self.scheme = scheme
        var rest = url.dropFirst(scheme.count + 3)
        parameters = []
        if let question = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, let name = String(parts[0]).strictlyPercentDecoded,
                    let value = String(parts[1]).strictlyPercentDecoded
                else { throw StoreURLError("bad parameter '\(pair)'") }
                parameters.append((name, value))
            }
            rest = rest[..<question]
        }
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let parts = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let user = String(parts[0]).strictlyPercentDecoded else { throw StoreURLError("bad percent-encoding in the credentials") }
            self.user = user
            if parts.count == 2 {
                guard let password = String(parts[1]).strictlyPercentDecoded else {
                    throw StoreURLError("bad percent-encoding in the credentials")
                }
                self.password = password
            }
        }
        path = ""
        if let slash = rest.firstIndex(of: "/") {
            guard let path = String(rest[rest.index(after: slash)...]).strictlyPercentDecoded else {
                throw StoreURLError("bad percent-encoding in the path")
            }
            self.path = path
            rest = rest[..<slash]
        }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw StoreURLError("unclosed IPv6 bracket") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw StoreURLError("bad port") }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { throw StoreURLError("bad port") }
            port = p
        } else if !rest.isEmpty {
            host = String(rest)
        }
        if host?.isEmpty == true { throw StoreURLError("missing host") }
    }
}

/// Why a store URL could not be read.
package struct StoreURLError: Error, CustomStringConvertible {
    package var description: String
    init(_ description: String) { self.description = description }
}

extension String {
    /// Percent-decoding without Foundation: `nil` when a `%` is not followed by two hex digits or the bytes are not
    /// UTF-8. `+` is left as it is.
    package var strictlyPercentDecoded: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexDigit), let low = iterator.next().flatMap(Self.hexDigit) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
