import Foundation
import RipcordFlagService
import RipcordFlags
import RipcordTestSupport
import Testing

/// OFREP request bodies, read by the hand-written JSON reader.
@Suite(.tags(.unit)) struct OFREPContextTests {
    func context(_ body: String) throws(OFREP.Failure) -> FlagContext { try OFREP.context(fromBody: Array(body.utf8)) }

    @Test func fieldsOfEveryTypeBecomeTheUnleashContext() throws {
        let parsed = try context(
            #"""
            { "context" : { "targetingKey": "alice", "sessionId": "s\u00e9-1\n", "remoteAddress": "10.0.0.1",
              "plan": "Pro", "seats": 25, "ratio": 0.5, "beta": true, "gone": null, "tags": ["a", {"b": [1]}],
              "emoji": "\ud83d\ude80", "properties": { "country": "NO", "age": -3e2 } }, "ignored": [] }
            """#)
        #expect(parsed.userId == "alice" && parsed.sessionId == "sé-1\n" && parsed.remoteAddress == "10.0.0.1")
        #expect(parsed.properties["plan"] == "Pro" && parsed.properties["seats"] == "25" && parsed.properties["ratio"] == "0.5")
        #expect(parsed.properties["beta"] == "true" && parsed.properties["gone"] == nil && parsed.properties["tags"] == nil)
        #expect(parsed.properties["emoji"] == "🚀" && parsed.properties["country"] == "NO" && parsed.properties["age"] == "-300")
        #expect(try context("").properties.isEmpty && context(#"{"context":null}"#).userId == nil && context("{}").userId == nil)
    }

    @Test func anythingButJSONIsAParseError() {
        let bodies = [
            "[", "{", #"{"context":{"a":}}"#, #"{"context":{"a":1,}}"#, #"{"context":"x"}"#, #"{"context":{}} x"#,
            #"{"context":{"a":01}}"#, #"{"context":{"a":"\x"}}"#, #"{"context":{"a":"\ud83d"}}"#, "[1]", #"{"a" "b"}"#,
            String(repeating: "[", count: 100) + String(repeating: "]", count: 100), "{\"context\":{\"a\":\"\u{01}\"}}", "tru",
        ]
        for body in bodies {
            #expect(throws: OFREP.Failure.self, "\(body)") { try context(body) }
        }
    }
}
