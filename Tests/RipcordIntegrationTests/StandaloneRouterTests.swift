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

    /// One service whose canary runs `steps` (by default: paused at 30 % until promoted), its front
    /// doors served by standalone routers.
    func externalConfig(_ label: String, steps: [String] = ["setWeight: 30", "pause: {}"]) throws -> Setup {
        let (directory, config, apiPort, frontPort) = try ServeProcessTests().pausedCanaryConfig(label, router: "{ mode: external }", steps: steps)
        return Setup(directory: directory, config: config, apiPort: apiPort, frontPort: frontPort)
    }

    func serve(_ setup: Setup, log: String = "serve.log") throws -> ChildProcess {
        try ChildProcess(ripcordBinary, ["serve", "--config", setup.config], outputPath: "\(setup.directory)/\(log)")
    }

    func router(_ setup: Setup, name: String, host: String, tokenFile: String? = nil) throws -> ChildProcess {
        try ChildProcess(
            ripcordBinary,
            [
                "router", "--controller", "http://127.0.0.1:\(setup.apiPort)", "--token-file", tokenFile ?? setup.tokenFile,
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

    /// External mode leaves the instances running when the controller goes: the test stops every one
    /// the controller started (those it was still draining too).
    func stopInstances(_ api: ServeProcessTests.API) async throws {
        var request = HTTPClientRequest(url: api.base + "/api/v1/services/checkout/events")
        request.headers.add(name: "authorization", value: "Bearer \(api.token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = Data(buffer: try await response.body.collect(upTo: 1 << 22))
        let events = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] ?? []
        for event in events where event["kind"] as? String == "instance.started" {
            if let pid = ((event["evidence"] as? [String: Any])?["pid"] as? String).flatMap(Int32.init) { kill(pid, SIGKILL) }
        }
    }

    func deployFirstVersion(_ api: ServeProcessTests.API) async throws {
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }
    }

    /// Every router holds the stream open and serves the controller's current table.
    func waitUntilRoutersServeTheCurrentTable(_ api: ServeProcessTests.API, count: Int) async throws {
        try await eventually("\(count) routers serving the current table") {
            let views = try await routers(api)
            return views.count == count
                && views.allSatisfy { $0["connected"] as? Bool == true && ($0["generation"] as? Int) == ($0["currentGeneration"] as? Int) }
        }
    }

    /// Waits until the last 30 of over 50 answers through each router come from `version`, then stops the
    /// loads and expects no request to have failed through any router.
    func expectOnly(_ version: String, behind loads: [(host: String, load: LoadGenerator)], thenStop running: [Task<Void, Never>]) async throws {
        let from = loads.map(\.load.samples.count)
        try await eventually("only \(version) behind every router") {
            zip(loads, from).allSatisfy { entry, from in
                let after = entry.load.samples(from: from)
                return after.count > 50 && after.suffix(30).allSatisfy { $0.version == version }
            }
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
        for (host, load) in loads {
            await load.shutdown()
            let failed = load.samples.filter(\.failed)
            #expect(failed.isEmpty, "\(host): \(failed.count) of \(load.samples.count) failed: \(failed.prefix(3).map { $0.error ?? String($0.status) })")
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
        try await expectOnly("1.1.0", behind: zip(["127.0.0.2", "127.0.0.3"], loads).map { $0 }, thenStop: running)
        try await stopInstances(api)
    }

    @Test func aRouterRestartedWhileTheControllerIsDownServesFromItsStateFile() async throws {
        let setup = try externalConfig("fleet-state-file")
        let controller = try serve(setup)
        var api = try await ServeProcessTests().waitForAPI(port: setup.apiPort, tokenFile: setup.tokenFile)
        var edge = try router(setup, name: "edge-1", host: "127.0.0.2")
        defer { edge.signal(SIGKILL) }
        try await waitUntilRoutersServeTheCurrentTable(api, count: 1)
        try await deployFirstVersion(api)
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
        try await stopInstances(api)
    }

    @Test func aWeightChangeReachesBothRoutersWithinASecond() async throws {
        let setup = try externalConfig("fleet-propagation", steps: ["pause: {}", "setWeight: 100", "pause: {}"])
        let controller = try serve(setup)
        defer { controller.signal(SIGKILL) }
        let api = try await ServeProcessTests().waitForAPI(port: setup.apiPort, tokenFile: setup.tokenFile)
        let hosts = ["127.0.0.2", "127.0.0.3"]
        let edges = try hosts.enumerated().map { try router(setup, name: "edge-\($0.offset + 1)", host: $0.element) }
        defer { for edge in edges { edge.signal(SIGKILL) } }
        try await waitUntilRoutersServeTheCurrentTable(api, count: 2)
        try await deployFirstVersion(api)
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.1.0"}"#).0 == 202)
        try await eventually("1.1.0 waiting at 0 %") { try await api.rollout(of: "checkout")["phase"] as? String == "paused" }
        for host in hosts { try await eventually("1.0.0 behind \(host)") { try await get(setup.door(host)).1 == "1.0.0" } }

        /// Calls `action`; within a second every answer from both routers comes from `version`.
        func change(_ action: String, reaches version: String) async throws {
            let called = ContinuousClock.now
            #expect(try await api.call("POST", "/api/v1/services/checkout/\(action)").0 == 202)
            try await eventually("only \(version) behind both routers after \(action)", within: 1) {
                for host in hosts {
                    for _ in 0..<5 where try await get(setup.door(host)).1 != version { return false }
                }
                return true
            }
            let delay = ContinuousClock.now - called
            #expect(delay < .seconds(1), "\(action) reached both routers after \(delay)")
        }
        try await change("promote", reaches: "1.1.0")  // 0 % → 100 %
        try await change("abort", reaches: "1.0.0")  // 100 % → 0 %
        try await stopInstances(api)
    }

    @Test func hostileReportsAreRefusedAndChangeNothing() async throws {
        let setup = try externalConfig("fleet-hostile")
        let controller = try serve(setup)
        defer { controller.signal(SIGKILL) }
        let api = try await ServeProcessTests().waitForAPI(port: setup.apiPort, tokenFile: setup.tokenFile)
        let edge = try router(setup, name: "edge-1", host: "127.0.0.2")
        defer { edge.signal(SIGKILL) }
        try await waitUntilRoutersServeTheCurrentTable(api, count: 1)
        try await deployFirstVersion(api)
        // What the controller has summed for 1.0.0: responses by class, then connection failures.
        func counted() async throws -> [Int] {
            let snapshot = try await api.call("GET", "/api/v1/services/checkout/measurements").1["snapshot"] as? [String: Any]
            let stable = snapshot?["stable"] as? [String: Any]
            return (stable?["responsesByClass"] as? [Int] ?? []) + [stable?["connectionFailures"] as? Int ?? -1]
        }
        // Requests until 20 are counted for the stable 1.0.0 (the first ones may count as its candidate role).
        try await eventually("the router's reports counted") {
            #expect(try await get(setup.door("127.0.0.2")).0 == 200)
            return try await counted().dropFirst(2).first ?? 0 >= 20
        }
        let routersBefore = try await routers(api).map { $0["name"] as? String }

        // Each refused report claims 777 server errors: accepted, they would show in the sums.
        let classes = "[0,0,0,0,0,777]"
        let buckets = "[" + Array(repeating: "0", count: 256).joined(separator: ",") + "]"
        func series(classes: String = classes, buckets: String = buckets, service: String = "checkout") -> String {
            #"{"service":"\#(service)","version":"1.0.0","role":"stable","metrics":{"responsesByClass":\#(classes),"connectionFailures":0,"latency":{"counts":\#(buckets),"sumMicroseconds":0}}}"#
        }
        func report(_ series: [String], boot: String = "hostile", problems: String = "[]") -> String {
            #"{"boot":"\#(boot)","generation":1,"problems":\#(problems),"series":[\#(series.joined(separator: ","))]}"#
        }
        // A first report from a new process sets where its counting starts: it is accepted.
        #expect(try await api.call("POST", "/api/v1/routers/edge-1/reports", body: report([series(classes: "[0,0,0,0,0,0]")])).0 == 204)
        let hostile: [(String, String, Int, String)] = [
            ("not JSON", "edge-1", 400, "{"),
            ("5 classes", "edge-1", 400, report([series(classes: "[0,0,0,0,0]")])),
            ("a short histogram", "edge-1", 400, report([series(buckets: "[1,2,3]")])),
            ("a negative count", "edge-1", 400, report([series(classes: "[0,0,-5,0,0,0]")])),
            ("a counter near UInt64.max", "edge-1", 400, report([series(classes: "[0,0,18446744073709551615,0,0,0]")])),
            ("a counter over 2^50", "edge-1", 400, report([series(classes: "[0,0,0,0,0,1125899906842625]")])),
            ("too many series", "edge-1", 400, report(Array(repeating: series(), count: 8193))),
            ("a service name with a newline", "edge-1", 400, report([series(service: "check\\nout")])),
            ("an empty boot", "edge-1", 400, report([series()], boot: "")),
            ("too many problems", "edge-1", 400, report([], problems: "[" + Array(repeating: #""x""#, count: 65).joined(separator: ",") + "]")),
            ("a router name with a slash", "a%2Fb", 400, report([series()])),
            ("a 300-character router name", String(repeating: "r", count: 300), 400, report([series()])),
            ("9 MiB", "edge-1", 413, report([series()], problems: "[\"" + String(repeating: "x", count: 9 << 20) + "\"]")),
        ]
        for (what, name, status, body) in hostile {
            let (answered, error) = try await api.call("POST", "/api/v1/routers/\(name)/reports", body: body)
            #expect(answered == status, "\(what): \(answered) \(error)")
            #expect((error["error"] as? [String: Any])?["code"] is String, "\(what): a JSON error with a code")
        }
        var unauthenticated = HTTPClientRequest(url: api.base + "/api/v1/routers/edge-1/reports")
        unauthenticated.method = .POST
        unauthenticated.body = .bytes(ByteBuffer(string: report([series(classes: "[0,0,0,0,0,9999]")])))
        #expect(try await HTTPClient.shared.execute(unauthenticated, timeout: .seconds(10)).status == .unauthorized)

        // Nothing refused reached the sums or the router list, and the controller still serves.
        #expect(try await routers(api).map { $0["name"] as? String } == routersBefore)
        let sums = try await counted()
        #expect(sums[5] == 0 && sums[6] == 0, "no refused report's errors were summed: \(sums)")
        #expect(sums[2] < 1_000_000, "nor its counters: \(sums)")
        #expect(try await api.call("GET", "/api/v1/health").0 == 200)
        #expect(try await get(setup.door("127.0.0.2")).0 == 200)
        try await stopInstances(api)
    }

    @Test func aRouterTokenFollowsTheRoutesAndReportsAsItsOwnRouterOnly() async throws {
        let setup = try externalConfig("fleet-router-token")
        let controller = try serve(setup)
        defer { controller.signal(SIGKILL) }
        let api = try await ServeProcessTests().waitForAPI(port: setup.apiPort, tokenFile: setup.tokenFile)
        let (created, view) = try await api.call("POST", "/api/v1/tokens", body: #"{"name":"edge-1","kind":"router"}"#)
        #expect(created == 201)
        let secret = try #require(view["token"] as? String)
        let tokenFile = "\(setup.directory)/edge-1.token"
        try secret.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let edge = try router(setup, name: "edge-1", host: "127.0.0.2", tokenFile: tokenFile)
        defer { edge.signal(SIGKILL) }
        try await waitUntilRoutersServeTheCurrentTable(api, count: 1)
        try await deployFirstVersion(api)
        try await eventually("1.0.0 behind the router") { try await get(setup.door("127.0.0.2")).1 == "1.0.0" }

        // Everything else is refused to it, speaking for another router included.
        let asRouter = ServeProcessTests.API(base: api.base, token: secret)
        let report = #"{"boot":"b","generation":1,"problems":[],"series":[]}"#
        for (method, path, body) in [
            ("GET", "/api/v1/services", nil), ("POST", "/api/v1/services/checkout/abort", nil), ("GET", "/api/v1/routers", nil),
            ("DELETE", "/api/v1/routers/edge-1", nil), ("POST", "/api/v1/routers/edge-2/reports", report),
            ("GET", "/api/v1/routes/watch?router=edge-2", nil), ("POST", "/api/v1/tokens", #"{"name":"mine","kind":"admin"}"#),
        ] {
            let (status, error) = try await asRouter.call(method, path, body: body)
            #expect(status == 403, "\(method) \(path): \(status)")
            #expect((error["error"] as? [String: Any])?["code"] as? String == "forbidden")
        }
        #expect(try await asRouter.call("POST", "/api/v1/routers/edge-1/reports", body: report).0 == 204)
        var sdk = HTTPClientRequest(url: api.base + "/api/client/features")
        sdk.headers.add(name: "authorization", value: secret)
        #expect(try await HTTPClient.shared.execute(sdk, timeout: .seconds(10)).status == .forbidden)
        // A router token is named as a router and bound to no environment.
        #expect(try await api.call("POST", "/api/v1/tokens", body: #"{"name":"edge 2","kind":"router"}"#).0 == 400)
        #expect(try await api.call("POST", "/api/v1/tokens", body: #"{"name":"edge-3","kind":"router","environment":"default"}"#).0 == 400)
        try await stopInstances(api)
    }
}
