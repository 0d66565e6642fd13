import Foundation
import RipcordDrivers
import Testing

/// `ripcord flags …` and `ripcord tokens …` as a user runs them, against a real `ripcord serve`.
@Suite(.serialized) struct FlagCLITests {
    @Test func flagVerbsImportApplyAndTokens() async throws {
        let (server, api, directory, config) = try await ServeProcessTests.startServe("flags-cli")
        func ripcord(_ arguments: String...) async throws -> (Int32, String) {
            try await ChildProcess.runRipcord(arguments + ["--config", config])
        }

        let (created, createdOutput) = try await ripcord("flags", "create", "new-checkout", "--rollout", "10", "-e", "production")
        #expect(created == 0, "\(createdOutput)")
        #expect(try await ripcord("flags", "enable", "new-checkout", "-e", "production").0 == 0)
        #expect(try await ripcord("flags", "rollout", "new-checkout", "40", "-e", "production").0 == 0)
        let (_, listed) = try await ripcord("flags", "list", "-e", "production")
        #expect(listed.contains("on  new-checkout  [flexibleRollout 40%]"), "\(listed)")
        let (refused, refusal) = try await ripcord("flags", "rollout", "new-checkout", "140", "-e", "production")
        #expect(refused == 1 && refusal.contains("invalid_percentage"), "\(refusal)")

        let (_, history) = try await ripcord("flags", "history", "new-checkout", "-e", "production")
        #expect(history.components(separatedBy: "by admin").count - 1 == 3, "\(history)")
        let firstChange = try #require(history.split(separator: " ").first.flatMap { Int($0.dropFirst()) })
        #expect(try await ripcord("flags", "revert", "new-checkout", "--to", String(firstChange), "-e", "production").0 == 0)
        let (_, definition) = try await ripcord("flags", "get", "new-checkout", "-e", "production")
        let compact = definition.replacingOccurrences(of: " ", with: "")
        #expect(compact.contains(#""enabled":false"#) && compact.contains(#""rollout":"10""#), "\(definition)")

        let export = "\(directory)/export.json"
        try #"{"version":2,"features":[{"name":"legacy","enabled":true,"strategies":[{"name":"default","segments":[1]}]}],"segments":[{"id":1,"constraints":[{"contextName":"plan","operator":"IN","values":["pro"]}]}]}"#
            .write(toFile: export, atomically: true, encoding: .utf8)
        let (imported, importOutput) = try await ripcord("flags", "import", export, "-e", "production")
        #expect(imported == 0 && importOutput.contains("imported: 2 changes"), "\(importOutput)")

        let declared = "\(directory)/flags.yaml"
        try """
        flags:
          - name: legacy
            enabled: false
            strategies: [{ name: default, segments: [1] }]
          - name: search-v2
            enabled: true
        """.write(toFile: declared, atomically: true, encoding: .utf8)
        let (_, plan) = try await ripcord("flags", "apply", declared, "--dry-run", "-e", "production")
        #expect(plan.contains("~ update flag legacy") && plan.contains("+ create flag search-v2"), "\(plan)")
        #expect(plan.replacingOccurrences(of: " ", with: "").contains(#"-"enabled":true"#), "the diff shows the changed line: \(plan)")
        let (_, unchangedList) = try await ripcord("flags", "list", "-e", "production")
        #expect(!unchangedList.contains("search-v2"), "a dry run changes nothing")
        let (_, applied) = try await ripcord("flags", "apply", declared, "-e", "production")
        #expect(applied.contains("applied: 2 changes"), "\(applied)")
        let (_, again) = try await ripcord("flags", "apply", declared, "-e", "production")
        #expect(again.contains("0 to change, 2 unchanged") && !again.contains("applied"), "\(again)")

        let (tokenStatus, tokenOutput) = try await ripcord("tokens", "create", "--kind", "client", "--environment", "production")
        #expect(tokenStatus == 0)
        let token = try #require(tokenOutput.split(separator: "\n").first { $0.hasPrefix("rpc_") }).trimmingCharacters(in: .whitespaces)
        #expect(try await get("\(api.base)/api/client/features", headers: [("authorization", token)]).0 == 200, "the new client token reads flags")
        #expect(try await get("\(api.base)/api/client/features").0 == 401)
        #expect(try await ripcord("tokens", "list").1.contains("client-production  client  production"))

        server.signal(SIGTERM)
        #expect(try await server.wait() == 0)
        #expect(!(try String(contentsOfFile: "\(directory)/serve.log", encoding: .utf8)).contains(token), "tokens are never logged")
    }
}
