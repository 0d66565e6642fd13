import Foundation
import RipcordDrivers
import RipcordFlags
import Testing

/// The real SDKs from PyPI (UnleashClient; openfeature-sdk with openfeature-provider-ofrep) against
/// a real `ripcord serve`: flags created through Ripcord's API evaluate in the SDKs as specified,
/// and a change reaches them. scripts/test.sh installs the SDKs into .build/sdk-venv.
@Suite(.serialized) struct SDKTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let python = repository.appendingPathComponent(".build/sdk-venv/bin/python").path
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("SDK").path
    static let users = (0..<20).map { "user-\($0)" } + ["ann"]

    static let flags = #"""
    {"features":[
      {"name":"kill-switch","enabled":true,"strategies":[]},
      {"name":"beta","enabled":true,"strategies":[{"name":"userWithId","parameters":{"userIds":"ann"}}]},
      {"name":"half","enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"50","stickiness":"default","groupId":"half"}}]},
      {"name":"colour","enabled":true,"strategies":[],"variants":[{"name":"blue","weight":1000,"stickiness":"default","payload":{"type":"string","value":"#00f"}}]},
      {"name":"price","enabled":true,"strategies":[],"variants":[{"name":"full","weight":1000,"payload":{"type":"number","value":"1.0"}}]},
      {"name":"settings","enabled":true,"strategies":[],"variants":[{"name":"v1","weight":1000,"payload":{"type":"json","value":"{\"limit\":3}"}}]},
      {"name":"paused-rule","enabled":true,"strategies":[{"name":"default","disabled":true},{"name":"userWithId","parameters":{"userIds":"ann"}}]},
      {"name":"all-paused","enabled":true,"strategies":[{"name":"default","disabled":true}]}
    ]}
    """#

    /// A running `ripcord serve` with the test flags imported and a client token for `default`.
    struct Served {
        let process: ChildProcess
        let api: ServeProcessTests.API
        let clientToken: String
        let directory: String
    }

    static func serve(_ label: String) async throws -> Served {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("the SDK virtualenv is missing: \(python) — run scripts/test.sh, which creates it and installs UnleashClient, openfeature-sdk and openfeature-provider-ofrep")
            throw CancellationError()
        }
        let (process, api, directory, _) = try await ServeProcessTests.startServe(label)
        #expect(try await api.call("POST", "/api/v1/flags/import", body: flags).0 == 200)
        let (status, token) = try await api.call("POST", "/api/v1/tokens", body: #"{"name":"sdk","kind":"client","environment":"default"}"#)
        #expect(status == 201)
        return Served(process: process, api: api, clientToken: try #require(token["token"] as? String), directory: directory)
    }

    /// The latest JSON line a watcher printed.
    static func latest(_ watcher: ChildProcess) -> [String: Any] {
        guard let line = watcher.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }

    /// What Ripcord's own engine says, to compare the SDK's hashing with.
    static func expectedHalf() throws -> [String: Bool] {
        let evaluator = try FlagEvaluator(json: Data(flags.utf8))
        return Dictionary(uniqueKeysWithValues: users.map { ($0, evaluator.isEnabled("half", context: FlagContext(userId: $0))) })
    }

    func unleash(mode: String) async throws {
        let served = try await Self.serve("sdk-unleash-\(mode)")
        defer { served.process.signal(SIGTERM) }
        let watcher = try ChildProcess(Self.python, ["\(Self.scripts)/unleash_watch.py", served.api.base, served.clientToken, mode,
                                                     Self.users.joined(separator: ","), "\(served.directory)/sdk-cache"],
                                       outputPath: "\(served.directory)/watcher.log")
        defer { watcher.signal(SIGKILL) }
        try await eventually("the Unleash SDK (\(mode)) to see the flags", within: 30) { Self.latest(watcher)["kill"] as? Bool == true }
        let seen = Self.latest(watcher)
        #expect((seen["beta"] as? [String: Bool])?["ann"] == true)
        #expect((seen["beta"] as? [String: Bool])?["user-1"] == false)
        let half = try Self.expectedHalf()
        #expect(seen["half"] as? [String: Bool] == half, "the SDK's rollout hashing agrees with Ripcord's")
        #expect(half.values.contains(true) && half.values.contains(false))
        let colour = seen["colour"] as? [String: Any]
        #expect(colour?["name"] as? String == "blue" && (colour?["payload"] as? [String: Any])?["value"] as? String == "#00f")
        // Disabled strategies never reach the SDK: it agrees with Ripcord's own answer.
        #expect((seen["paused"] as? [String: Bool])?["ann"] == true)
        #expect((seen["paused"] as? [String: Bool])?["user-1"] == false, "a disabled strategy is not active in the SDK")
        #expect(seen["all_paused"] as? Bool == false, "a flag whose strategies are all disabled is off in the SDK")

        #expect(try await served.api.call("POST", "/api/v1/flags/kill-switch/disable").0 == 200)
        try await eventually("the Unleash SDK (\(mode)) to see the kill switch", within: 10) { Self.latest(watcher)["kill"] as? Bool == false }

        try await eventually("the SDK's registration and metrics stored", within: 15) {
            let (_, metrics) = try await served.api.call("GET", "/api/v1/flag-metrics")
            let exposures = metrics["exposures"] as? [[String: Any]] ?? []
            return !(metrics["clients"] as? [Any] ?? []).isEmpty && exposures.contains { $0["flag"] as? String == "kill-switch" && ($0["yes"] as? Int ?? 0) > 0 }
        }
        #expect(!watcher.output.contains("Traceback"), "\(watcher.output)")
        #expect(!(try String(contentsOfFile: "\(served.directory)/serve.log", encoding: .utf8)).contains(served.clientToken), "tokens are never logged")
    }

    @Test func unleashSDKPolling() async throws { try await unleash(mode: "polling") }

    @Test func unleashSDKStreaming() async throws { try await unleash(mode: "streaming") }

    @Test func openFeatureOFREPProvider() async throws {
        let served = try await Self.serve("sdk-ofrep")
        defer { served.process.signal(SIGTERM) }
        let watcher = try ChildProcess(Self.python, ["\(Self.scripts)/ofrep_watch.py", served.api.base, served.clientToken],
                                       outputPath: "\(served.directory)/watcher.log")
        defer { watcher.signal(SIGKILL) }
        try await eventually("the OFREP provider to evaluate", within: 30) { (Self.latest(watcher)["kill"] as? [String: Any])?["value"] as? Bool == true }
        let seen = Self.latest(watcher)
        let kill = seen["kill"] as? [String: Any]
        #expect(kill?["reason"] as? String == "STATIC" && kill?["variant"] as? String == "" && kill?["error"] is NSNull)
        #expect(seen["beta_ann"] as? Bool == true)
        #expect(seen["beta_bob"] as? Bool == false)
        let price = seen["price"] as? [String: Any]
        #expect(price?["value"] as? Double == 1.0 && price?["variant"] as? String == "full" && price?["error"] is NSNull, "\(price ?? [:])")
        let colour = seen["colour"] as? [String: Any]
        #expect(colour?["value"] as? String == "#00f" && colour?["variant"] as? String == "blue")
        #expect((seen["settings"] as? [String: Any])?["value"] as? [String: Int] == ["limit": 3])
        let missing = seen["missing"] as? [String: Any]
        #expect(missing?["value"] as? Bool == true && missing?["error"] as? String == "FLAG_NOT_FOUND")

        #expect(try await served.api.call("POST", "/api/v1/flags/kill-switch/disable").0 == 200)
        try await eventually("the OFREP provider to see the kill switch", within: 10) {
            let kill = Self.latest(watcher)["kill"] as? [String: Any]
            return kill?["value"] as? Bool == false && kill?["reason"] as? String == "DISABLED"
        }
        #expect(!watcher.output.contains("Traceback"), "\(watcher.output)")
    }
}
