//
// This source file is part of the swift-mcp-server project.
// SPDX-License-Identifier: Apache-2.0
//

@testable import MCPServer
import Testing

@Suite("Tool schemas")
struct CompiledSchemaTests {
    func violation(_ value: JSONValue, _ schema: JSONValue) -> String? {
        CompiledSchema(schema).firstViolation(of: value)
    }

    @Test func acceptsConformingValues() {
        let schema: JSONValue = [
            "type": "object",
            "properties": [
                "text": ["type": "string", "minLength": 1, "maxLength": 5],
                "n": ["type": "integer", "minimum": 0, "maximum": 10],
                "tags": ["type": "array", "items": ["enum": ["a", "b"]]],
                "mode": ["const": "fast"],
            ],
            "required": ["text"],
            "additionalProperties": false,
        ]
        #expect(violation(["text": "héllo", "n": 10, "tags": ["a", "b", "a"], "mode": "fast"], schema) == nil)
        #expect(violation(["text": "x", "n": 3.0], schema) == nil)
        // Keywords outside the subset, and schemas that are not objects, accept.
        #expect(violation(["text": "x"], ["type": "object", "pattern": "^y$", "format": "uri"]) == nil)
        #expect(violation(42, true) == nil)
    }

    @Test func namesTheFirstViolationWithItsPath() {
        let schema: JSONValue = [
            "type": "object",
            "properties": [
                "text": ["type": "string", "minLength": 2, "maxLength": 3],
                "n": ["type": ["integer", "null"], "minimum": 0, "maximum": 10],
                "list": ["type": "array", "items": ["type": "object", "properties": ["id": ["type": "string"]], "required": ["id"]]],
                "mode": ["enum": ["fast", "slow"]],
                "one": ["const": 1],
            ],
            "required": ["text"],
            "additionalProperties": false,
        ]
        #expect(violation("x", schema) == "the arguments must be of type object, not string")
        #expect(violation([:], schema) == "missing required property 'text'")
        #expect(violation(["text": 1], schema) == "'text' must be of type string, not number")
        #expect(violation(["text": "é"], schema) == "'text' must have at least 2 characters")
        #expect(violation(["text": "abcd"], schema) == "'text' must have at most 3 characters")
        #expect(violation(["text": "ab", "n": 1.5], schema) == "'n' must be of type integer or null, not number")
        #expect(violation(["text": "ab", "n": -1], schema) == "'n' must be at least 0")
        #expect(violation(["text": "ab", "n": 11], schema) == "'n' must be at most 10")
        #expect(violation(["text": "ab", "list": [["id": "a"], [:]]], schema) == "missing required property 'list[1].id'")
        #expect(violation(["text": "ab", "list": [["id": 2]]], schema) == "'list[0].id' must be of type string, not number")
        #expect(violation(["text": "ab", "mode": "medium"], schema) == #"'mode' must be one of ["fast","slow"]"#)
        #expect(violation(["text": "ab", "one": 1.0], schema) == nil)
        #expect(violation(["text": "ab", "one": 2], schema) == "'one' must be 1")
        #expect(violation(["text": "ab", "extra": true], schema) == "unexpected property 'extra'")
    }

    @Test func checksAdditionalPropertiesAgainstASchema() {
        let schema: JSONValue = ["type": "object", "additionalProperties": ["type": "integer"]]
        #expect(violation(["a": 1, "b": 2], schema) == nil)
        #expect(violation(["a": "x"], schema) == "'a' must be of type integer, not string")
    }

    @Test func acceptsWhateverLiesDeeperThanTheLimit() {
        // A schema nested deeper than the limit accepts there, as a schema that is not an object does.
        var schema: JSONValue = ["type": "string"]
        var value: JSONValue = 1
        for _ in 0..<CompiledSchema.maximumDepth {
            schema = ["type": "array", "items": schema]
            value = [value]
        }
        #expect(violation(value, schema) == nil)
        var shallow: JSONValue = ["type": "string"]
        var shallowValue: JSONValue = 1
        for _ in 0..<(CompiledSchema.maximumDepth - 1) {
            shallow = ["type": "array", "items": shallow]
            shallowValue = [shallowValue]
        }
        #expect(violation(shallowValue, shallow) != nil)
    }
}
