//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Testing

@testable import MCPServer

@Suite("URI templates")
struct URITemplateTests {
    @Test func matchesLevelOneTemplates() throws {
        let t = try #require(URITemplate("demo://items/{id}"))
        #expect(t.match("demo://items/42") == ["id": "42"])
        #expect(t.match("demo://items/") == nil)
        #expect(t.match("demo://items/4/2") == nil)
        #expect(t.match("demo://other/42") == nil)
        let two = try #require(URITemplate("file:///{dir}/{name}.txt"))
        #expect(two.match("file:///a/b.txt") == ["dir": "a", "name": "b"])
        #expect(URITemplate("bad{") == nil)
        #expect(URITemplate("bad}") == nil)
        #expect(URITemplate("{a}{b}") == nil)
    }
}
