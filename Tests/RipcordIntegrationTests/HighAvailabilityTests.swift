import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1
import RipcordDrivers
import RipcordLoadGenerator
import RipcordTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// Two real `ripcord serve` processes sharing one real PostgreSQL, two real `ripcord router` processes
/// following whichever leads, real sample services and real HTTP through the routers.
@Suite(.serialized, .postgresServer, .tags(.integration)) struct HighAvailabilityTests {
    /// One controller's folder, configuration and API.
    struct Controller {
        var name: String
        var directory: String
        var apiPort: Int
        var config: String { "\(directory)/ripcord.yaml" }
        var base: String { "http://127.0.0.1:\(apiPort)" }
    }

    struct Cluster {
        var controllers: [Controller]
        var frontPort: Int
        /// The first controller's bootstrap token: the tokens are shared, so it works on both.
        var tokenFile: String { "\(controllers[0].directory)/.ripcord/admin.token" }
        func door(_ host: String) -> String { "http://\(host):\(frontPort)/" }
    }

    /// Two controllers on one new database; `databasePort` lets a test put a proxy between one controller and PostgreSQL.
    func cluster(_ label: String, steps: [String], databasePorts: [Int]? = nil) async throws -> Cluster {
        let server = try #require(PostgresServer.current)
        let database = "ha_\(UUID().uuidString.prefix(8).lowercased())"
        try await server.createDatabase(database)
        let frontPort = try FreePort.allocate()
        var controllers: [Controller] = []
        for (index, name) in ["ctl-a", "ctl-b"].enumerated() {
            let port = databasePorts?[index] ?? server.port
            let (directory, _, apiPort, _) = try ServeProcessTests().pausedCanaryConfig(
                "\(label)-\(name)", router: "{ mode: external }", steps: steps, frontPort: frontPort,
                topLevel: "store: { postgres: { url: 'postgres://postgres@127.0.0.1:\(port)/\(database)' } }\nha: { name: \(name) }")
            controllers.append(Controller(name: name, directory: directory, apiPort: apiPort))
        }
        return Cluster(controllers: controllers, frontPort: frontPort)
    }

    func serve(_ controller: Controller, log: String = "serve.log") throws -> ChildProcess {
        try ChildProcess(ripcordBinary, ["serve", "--config", controller.config], outputPath: "\(controller.directory)/\(log)")
    }

    func router(_ cluster: Cluster, name: String, host: String) throws -> ChildProcess {
        try ChildProcess(
            ripcordBinary,
            [
                "router", "--controller", cluster.controllers.map(\.base).joined(separator: ","), "--token-file", cluster.tokenFile,
                "--state-file", "\(cluster.controllers[0].directory)/\(name).json", "--name", name, "--address", host,
            ],
            outputPath: "\(cluster.controllers[0].directory)/\(name).log")
    }

    func api(_ controller: Controller, _ cluster: Cluster) throws -> ServeProcessTests.API {
        ServeProcessTests.API(
            base: controller.base, token: try String(contentsOfFile: cluster.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func leadership(_ api: ServeProcessTests.API) async -> [String: Any] {
        (try? await api.call("GET", "/api/v1/leader").1) ?? [:]
    }

    /// Starts both controllers (the first leads) and two routers serving the current table.
    func start(_ cluster: Cluster) async throws -> (controllers: [ChildProcess], routers: [ChildProcess], apis: [ServeProcessTests.API]) {
        let first = try serve(cluster.controllers[0])
        _ = try await ServeProcessTests().waitForAPI(port: cluster.controllers[0].apiPort, tokenFile: cluster.tokenFile)
        let a = try api(cluster.controllers[0], cluster)
        try await eventually("ctl-a leads") { await leadership(a)["role"] as? String == "leader" }
        let second = try serve(cluster.controllers[1])
        let b = try api(cluster.controllers[1], cluster)
        try await eventually("ctl-b stands by, naming ctl-a") {
            let view = await leadership(b)
            return view["role"] as? String == "follower" && view["leader"] as? String == "ctl-a"
        }
        let routers = [try router(cluster, name: "edge-1", host: "127.0.0.2"), try router(cluster, name: "edge-2", host: "127.0.0.3")]
        try await StandaloneRouterTests().waitUntilRoutersServeTheCurrentTable(a, count: 2)
        return ([first, second], routers, [a, b])
    }

    /// A token made and a flag turned on through the leader work on the follower within seconds: told by
    /// the store's notification, not found by the follower's fallback re-read (every 30 s).
    func expectTheFollowerTakesInTheLeadersTokensAndFlags(_ leader: ServeProcessTests.API, _ follower: ServeProcessTests.API) async throws {
        // The follower serves the environment before the change, so it must notice the change, not just read it.
        let sdk = try await leader.call("POST", "/api/v1/tokens", body: #"{"name":"sdk-ha","kind":"client","environment":"production"}"#).1
        let secret = try #require(sdk["token"] as? String)
        let asSDK = ServeProcessTests.API(base: follower.base, token: secret)
        try await eventually("the follower accepts the leader's new token", within: 5) { try await asSDK.call("GET", "/api/client/features").0 == 200 }
        #expect(try await asSDK.call("GET", "/api/client/features").1["features"] as? [Any] != nil)
        let flag = #"{"name":"ha-flag","enabled":true,"strategies":[{"name":"default","parameters":{}}]}"#
        #expect(try await leader.call("POST", "/api/v1/flags?environment=production", body: flag).0 == 201)
        try await eventually("the follower serves the leader's new flag", within: 5) {
            let features = try await asSDK.call("GET", "/api/client/features").1["features"] as? [[String: Any]] ?? []
            return features.contains { $0["name"] as? String == "ha-flag" && $0["enabled"] as? Bool == true }
        }
    }

    /// One call whose redirect is not followed: its status, Location and body.
    func unfollowed(_ api: ServeProcessTests.API, _ method: String, _ path: String, body: String) async throws -> (Int, String?, String) {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        defer { Task { try? await client.shutdown() } }
        var request = HTTPClientRequest(url: api.base + path)
        request.method = .RAW(value: method)
        request.headers.add(name: "authorization", value: "Bearer \(api.token)")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return (Int(response.status.code), response.headers.first(name: "location"), text)
    }

    func events(_ api: ServeProcessTests.API, rollout: Int) async throws -> [[String: Any]] {
        var request = HTTPClientRequest(url: api.base + "/api/v1/services/checkout/events")
        request.headers.add(name: "authorization", value: "Bearer \(api.token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = Data(buffer: try await response.body.collect(upTo: 1 << 24))
        let all = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
        return all.filter { $0["rolloutID"] as? Int == rollout }
    }

    @Test func killNineTheLeaderMidRolloutTheFollowerTakesOverAndTheRolloutCompletesOnceWithNoFailedRequest() async throws {
        let cluster = try await cluster("ha-kill9", steps: ["setWeight: 30", "pause: { duration: 8s }", "setWeight: 60", "pause: { duration: 1s }"])
        let (controllers, routers, apis) = try await start(cluster)
        defer { for process in controllers + routers { process.signal(SIGKILL) } }
        let (a, b) = (apis[0], apis[1])
        #expect(try await a.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await a.rollout(of: "checkout")["phase"] as? String == "promoted" }
        // A command sent to the follower is redirected to the leader (the CLI and the routers follow it).
        let (redirected, location, refusal) = try await unfollowed(b, "POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.1.0"}"#)
        #expect(redirected == 307 && location == a.base + "/api/v1/services/checkout/deploy" && refusal.contains("not_leader"))
        let (cli, cliOutput) = try await ChildProcess.runRipcord(
            ["deploy", "checkout", "1.1.0", "--server", b.base, "--token-file", cluster.tokenFile])
        #expect(cli == 0, "\(cliOutput)")
        try await eventually("1.1.0 at 30 % in its timed pause") {
            let rollout = try await a.rollout(of: "checkout")
            return rollout["candidateVersion"] as? String == "1.1.0" && rollout["candidateWeight"] as? Int == 30
        }
        let rolloutID = try #require(try await a.rollout(of: "checkout")["id"] as? Int)
        // The follower reads the same state from the store.
        #expect(try await b.rollout(of: "checkout")["id"] as? Int == rolloutID)
        try await expectTheFollowerTakesInTheLeadersTokensAndFlags(a, b)
        let candidatesStarted = try await events(a, rollout: rolloutID).filter { $0["kind"] as? String == "instance.started" }.count
        let (_, statusBefore) = try await a.call("GET", "/api/v1/services/checkout")
        let stableStartedByA = (statusBefore["stableInstances"] as? [[String: Any]] ?? []).compactMap { ($0["pid"] as? Int).map(Int32.init) }
        #expect(!stableStartedByA.isEmpty)

        let loads = ["127.0.0.2", "127.0.0.3"].map { LoadGenerator(url: cluster.door($0), requestsPerSecond: 100, concurrency: 2) }
        let running = loads.map { load in Task { await load.run() } }
        try await eventually("traffic through both routers") { loads.allSatisfy { $0.samples.count > 50 } }
        controllers[0].signal(SIGKILL)
        let killedAt = ContinuousClock.now
        try await controllers[0].wait()
        try await eventually("ctl-b leads", within: 20) { await leadership(b)["role"] as? String == "leader" }
        let takeover = ContinuousClock.now - killedAt
        // Lease 5 s + one renewal 1 s; the test's polling adds a little.
        #expect(takeover < .milliseconds(6_500), "ctl-b led \(takeover) after ctl-a died")
        try await eventually("1.1.0 promoted by ctl-b", within: 60) { try await b.rollout(of: "checkout")["phase"] as? String == "promoted" }
        try await StandaloneRouterTests().waitUntilRoutersServeTheCurrentTable(b, count: 2)
        // ctl-b, with a state directory of its own, stops the stable instances ctl-a started once they drained.
        try await eventually("ctl-a's 1.0.0 instances stopped by ctl-b") { stableStartedByA.allSatisfy { kill($0, 0) != 0 } }
        try await StandaloneRouterTests().expectOnly("1.1.0", behind: zip(["127.0.0.2", "127.0.0.3"], loads).map { $0 }, thenStop: running)
        // Exactly once: one promotion, one event per step, and no candidate started again by the new leader.
        let history = try await events(b, rollout: rolloutID)
        let kinds = history.compactMap { $0["kind"] as? String }
        #expect(kinds.filter { $0 == "rollout.promoted" }.count == 1, "\(kinds)")
        #expect(history.filter { $0["kind"] as? String == "instance.started" }.count == candidatesStarted, "\(kinds)")
        let messages = history.filter { $0["kind"] as? String != "instance.stopped" }.compactMap { $0["message"] as? String }
        #expect(Set(messages).count == messages.count, "an event recorded twice: \(messages)")

        // An upgrade's hand-over: ctl-a back, standing by; ctl-b stopped in order ends its lease at once.
        let restarted = try serve(cluster.controllers[0], log: "serve-2.log")
        defer { restarted.signal(SIGKILL) }
        try await eventually("ctl-a stands by") { await leadership(a)["role"] as? String == "follower" }
        controllers[1].signal(SIGTERM)
        let stoppedAt = ContinuousClock.now
        try await eventually("ctl-a leads again", within: 20) { await leadership(a)["role"] as? String == "leader" }
        let handOver = ContinuousClock.now - stoppedAt
        #expect(handOver < .milliseconds(2_500), "ctl-a led \(handOver) after ctl-b's SIGTERM (a renewal, not a whole lease)")
        #expect(try await controllers[1].wait() == 0)
        try await StandaloneRouterTests().stopInstances(a)
    }

    @Test func aLeaderCutOffFromPostgresStopsActingBeforeItsLeaseEndsAndTheFollowerTakesOver() async throws {
        let server = try #require(PostgresServer.current)
        // ctl-a reaches PostgreSQL through a proxy the test freezes: its connections hang, as across a partition.
        let proxyPort = try FreePort.allocate()
        let proxyLog = try temporaryDirectory("ha-proxy") + "/socat.log"
        let proxy = try ChildProcess(
            try SystemProgram.require("socat", package: "socat"),
            ["TCP-LISTEN:\(proxyPort),bind=127.0.0.1,reuseaddr,fork", "TCP:127.0.0.1:\(server.port)"], outputPath: proxyLog)
        defer { kill(-proxy.pid, SIGKILL) }
        let cluster = try await cluster("ha-cut", steps: ["setWeight: 30", "pause: {}"], databasePorts: [proxyPort, server.port])
        let (controllers, routers, apis) = try await start(cluster)
        defer { for process in controllers + routers { process.signal(SIGKILL) } }
        let (a, b) = (apis[0], apis[1])
        let before = await leadership(b)
        let oldTerm = try #require(before["term"] as? Int)
        let (listed, status) = try await ChildProcess.runRipcord(["status", "--server", b.base, "--token-file", cluster.tokenFile])
        #expect(listed == 0 && status.contains("controllers: ctl-a leads, term \(oldTerm) since ") && status.contains("(asked ctl-b, which stands by)"), "\(status)")

        kill(-proxy.pid, SIGSTOP)
        let cutAt = Date()
        let exitStatus = try await controllers[0].wait(within: 15)
        let steppedDownAt = Date()
        #expect(exitStatus == 75, "a leader that lost its lease exits 75 to be started again standing by")
        #expect(steppedDownAt.timeIntervalSince(cutAt) < 5, "stopped acting within its 5 s lease")
        #expect(controllers[0].output.contains("stepping down"))
        try await eventually("ctl-b leads", within: 20) { await leadership(b)["role"] as? String == "leader" }
        let after = await leadership(b)
        #expect(after["leader"] as? String == "ctl-b" && after["term"] as? Int == oldTerm + 1)
        // The new term began after the old leader had stopped (one machine, one clock for both).
        let since = try #require((after["since"] as? String).flatMap(isoDate))
        #expect(since > steppedDownAt.addingTimeInterval(-0.05), "ctl-b's term began at \(since), ctl-a stopped at \(steppedDownAt)")
        // The routers follow the new leader.
        try await StandaloneRouterTests().waitUntilRoutersServeTheCurrentTable(b, count: 2)
        #expect(try await b.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted by ctl-b") { try await b.rollout(of: "checkout")["phase"] as? String == "promoted" }
        _ = a
        try await StandaloneRouterTests().stopInstances(b)
    }
}

/// `2026-12-06T23:00:00.123Z` as a date.
private func isoDate(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)
}
