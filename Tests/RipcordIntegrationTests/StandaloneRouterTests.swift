import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1
import RipcordCore
import RipcordDrivers
import RipcordLoadGenerator
import RipcordTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// `router.mode: external`: a real `ripcord serve` and real `ripcord router` processes on loopback
/// (127.0.0.2 and 127.0.0.3, the same port), real sample services, real HTTP through the routers.
@Suite(.serialized, .tags(.integration)) struct StandaloneRouterTests {
    struct Setup {
        var directory: String
        var config: String
        var apiPort: Int
        var frontPort: Int
        var tokenFile: String { "\(directory)/.ripcord/admin.token" }
        func door(_ host: String) -> String { "http://\(host):\(frontPort)/" }
    }

    /// One service paused at 30 % until promoted, its front doors served by standalone routers.
    func externalConfig(_ label: String) throws -> Setup {
        let directory = try temporaryDirectory(label)
        let setup = Setup(directory: directory, config: "\(directory)/ripcord.yaml", apiPort: try FreePort.allocate(), frontPort: try FreePort.allocate())
        try """
        api: { listen: 127.0.0.1:\(setup.apiPort) }
        router: { mode: external }
        services:
          checkout:
            listen: 127.0.0.1:\(setup.frontPort)
            run: { command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}" }
            healthCheck: { interval: 200ms }
            strategy:
              canary:
                unanalyzed: true
                steps:
                  - setWeight: 30
                  - pause: {}
        """.write(toFile: setup.config, atomically: true, encoding: .utf8)
        return setup
    }

    func serve(_ setup: Setup, log: String = "serve.log") throws -> ChildProcess {
        try ChildProcess(ripcordBinary, ["serve", "--config", setup.config], outputPath: "\(setup.directory)/\(log)")
    }

    func router(_ setup: Setup, name: String, host: String) throws -> ChildProcess {
        try ChildProcess(
            ripcordBinary,
            [
                "router", "--controller", "http://127.0.0.1:\(setup.apiPort)", "--token-file", setup.tokenFile,
                "--state-file", "\(setup.directory)/\(name).json", "--name", name, "--address", host,
            ],
            outputPath: "\(setup.directory)/\(name).log")
    }

    func routers(_ api: ServeProcessTests.API) async throws -> [[String: Any]] {
        var request = HTTPClientRequest(url: api.base + "/api/v1/routers")
        request.headers.add(name: "authorization", value: "Bearer \(api.token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = Data(buffer: try await response.body.collect(upTo: 1 << 22))
        return (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
    }

    /// Every router holds the stream open and serves the controller's current table.
    func waitUntilRoutersServeTheCurrentTable(_ api: ServeProcessTests.API, count: Int) async throws {
        try await eventually("\(count) routers serving the current table") {
            let views = try await routers(api)
            return views.count == count
                && views.allSatisfy { $0["connected"] as? Bool == true && ($0["generation"] as? Int) == ($0["currentGeneration"] as? Int) }
        }
    }

    @Test func killNineTheControllerMidRolloutUnderLoadThroughTwoRoutersFailsNoRequest() async throws {
        let setup = try externalConfig("fleet-kill9")
        let first = try serve(setup)
        var api = try await ServeProcessTests().waitForAPI(port: setup.apiPort, tokenFile: setup.tokenFile)
        let edges = [try router(setup, name: "edge-1", host: "127.0.0.2"), try router(setup, name: "edge-2", host: "127.0.0.3")]
        defer { for edge in edges { edge.signal(SIGKILL) } }
        try await waitUntilRoutersServeTheCurrentTable(api, count: 2)
        let (rolloutID, _, _) = try await ServeProcessTests().startPausedCanary(api)
        for host in ["127.0.0.2", "127.0.0.3"] {
            try await eventually("the candidate behind \(host)") { try await get(setup.door(host), headers: [("x-ripcord-route", "candidate")]).1 == "1.1.0" }
        }

        let loads = ["127.0.0.2", "127.0.0.3"].map { LoadGenerator(url: setup.door($0), requestsPerSecond: 100, concurrency: 2) }
        let running = loads.map { load in Task { await load.run() } }
        try await eventually("traffic through both routers") { loads.allSatisfy { $0.samples.count > 50 } }
        first.signal(SIGKILL)
        try await first.wait()
        let atKill = loads.map(\.samples.count)
        try await eventually("both routers serving with the controller dead") { zip(loads, atKill).allSatisfy { $0.samples.count > $1 + 100 } }

        let second = try serve(setup, log: "serve-2.log")
        defer { second.signal(SIGKILL) }
        api = try await ServeProcessTests().waitForAPI(port: setup.apiPort, tokenFile: setup.tokenFile)
        let resumed = try await api.rollout(of: "checkout")
        #expect(resumed["id"] as? Int == rolloutID)
        #expect(resumed["phase"] as? String == "paused")
        try await waitUntilRoutersServeTheCurrentTable(api, count: 2)
        #expect(try await api.call("POST", "/api/v1/services/checkout/promote").0 == 202)
        try await eventually("1.1.0 promoted after the restart") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }
        // The promotion's weights reach both routers: every answer comes from 1.1.0.
        let promotedAt = loads.map(\.samples.count)
        try await eventually("only 1.1.0 behind both routers") {
            zip(loads, promotedAt).allSatisfy { load, from in
                let after = load.samples(from: from)
                return after.count > 50 && after.suffix(30).allSatisfy { $0.version == "1.1.0" }
            }
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
        for load in loads { await load.shutdown() }
        for (host, load) in zip(["127.0.0.2", "127.0.0.3"], loads) {
            let failed = load.samples.filter(\.failed)
            #expect(failed.isEmpty, "\(host): \(failed.count) of \(load.samples.count) failed: \(failed.prefix(3).map { $0.error ?? String($0.status) })")
        }
    }

    @Test func aRouterRestartedWhileTheControllerIsDownServesFromItsStateFile() async throws {
        let setup = try externalConfig("fleet-state-file")
        let controller = try serve(setup)
        var api = try await ServeProcessTests().waitForAPI(port: setup.apiPort, tokenFile: setup.tokenFile)
        var edge = try router(setup, name: "edge-1", host: "127.0.0.2")
        defer { edge.signal(SIGKILL) }
        try await waitUntilRoutersServeTheCurrentTable(api, count: 1)
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }
        try await eventually("1.0.0 behind the router") { try await get(setup.door("127.0.0.2")).1 == "1.0.0" }

        controller.signal(SIGKILL)
        try await controller.wait()
        edge.signal(SIGKILL)
        try await edge.wait()
        edge = try router(setup, name: "edge-1", host: "127.0.0.2")
        try await eventually("the restarted router serving without a controller") { (try? await get(setup.door("127.0.0.2")))?.1 == "1.0.0" }
        let log = try String(contentsOfFile: "\(setup.directory)/edge-1.log", encoding: .utf8)
        #expect(log.contains("state file"), "\(log)")

        let second = try serve(setup, log: "serve-2.log")
        defer { second.signal(SIGKILL) }
        api = try await ServeProcessTests().waitForAPI(port: setup.apiPort, tokenFile: setup.tokenFile)
        try await waitUntilRoutersServeTheCurrentTable(api, count: 1)
        #expect(try await get(setup.door("127.0.0.2")).1 == "1.0.0")
        #expect(!log.contains(api.token), "the token is never logged")
    }
}
