//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import NIOCore

/// Turns the byte stream from a server into ``RESPValue``s, with the parser's limits.
struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RESPValue

    var parser: RESPParser

    init(limits: RESPParser.Limits) {
        self.parser = RESPParser(limits: limits)
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        try parser.next(from: &buffer)
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try parser.next(from: &buffer)
    }
}
