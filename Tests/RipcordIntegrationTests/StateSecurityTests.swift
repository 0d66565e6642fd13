import Foundation
import RipcordDrivers
import RipcordStore
import RipcordTestSupport
import Testing

/// The state directory as an attacker or an accident finds it: owner-only files, secrets kept as
/// references, and a damaged database that stops `ripcord serve` instead of being replaced.
@Suite(.serialized, .tags(.integration)) struct StateSecurityTests {
    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func theStateDirectoryAndItsFilesAreTheOwnersOnly() async throws {
        let (process, _, directory, _) = try await ServeProcessTests.startServe("modes")
        let state = "\(directory)/.ripcord"
        #expect(try mode(state) == 0o700)
        #expect(try mode("\(state)/ripcord.sqlite") == 0o600)
        #expect(try mode("\(state)/admin.token") == 0o600)
        for companion in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: "\(state)/ripcord.sqlite\(companion)") {
            #expect(try mode("\(state)/ripcord.sqlite\(companion)") == 0o600, "ripcord.sqlite\(companion)")
        }
        process.signal(SIGTERM)
        try await process.wait()
    }

    /// Serve on the damaged state: refused with the file and the way back, the token left as it was.
    func expectRefusal(config: String, state: String, token: String, problem: String) async throws {
        let (status, output) = try await ChildProcess.runRipcord(["serve", "--config", config])
        #expect(status == 1, "\(output)")
        #expect(output.contains("the state database \(state)/ripcord.sqlite \(problem)"), "\(output)")
        #expect(output.contains("Recovering the state database") && output.contains("restore"), "\(output)")
        #expect(try String(contentsOfFile: "\(state)/admin.token", encoding: .utf8) == token, "the admin token is not replaced")
    }

    @Test func serveRefusesAMissingEmptyOrCorruptStateDatabaseAndStartsAgainOnceRestored() async throws {
        let (process, api, directory, config) = try await ServeProcessTests.startServe("damaged")
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }
        process.signal(SIGTERM)
        #expect(try await process.wait() == 0)
        let state = "\(directory)/.ripcord"
        let database = "\(state)/ripcord.sqlite"
        let token = try String(contentsOfFile: "\(state)/admin.token", encoding: .utf8)
        // Closing the last connection folds the WAL into the file: one file to back up, damage and restore.
        _ = try SQLiteStore(path: database)
        let backup = try Data(contentsOf: URL(fileURLWithPath: database))
        #expect(!FileManager.default.fileExists(atPath: database + "-wal"))

        try FileManager.default.removeItem(atPath: database)
        try await expectRefusal(config: config, state: state, token: token, problem: "is missing, but \(state)/admin.token from an earlier start exists")
        #expect(!FileManager.default.fileExists(atPath: database), "nothing was created in its place")

        try Data().write(to: URL(fileURLWithPath: database))
        try await expectRefusal(config: config, state: state, token: token, problem: "is empty")

        // Garbage after the header (a page that fails only PRAGMA quick_check: StateDatabaseTests).
        var corrupt = backup
        corrupt.replaceSubrange(4096..., with: Data(repeating: 0xA5, count: corrupt.count - 4096))
        try corrupt.write(to: URL(fileURLWithPath: database))
        try await expectRefusal(config: config, state: state, token: token, problem: "cannot be")

        // The documented way back: restore the backup; the same token works and the release is remembered.
        try backup.write(to: URL(fileURLWithPath: database))
        let restarted = try ChildProcess(ripcordBinary, ["serve", "--config", config], outputPath: "\(directory)/serve-again.log")
        let again = try await ServeProcessTests().waitForAPI(port: Int(URL(string: api.base)!.port!), tokenFile: "\(state)/admin.token")
        #expect(again.token == api.token)
        #expect(try await again.rollout(of: "checkout")["candidateVersion"] as? String == "1.0.0")
        restarted.signal(SIGTERM)
        try await restarted.wait()
    }

    @Test func aWebhookGetsItsHeaderFromTheEnvironmentWhileTheStateHoldsOnlyTheReference() async throws {
        let directory = try temporaryDirectory("secret-ref")
        let receiver = try await WebhookReceiver.start(directory: directory)
        defer { receiver.stop() }
        let hookSecret = "Bearer hook-\(UUID().uuidString)"
        let notificationSecret = "Bearer chat-\(UUID().uuidString)"
        try (notificationSecret + "\n").write(toFile: "\(directory)/chat-token", atomically: true, encoding: .utf8)
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try ServeProcessTests.sampleConfig(
            apiPort: apiPort,
            service: """
                hooks:
                  - { name: announce, at: afterPromotion, http: { url: "http://127.0.0.1:\(receiver.port)/hook", headers: { Authorization: "${RIPCORD_TEST_HOOK_TOKEN}" } } }
                  - { name: unset, at: afterPromotion, http: { url: "http://127.0.0.1:\(receiver.port)/unset", headers: { Authorization: "${RIPCORD_TEST_UNSET}" } } }
                """,
            topLevel: """
                notifications:
                  - { name: chat, url: "http://127.0.0.1:\(receiver.port)/chat", events: [rollout.promoted], headers: { Authorization: { file: chat-token } } }
                """
        ).write(toFile: config, atomically: true, encoding: .utf8)
        let serve = try ChildProcess(
            ripcordBinary, ["serve", "--config", config], outputPath: "\(directory)/serve.log",
            environment: ["RIPCORD_TEST_HOOK_TOKEN": hookSecret])
        let api = try await ServeProcessTests().waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        let (accepted, deployed) = try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#)
        #expect(accepted == 202)
        let rolloutID = try #require(deployed["id"] as? Int)
        try await eventually("the hook and the notification received") { receiver.received.count >= 2 }
        // A reference that cannot be resolved fails its hook, naming the reference; nothing is sent.
        try await eventually("the unset hook recorded") {
            let events = try await api.call("GET", "/api/v1/rollouts/\(rolloutID)").1["events"] as? [[String: Any]] ?? []
            return events.contains { event in
                (event["evidence"] as? [String: String]).map {
                    $0["hook"] == "unset" && $0["result"] == "header Authorization: ${RIPCORD_TEST_UNSET} is not set in ripcord's environment"
                } == true
                    && event["kind"] as? String == "hook.failed"
            }
        }
        #expect(receiver.received.count == 2, "the hook without its secret sent nothing")
        let hook = try #require(receiver.received.first { ($0["body"] as? [String: Any])?["hook"] as? String == "afterPromotion" })
        #expect(hook["authorization"] as? String == hookSecret)
        let chat = try #require(receiver.received.first { ($0["body"] as? [String: Any])?["event"] as? String == "rollout.promoted" })
        #expect(chat["authorization"] as? String == notificationSecret)
        serve.signal(SIGTERM)
        try await serve.wait()

        let state = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/.ripcord").filter { $0.hasPrefix("ripcord.sqlite") }
            .map { try Data(contentsOf: URL(fileURLWithPath: "\(directory)/.ripcord/\($0)")) }.reduce(Data(), +)
        #expect(state.range(of: Data("${RIPCORD_TEST_HOOK_TOKEN}".utf8)) != nil, "the revision keeps the reference")
        #expect(state.range(of: Data(hookSecret.utf8)) == nil && state.range(of: Data(notificationSecret.utf8)) == nil)
        let log = try String(contentsOfFile: "\(directory)/serve.log", encoding: .utf8)
        #expect(!log.contains(hookSecret) && !log.contains(notificationSecret))
    }
}
