//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

import Testing

@testable import MCPServer

@Suite("URI templates and schema checks")
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

    @Test func validatesArgumentsAgainstCommonSchemaKeywords() {
        let schema: JSONValue = [
            "type": "object",
            "properties": ["n": ["type": "integer", "minimum": 0], "s": ["type": "string", "enum": ["x", "y"]]],
            "required": ["n"],
            "additionalProperties": false,
        ]
        #expect(SchemaValidator.firstViolation(of: ["n": 1, "s": "x"], against: schema) == nil)
        #expect(SchemaValidator.firstViolation(of: ["n": 1.0], against: schema) == nil)
        #expect(SchemaValidator.firstViolation(of: [:], against: schema) != nil)
        #expect(SchemaValidator.firstViolation(of: ["n": -1], against: schema) != nil)
        #expect(SchemaValidator.firstViolation(of: ["n": 1.5], against: schema) != nil)
        #expect(SchemaValidator.firstViolation(of: ["n": 1, "s": "z"], against: schema) != nil)
        #expect(SchemaValidator.firstViolation(of: ["n": 1, "extra": true], against: schema) != nil)
    }
}
