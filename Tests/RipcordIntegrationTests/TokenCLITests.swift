import Foundation
import RipcordTestSupport
import Testing

/// `ripcord tokens create/list/rotate/revoke` and `ripcord history` as a user runs them, against a real `ripcord serve`.
@Suite(.serialized, .tags(.integration)) struct TokenCLITests {
    @Test func aNamedTokenDeploysIsNamedInHistoryThenIsRevokedWhileTheLastAdminTokenStays() async throws {
        let (server, _, directory, config) = try await ServeProcessTests.startServe("tokens-cli")
        defer { server.signal(SIGTERM) }
        func ripcord(_ arguments: String...) async throws -> (Int32, String) {
            try await ChildProcess.runRipcord(arguments + ["--config", config])
        }

        let (created, createdOutput) = try await ripcord("tokens", "create", "--kind", "admin", "--name", "ci-bot", "--expires", "30d")
        #expect(created == 0, "\(createdOutput)")
        let secret = try #require(createdOutput.split(separator: "\n").first { $0.hasPrefix("rpc_") }).trimmingCharacters(in: .whitespaces)
        let botFile = "\(directory)/ci-bot.token"
        try secret.write(toFile: botFile, atomically: true, encoding: .utf8)
        let (taken, takenOutput) = try await ripcord("tokens", "create", "--kind", "client", "--name", "ci-bot")
        #expect(taken == 1 && takenOutput.contains("token_name_taken"), "\(takenOutput)")

        let (_, listed) = try await ripcord("tokens", "list")
        let bot = try #require(listed.split(separator: "\n").first { $0.hasPrefix("ci-bot  admin  -  ") }, "\(listed)")
        #expect(bot.contains("expires 20") && bot.hasSuffix("active"), "\(bot)")
        #expect(listed.split(separator: "\n").contains { $0.hasPrefix("admin  admin  -  ") && $0.hasSuffix("expires never  active") }, "\(listed)")
        #expect(!listed.contains(secret))

        let (deployed, deployOutput) = try await ripcord("deploy", "checkout", "1.0.0", "--wait", "--token-file", botFile)
        #expect(deployed == 0, "\(deployOutput)")
        let (_, history) = try await ripcord("history", "checkout")
        #expect(history.contains("rollout.started") && history.contains("by ci-bot: "), "\(history)")

        #expect(try await ripcord("tokens", "revoke", "ci-bot").0 == 0)
        let (refused, refusal) = try await ripcord("tokens", "revoke", "admin")
        #expect(refused == 1 && refusal.contains("last_admin_token") && refusal.contains("lock everyone out"), "\(refusal)")
        let (denied, denial) = try await ripcord("history", "checkout", "--token-file", botFile)
        #expect(denied == 1 && denial.contains("token_revoked"), "\(denial)")

        // Rotating the admin token of the first start rewrites admin.token, so this machine's CLI keeps working.
        let (rotated, rotateOutput) = try await ripcord("tokens", "rotate", "admin")
        #expect(rotated == 0, "\(rotateOutput)")
        let newSecret = try #require(rotateOutput.split(separator: "\n").first { $0.hasPrefix("rpc_") }).trimmingCharacters(in: .whitespaces)
        #expect(try String(contentsOfFile: "\(directory)/.ripcord/admin.token", encoding: .utf8) == newSecret + "\n")
        let (_, afterRotation) = try await ripcord("tokens", "list")
        #expect(afterRotation.split(separator: "\n").contains { $0.hasPrefix("ci-bot  admin") && $0.contains("revoked") }, "\(afterRotation)")
    }
}
