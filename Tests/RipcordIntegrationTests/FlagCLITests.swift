import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RipcordDrivers
import RipcordFlags
import RipcordTestSupport
import Testing

/// `ripcord flags …` and `ripcord tokens …` as a user runs them, against a real `ripcord serve`.
@Suite(.serialized, .tags(.integration)) struct FlagCLITests {
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
        // create (on, 10 %) and rollout 40; enabling a flag already on changes nothing.
        #expect(history.components(separatedBy: "by admin").count - 1 == 2, "\(history)")
        let firstChange = try #require(history.split(separator: " ").first.flatMap { Int($0.dropFirst()) })
        #expect(try await ripcord("flags", "revert", "new-checkout", "--to", String(firstChange), "-e", "production").0 == 0)
        let (_, definition) = try await ripcord("flags", "get", "new-checkout", "-e", "production")
        let compact = definition.replacingOccurrences(of: " ", with: "")
        #expect(compact.contains(#""enabled":true"#) && compact.contains(#""rollout":"10""#), "created with --rollout: on for 10 %: \(definition)")

        let export = "\(directory)/export.json"
        try
            #"{"version":2,"features":[{"name":"legacy","enabled":true,"strategies":[{"name":"default","segments":[1]}]}],"segments":[{"id":1,"constraints":[{"contextName":"plan","operator":"IN","values":["pro"]}]}]}"#
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

    @Test func deletePruneOrderedDiffRolloutProjectsTagsAndStaleness() async throws {
        let (server, api, directory, config) = try await ServeProcessTests.startServe("flags-cli-manage")
        defer { server.signal(SIGTERM) }
        func ripcord(_ arguments: String...) async throws -> (Int32, String) {
            try await ChildProcess.runRipcord(arguments + ["--config", config])
        }

        // --rollout N: switched on, for N %; projects and tags are kept and filter the list.
        let (created, createdOutput) = try await ripcord("flags", "create", "checkout", "--rollout", "25", "--project", "web", "--tag", "team:payments")
        #expect(created == 0, "\(createdOutput)")
        #expect(createdOutput.contains("on  checkout  [flexibleRollout 25%]  project: web  tags: team:payments"), "\(createdOutput)")
        #expect(try await ripcord("flags", "list", "--project", "web").1.contains("checkout"))
        #expect(!(try await ripcord("flags", "list", "--project", "mobile").1.contains("checkout")))
        #expect(try await ripcord("flags", "list", "--tag", "team:payments").1.contains("checkout"))
        #expect(!(try await ripcord("flags", "list", "--tag", "team:search").1.contains("checkout")))
        let (badTag, badTagOutput) = try await ripcord("flags", "create", "x", "--tag", "payments")
        #expect(badTag != 0 && badTagOutput.contains("TYPE:VALUE"), "\(badTagOutput)")

        // A reordered strategy list is a change, and the diff shows the moved lines in order, with context.
        let declared = "\(directory)/flags.yaml"
        func declare(_ strategies: String, alsoCheckout: Bool = true) throws {
            try """
            flags:
              - name: search
                enabled: true
                strategies:
            \(strategies)
            """.appending(
                alsoCheckout
                    ? "\n  - { name: checkout, enabled: true, project: web, tags: [{ type: team, value: payments }], strategies: [{ name: flexibleRollout, parameters: { rollout: '25', stickiness: default, groupId: checkout } }] }\n"
                    : "\n"
            )
            .write(toFile: declared, atomically: true, encoding: .utf8)
        }
        try declare("      - { name: userWithId, parameters: { userIds: ann } }\n      - { name: default, constraints: [{ contextName: plan, operator: IN, values: [pro] }] }")
        #expect(try await ripcord("flags", "apply", declared).0 == 0)
        try declare("      - { name: default, constraints: [{ contextName: plan, operator: IN, values: [pro] }] }\n      - { name: userWithId, parameters: { userIds: ann } }")
        let (_, reordered) = try await ripcord("flags", "apply", declared, "--dry-run")
        #expect(reordered.contains("1 to change") && reordered.contains("~ update flag search"), "\(reordered)")
        let diff = reordered.split(separator: "\n").map(String.init)
        let removed = try #require(diff.firstIndex { $0.hasPrefix("    - ") }, "\(reordered)")
        let added = try #require(diff.firstIndex { $0.hasPrefix("    + ") }, "\(reordered)")
        #expect(diff.contains { $0.hasPrefix("      ") }, "unchanged lines around the change are shown: \(reordered)")
        #expect(removed != added)

        // --prune deletes flags the file does not list, shown in the dry run first.
        try declare("      - { name: userWithId, parameters: { userIds: ann } }", alsoCheckout: false)
        let (_, prunePlan) = try await ripcord("flags", "apply", declared, "--prune", "--dry-run")
        #expect(prunePlan.contains("- delete flag checkout") && prunePlan.contains("~ update flag search"), "\(prunePlan)")
        #expect(try await ripcord("flags", "list").1.contains("checkout"), "a dry run deletes nothing")
        let (_, noPrune) = try await ripcord("flags", "apply", declared, "--dry-run")
        #expect(!noPrune.contains("delete"), "without --prune unlisted flags are kept: \(noPrune)")
        let (pruned, pruneOutput) = try await ripcord("flags", "apply", declared, "--prune")
        #expect(pruned == 0 && pruneOutput.contains("applied: 2 changes"), "\(pruneOutput)")
        #expect(!(try await ripcord("flags", "list").1.contains("checkout")))

        // delete, recorded like every change.
        let (deleted, deleteOutput) = try await ripcord("flags", "delete", "search")
        #expect(deleted == 0 && deleteOutput.contains("deleted search"), "\(deleteOutput)")
        #expect(!(try await ripcord("flags", "list").1.contains("search")))
        let (missing, missingOutput) = try await ripcord("flags", "delete", "search")
        #expect(missing != 0 && missingOutput.contains("flag_not_found"), "\(missingOutput)")
        #expect(try await ripcord("flags", "history", "search").1.contains("after:  (deleted)"))

        // Staleness: a flag on for everyone and never evaluated is stale over 0 days, a fresh rollout not over 30.
        #expect(try await ripcord("flags", "create", "always-on", "--enabled").0 == 0)
        #expect(try await ripcord("flags", "create", "new-rollout", "--rollout", "10").0 == 0)
        let (_, stale) = try await ripcord("flags", "stale", "--days", "0")
        #expect(stale.contains("always-on  not-evaluated, fully-on  (never evaluated, on for everyone since 20"), "\(stale)")
        #expect(stale.contains("new-rollout  not-evaluated"), "\(stale)")
        let (_, month) = try await ripcord("flags", "stale")
        #expect(month.contains("0 of 2 flags stale over 30 days"), "\(month)")

        // lastSeen is ISO 8601 text.
        let (_, token) = try await api.call("POST", "/api/v1/tokens", body: #"{"name":"sdk","kind":"client","environment":"default"}"#)
        let client = try #require(token["token"] as? String)
        for (path, body) in [
            ("/api/client/register", #"{"appName":"shop","instanceId":"i-1"}"#),
            ("/api/client/metrics", #"{"appName":"shop","bucket":{"toggles":{"always-on":{"yes":2,"no":0}}}}"#),
        ] {
            var request = HTTPClientRequest(url: api.base + path)
            request.method = .POST
            request.headers.add(name: "authorization", value: client)
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
            #expect(try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status.code == 202)
        }
        let (_, metrics) = try await api.call("GET", "/api/v1/flag-metrics")
        let lastSeen = try #require((metrics["clients"] as? [[String: Any]])?.first?["lastSeen"] as? String, "\(metrics)")
        #expect(ISO8601Timestamp.parse(lastSeen).map { abs($0 - Date().timeIntervalSince1970) < 60 } == true, "\(lastSeen)")
        let exposure = (metrics["exposures"] as? [[String: Any]])?.first { $0["flag"] as? String == "always-on" }
        #expect((exposure?["lastSeen"] as? String).flatMap(ISO8601Timestamp.parse) != nil, "\(metrics)")
        let (_, afterUse) = try await ripcord("flags", "stale", "--days", "1", "--all")
        #expect(afterUse.contains("always-on  ok  (last evaluated 20"), "an evaluated flag is no longer 'not evaluated': \(afterUse)")
    }
}
