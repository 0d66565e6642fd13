import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1
import RipcordCore
import RipcordDrivers
import RipcordLoadGenerator
import RipcordStore
import RipcordTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// `ripcord serve` as a real process: kill -9 in the middle of a rollout, restart, resume. And the CLI.
@Suite(.serialized, .tags(.integration)) struct ServeProcessTests {
    func serve(config: String, log: String) throws -> ChildProcess {
        try ChildProcess(ripcordBinary, ["serve", "--config", config], outputPath: log)
    }

    struct API {
        let base: String
        let token: String

        func call(_ method: String, _ path: String, body: String? = nil) async throws -> (Int, [String: Any]) {
            var request = HTTPClientRequest(url: base + path)
            request.method = .RAW(value: method)
            request.headers.add(name: "authorization", value: "Bearer \(token)")
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let data = Data(buffer: try await response.body.collect(upTo: 1 << 22))
            return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
        }

        func rollout(of service: String) async throws -> [String: Any] {
            try await call("GET", "/api/v1/services/\(service)").1["rollout"] as? [String: Any] ?? [:]
        }
    }

    func waitForAPI(port: Int, tokenFile: String) async throws -> API {
        try await eventually("the API to answer", within: 30) {
            guard FileManager.default.fileExists(atPath: tokenFile) else { return false }
            return (try? await get("http://127.0.0.1:\(port)/api/v1/health").0) == 200
        }
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return API(base: "http://127.0.0.1:\(port)", token: token)
    }

    /// `ripcord.yaml` for one sample-service `checkout` on a front door the kernel picks; `service` holds
    /// more of its keys (indented under it), `topLevel` more top-level keys, `faults` the sample's faults by version.
    static func sampleConfig(apiPort: Int, service: String = "", topLevel: String = "", faults: String = "") -> String {
        """
        api: { listen: 127.0.0.1:\(apiPort) }
        services:
          checkout:
            listen: 127.0.0.1:0
            run:
              command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}"
              environment: { RIPCORD_SAMPLE_FAULTS: "\(faults)" }
        \(service.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        \(topLevel)
        """
    }

    /// A real `ripcord serve` with one sample-service `checkout`, its API answering.
    static func startServe(_ label: String) async throws -> (process: ChildProcess, api: API, directory: String, config: String) {
        let directory = try temporaryDirectory(label)
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try sampleConfig(apiPort: apiPort).write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ChildProcess(ripcordBinary, ["serve", "--config", config], outputPath: "\(directory)/serve.log")
        let api = try await ServeProcessTests().waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        return (process, api, directory, config)
    }

    /// A service paused at 30 % until promoted (or running `steps`), on fixed ports so a restarted
    /// controller gets the same doors; `router` is the `router:` section, if any.
    /// - Parameter frontPort: the service's door (default: a free port); `topLevel`: more top-level keys.
    func pausedCanaryConfig(
        _ label: String, router: String? = nil, steps: [String] = ["setWeight: 30", "pause: {}"], frontPort: Int? = nil, topLevel: String = ""
    ) throws -> (directory: String, config: String, apiPort: Int, frontPort: Int) {
        let directory = try temporaryDirectory(label)
        let apiPort = try FreePort.allocate()
        let frontPort = try frontPort ?? FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try """
        api: { listen: 127.0.0.1:\(apiPort) }
        \(router.map { "router: \($0)" } ?? "")
        \(topLevel)
        services:
          checkout:
            listen: 127.0.0.1:\(frontPort)
            run: { command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}" }
            healthCheck: { interval: 200ms }
            strategy:
              canary:
                unanalyzed: true
                steps:
        \(steps.map { "          - \($0)" }.joined(separator: "\n"))
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return (directory, config, apiPort, frontPort)
    }

    /// Starts serve, deploys 1.0.0 and then 1.1.0 up to its indefinite pause; returns the rollout id
    /// and the stable and candidate pids.
    func startPausedCanary(_ api: API) async throws -> (rolloutID: Int, stable: [Int32], candidate: [Int32]) {
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }
        let (_, deployed) = try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.1.0"}"#)
        let rolloutID = try #require(deployed["id"] as? Int)
        try await eventually("1.1.0 paused at 30%") { try await api.rollout(of: "checkout")["phase"] as? String == "paused" }
        let (_, status) = try await api.call("GET", "/api/v1/services/checkout")
        func pids(_ key: String) -> [Int32] { (status[key] as? [[String: Any]] ?? []).compactMap { ($0["pid"] as? Int).map(Int32.init) } }
        return (rolloutID, pids("stableInstances"), pids("candidateInstances"))
    }

    @Test func killNineMidRolloutThenRestartResumesIt() async throws {
        let (directory, config, apiPort, frontPort) = try pausedCanaryConfig("kill9")
        let tokenFile = "\(directory)/.ripcord/admin.token"
        let log = "\(directory)/serve.log"

        let first = try serve(config: config, log: log)
        var api = try await waitForAPI(port: apiPort, tokenFile: tokenFile)
        let (rolloutID, stablePIDs, candidatePIDs) = try await startPausedCanary(api)
        let pids = stablePIDs + candidatePIDs
        #expect(pids.count == 2)

        first.signal(SIGKILL)
        try await first.wait()
        #expect(pids.allSatisfy(processExists), "instances outlive the controller")

        let second = try serve(config: config, log: log)
        api = try await waitForAPI(port: apiPort, tokenFile: tokenFile)
        let resumed = try await api.rollout(of: "checkout")
        #expect(resumed["id"] as? Int == rolloutID)
        #expect(resumed["phase"] as? String == "paused")
        #expect(resumed["candidateWeight"] as? Int == 30)
        let (_, after) = try await api.call("GET", "/api/v1/services/checkout")
        let adopted = ((after["stableInstances"] as? [[String: Any]] ?? []) + (after["candidateInstances"] as? [[String: Any]] ?? []))
            .compactMap { ($0["pid"] as? Int).map(Int32.init) }
        #expect(Set(adopted) == Set(pids), "the restarted controller adopted the running instances")
        #expect(try await get("http://127.0.0.1:\(frontPort)/", headers: [("x-ripcord-route", "candidate")]).1 == "1.1.0")

        #expect(try await api.call("POST", "/api/v1/services/checkout/promote").0 == 202)
        try await eventually("1.1.0 promoted after resume") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }
        let (_, detail) = try await api.call("GET", "/api/v1/rollouts/\(rolloutID)")
        let kinds = (detail["events"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(kinds.contains("rollout.resumed"))
        #expect(kinds.filter { $0 == "rollout.started" }.count == 1, "nothing recorded before the crash was lost or repeated")

        let (status, history) = try await ChildProcess.runRipcord(["history", "checkout", "--config", config])
        #expect(status == 0)
        #expect(history.contains("1.1.0") && history.contains("promoted"))
        #expect(history.contains("controller.restarted") && history.contains("rollout \(rolloutID) resumes in phase paused"), "\(history)")
        let (_, one) = try await ChildProcess.runRipcord(["history", "checkout", "--rollout", String(rolloutID), "--output", "json", "--config", config])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(one.utf8)) as? [String: Any], "\(one)")
        let rollouts = try #require(document["rollouts"] as? [[String: Any]])
        #expect(rollouts.count == 1 && (rollouts[0]["rollout"] as? [String: Any])?["id"] as? Int == rolloutID)
        #expect((document["serviceEvents"] as? [[String: Any]])?.contains { $0["kind"] as? String == "controller.restarted" } == true)
        let (_, statusJSON) = try await ChildProcess.runRipcord(["status", "--output", "json", "--config", config])
        let statuses = try #require(try JSONSerialization.jsonObject(with: Data(statusJSON.utf8)) as? [[String: Any]], "\(statusJSON)")
        let stableVersion = statuses.first?["stableVersion"] as? String
        #expect(stableVersion == "1.1.0")

        second.signal(SIGTERM)
        #expect(try await second.wait() == 0, "serve shuts down cleanly on SIGTERM")
        try await eventually("instances stopped with the controller") { !processExists(pids[0]) && !processExists(pids[1]) }
        #expect(!(try String(contentsOfFile: log, encoding: .utf8)).contains(api.token), "the token never appears in logs")
    }

    @Test func restartAfterTheCandidateDiedRollsBack() async throws {
        let (directory, config, apiPort, frontPort) = try pausedCanaryConfig("lost")
        let tokenFile = "\(directory)/.ripcord/admin.token"
        let log = "\(directory)/serve.log"
        let first = try serve(config: config, log: log)
        let (rolloutID, stablePIDs, candidatePIDs) = try await startPausedCanary(try await waitForAPI(port: apiPort, tokenFile: tokenFile))
        first.signal(SIGKILL)
        try await first.wait()
        for pid in candidatePIDs { kill(pid, SIGKILL) }
        try await eventually("candidate gone") { candidatePIDs.allSatisfy { !processExists($0) } }

        let second = try serve(config: config, log: log)
        let api = try await waitForAPI(port: apiPort, tokenFile: tokenFile)
        try await eventually("rolled back after restart") { try await api.rollout(of: "checkout")["phase"] as? String == "rolledBack" }
        let rollout = try await api.rollout(of: "checkout")
        #expect(rollout["id"] as? Int == rolloutID)
        #expect(rollout["trigger"] as? String == "instancesLost")
        #expect(try await get("http://127.0.0.1:\(frontPort)/").1 == "1.0.0", "the stable version kept serving")
        #expect(stablePIDs.allSatisfy(processExists), "the stable instances were adopted, not restarted")
        second.signal(SIGTERM)
        try await second.wait()
    }

    /// `serve --keep-instances` sent SIGTERM with its successor started at once, under steady load: the old
    /// process serves its last routes until the new one serves, so no connection is refused and no request fails.
    @Test func aSigtermRestartUnderLoadFailsNoRequest() async throws {
        let (directory, config, apiPort, frontPort) = try pausedCanaryConfig("handover")
        let (tokenFile, log) = ("\(directory)/.ripcord/admin.token", "\(directory)/serve.log")
        let first = try ChildProcess(ripcordBinary, ["serve", "--config", config, "--keep-instances"], outputPath: log)
        let api = try await waitForAPI(port: apiPort, tokenFile: tokenFile)
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }

        let load = LoadGenerator(url: "http://127.0.0.1:\(frontPort)/", requestsPerSecond: 100, concurrency: 2)
        let running = Task { await load.run() }
        try await eventually("traffic flowing") { load.samples.count > 100 }
        first.signal(SIGTERM)
        // Not --keep-instances: stopping it at the end stops the instances.
        let second = try serve(config: config, log: log)
        #expect(try await first.wait(within: 30) == 0, "the old serve exits once the new one serves")
        let handedOver = load.samples.count
        try await eventually("traffic through the new serve") { load.samples.count > handedOver + 100 }
        running.cancel()
        await running.value
        await load.shutdown()

        let failed = load.samples.filter(\.failed)
        #expect(failed.isEmpty, "\(failed.count) of \(load.samples.count) failed: \(failed.prefix(3).map { $0.error ?? String($0.status) })")
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("a restarted serve took over the front doors"))
        second.signal(SIGTERM)
        #expect(try await second.wait() == 0)
    }

    @Test func aSecondServeOnTheSameStateDirectoryIsRefused() async throws {
        let (process, _, directory, config) = try await ServeProcessTests.startServe("lock")
        let second = try ChildProcess(ripcordBinary, ["serve", "--config", config, "--lock-wait", "1"], outputPath: "\(directory)/second.log")
        #expect(try await second.wait(within: 20) == 1)
        #expect(second.output.contains("another ripcord serve (\(process.pid) serving) runs with this state directory"), "\(second.output)")
        process.signal(SIGTERM)
        #expect(try await process.wait() == 0)
    }

    /// After a kill -9 the restarted controller routes to the instances still running before it stops
    /// anything: a leftover start that ignores SIGTERM (stopped only at the 5 s grace) causes no 503.
    @Test func afterAKillNineRoutesAreBackBeforeLeftoversAreStopped() async throws {
        let (directory, config, apiPort, frontPort) = try pausedCanaryConfig("routes-first")
        let (tokenFile, log) = ("\(directory)/.ripcord/admin.token", "\(directory)/serve.log")
        let first = try serve(config: config, log: log)
        let api = try await waitForAPI(port: apiPort, tokenFile: tokenFile)
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }
        first.signal(SIGKILL)
        try await first.wait()

        let leftoverID = "checkout-0.9.0-interrupted"
        let stubborn = try ChildProcess(
            "/bin/sh", ["-c", "trap '' TERM; exec sleep 60"], outputPath: "\(directory)/stubborn.log", environment: ["RIPCORD_INSTANCE": leftoverID])
        let store = try SQLiteStore(path: "\(directory)/.ripcord/ripcord.sqlite")
        try await store.saveInstance(
            InstanceRecord(
                id: leftoverID, service: "checkout", version: try SemanticVersion(parsing: "0.9.0"), host: "127.0.0.1", port: 1, pid: 0,
                startedAt: Moment(millisecondsSinceEpoch: 0), role: .candidate, starting: true))

        let load = LoadGenerator(url: "http://127.0.0.1:\(frontPort)/", requestsPerSecond: 100, concurrency: 2)
        let running = Task { await load.run() }
        let second = try serve(config: config, log: log)
        _ = try await waitForAPI(port: apiPort, tokenFile: tokenFile)
        try await eventually("the leftover killed after its grace", within: 20) { stubborn.exitStatusIfExited() != nil }
        try await eventually("requests answered again") { load.samples.contains { $0.status == 200 } }
        running.cancel()
        await running.value
        await load.shutdown()

        let answered = load.samples.filter { $0.status != 0 }
        let statuses = Dictionary(grouping: answered, by: \.status).mapValues(\.count)
        #expect(answered.count > 100, "traffic went on while the leftover was stopped: \(statuses)")
        #expect(answered.allSatisfy { $0.status == 200 }, "no 503 while routes waited for the leftover: \(statuses)")
        let (_, history) = try await ChildProcess.runRipcord(["history", "checkout", "--config", config])
        #expect(history.contains("instance.startInterrupted"), "\(history)")
        second.signal(SIGTERM)
        try await second.wait()
    }

    /// The controller dies (as kill -9 would) at each point of an instance's start; after a restart every
    /// process that start left is adopted or stopped, and the deploy still completes.
    @Test(arguments: ["instance.saved", "instance.spawned", "instance.recorded"])
    func aCrashAtAnyPointOfAnInstanceStartLeavesNoProcessUntracked(point: String) async throws {
        let service = "crash-at-" + point.replacingOccurrences(of: ".", with: "-")
        let directory = try temporaryDirectory(service)
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try """
        api: { listen: 127.0.0.1:\(apiPort) }
        services:
          \(service):
            listen: 127.0.0.1:0
            run: { command: "'\(ripcordBinary)' sample-service --name \(service) --port {port} --version {version}" }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let (tokenFile, log) = ("\(directory)/.ripcord/admin.token", "\(directory)/serve.log")
        let ofTheService = { ProcessDriver.processes(withEnvironment: "RIPCORD_SERVICE=\(service)") }

        let first = try ChildProcess(ripcordBinary, ["serve", "--config", config], outputPath: log, environment: ["RIPCORD_CRASH_AT": point])
        let api = try await waitForAPI(port: apiPort, tokenFile: tokenFile)
        _ = try? await api.call("POST", "/api/v1/services/\(service)/deploy", body: #"{"version":"1.0.0"}"#)
        #expect(try await first.wait() == 137, "the controller crashed at \(point)")
        let leftBehind = ofTheService()
        #expect(leftBehind.isEmpty == (point == "instance.saved"), "a process runs after the crash exactly when it was spawned: \(leftBehind)")

        let second = try serve(config: config, log: log)
        let restarted = try await waitForAPI(port: apiPort, tokenFile: tokenFile)
        try await eventually("1.0.0 promoted after the restart") { try await restarted.rollout(of: service)["phase"] as? String == "promoted" }
        let (_, status) = try await restarted.call("GET", "/api/v1/services/\(service)")
        let tracked = Set((status["stableInstances"] as? [[String: Any]] ?? []).compactMap { ($0["pid"] as? Int).map(Int32.init) })
        #expect(!tracked.isEmpty)
        try await eventually("every process of \(service) is one the controller tracks") { Set(ofTheService()).isSubset(of: tracked) }
        if point == "instance.recorded" {
            #expect(tracked.isSuperset(of: leftBehind), "an instance recorded before the crash is adopted, not restarted")
        } else {
            #expect(tracked.isDisjoint(with: leftBehind), "an instance whose start was interrupted is stopped and started again")
        }
        let rolloutID = try #require(try await restarted.rollout(of: service)["id"] as? Int)
        let (_, detail) = try await restarted.call("GET", "/api/v1/rollouts/\(rolloutID)")
        let kinds = (detail["events"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(kinds.contains("instance.startInterrupted") == (point != "instance.recorded"), "\(kinds)")

        second.signal(SIGTERM)
        try await second.wait()
        try await eventually("instances stopped with the controller") { ofTheService().isEmpty }
    }

    @Test func validateReportsFileLineAndKey() async throws {
        let directory = try temporaryDirectory("validate")
        let path = "\(directory)/ripcord.yaml"
        try "services:\n  web:\n    listen: 127.0.0.1:8080\n    run: { command: 'web {port}' }\n    instancez: 2\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try await ChildProcess.runRipcord(["validate", path])
        #expect(status == 2)
        #expect(output.contains("\(path):5:5: services.web.instancez: unknown key 'instancez'"), "\(output)")
        // A file that validates starts: the program of the run command must be there.
        try "services:\n  web:\n    listen: 127.0.0.1:8080\n    run: { command: 'web {port}' }\n".write(toFile: path, atomically: true, encoding: .utf8)
        let (missingStatus, missing) = try await ChildProcess.runRipcord(["validate", path])
        #expect(missingStatus == 2 && missing.contains("services.web.run.command: cannot find the program 'web'"), "\(missing)")
        try "api: { listen: 127.0.0.1:8080 }\nservices:\n  web:\n    listen: 127.0.0.1:8080\n    run: { command: 'sleep {port}' }\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let (clashStatus, clash) = try await ChildProcess.runRipcord(["validate", path])
        #expect(clashStatus == 2 && clash.contains("port 8080 is already used by api.listen"), "\(clash)")
        try """
        services:
          web:
            listen: 127.0.0.1:8080
            run: { command: 'sleep {port}' }
            strategy: { canary: { unanalyzed: true, steps: [ { setWeight: 50 }, { setWeight: 20 } ] } }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let (downStatus, down) = try await ChildProcess.runRipcord(["validate", path])
        #expect(downStatus == 2 && down.contains("step 2 sets 20% after 50%"), "\(down)")
        try "services:\n  web:\n    listen: 127.0.0.1:8080\n    run: { command: 'sleep {port}' }\n".write(toFile: path, atomically: true, encoding: .utf8)
        let (okStatus, okOutput) = try await ChildProcess.runRipcord(["validate", path])
        #expect(okStatus == 0 && okOutput.contains("valid"), "\(okOutput)")
    }

    @Test func deployWaitExitsNonZeroWhenRolledBack() async throws {
        let directory = try temporaryDirectory("wait")
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try """
        api: { listen: 127.0.0.1:\(apiPort) }
        services:
          checkout:
            listen: 127.0.0.1:0
            run:
              command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}"
              environment: { RIPCORD_SAMPLE_FAULTS: "9.9.9=crashAtStart" }
            healthCheck: { interval: 200ms }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let server = try serve(config: config, log: "\(directory)/serve.log")
        _ = try await waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        let (promoted, promotedOutput) = try await ChildProcess.runRipcord(["deploy", "checkout", "1.0.0", "--wait", "--config", config])
        #expect(promoted == 0, "\(promotedOutput)")
        #expect(promotedOutput.contains("promoted"))
        let (rolledBack, output) = try await ChildProcess.runRipcord(["deploy", "checkout", "9.9.9", "--wait", "--config", config])
        #expect(rolledBack == 1, "\(output)")
        #expect(output.contains("instanceCrashed"))
        let (unrejectRefused, unrejectRefusal) = try await ChildProcess.runRipcord(["unreject", "checkout", "1.0.0/../x", "--config", config])
        #expect(unrejectRefused == 64 && unrejectRefusal.contains("Semantic Versioning"), "\(unrejectRefusal)")
        let (refused, refusal) = try await ChildProcess.runRipcord(["deploy", "checkout", "not-a-version", "--config", config])
        // Refused by the CLI before anything is sent (a usage error), as the API would refuse it.
        #expect(refused == 64 && refusal.contains("Semantic Versioning"), "\(refusal)")
        server.signal(SIGTERM)
        try await server.wait()
    }

    /// In a pipeline (`deploy --wait | tee ci.log`) each event shows when it happens, not at exit.
    @Test func deployWaitPrintsEachEventWithinASecondWhenItsOutputIsNotATerminal() async throws {
        let directory = try temporaryDirectory("wait-piped")
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try Self.sampleConfig(
            apiPort: apiPort,
            service: """
                healthCheck: { interval: 200ms }
                strategy:
                  canary:
                    unanalyzed: true
                    steps: [ { setWeight: 20 }, { pause: { duration: 2s } }, { setWeight: 50 }, { pause: { duration: 2s } } ]
                """
        ).write(toFile: config, atomically: true, encoding: .utf8)
        let server = try serve(config: config, log: "\(directory)/serve.log")
        defer { server.signal(SIGTERM) }  // not SIGKILL: serve stops its instances on the way out
        let api = try await waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        #expect(try await ChildProcess.runRipcord(["deploy", "checkout", "1.0.0", "--wait", "--config", config]).0 == 0)

        // Output goes to a file: not a terminal, as in a pipe.
        let deploy = try ChildProcess(ripcordBinary, ["deploy", "checkout", "1.1.0", "--wait", "--config", config], outputPath: "\(directory)/deploy.log")
        var firstSeen: [String: Date] = [:]
        func look() {
            for line in deploy.output.split(separator: "\n") where firstSeen[String(line)] == nil { firstSeen[String(line)] = Date() }
        }
        let deadline = Date().addingTimeInterval(60)
        while deploy.exitStatusIfExited() == nil, Date() < deadline {
            look()
            try await Task.sleep(for: .milliseconds(50))
        }
        look()
        #expect(try await deploy.wait() == 0, "\(deploy.output)")

        let header = try #require(deploy.output.split(separator: "\n").first, "deploy printed nothing")
        let rolloutID = try #require(Int(header.dropFirst("rollout ".count).prefix { $0.isNumber }), "\(header)")
        let events = try #require(try await api.call("GET", "/api/v1/rollouts/\(rolloutID)").1["events"] as? [[String: Any]])
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        // What happens after the promotion (the old instances draining) is after the CLI's exit.
        let untilPromoted = events.prefix { $0["kind"] as? String != "rollout.promoted" } + events.filter { $0["kind"] as? String == "rollout.promoted" }
        #expect(untilPromoted.count >= 6)
        for event in untilPromoted {
            let message = try #require(event["message"] as? String)
            let at = try #require((event["at"] as? String).flatMap(parser.date(from:)))
            let shown = try #require(firstSeen.first { $0.key.hasSuffix(message) }?.value, "event not printed: \(message)")
            #expect(shown.timeIntervalSince(at) < 1.0, "\(message) shown \(shown.timeIntervalSince(at)) s after it happened")
        }
    }

    @Test func aConfigNamedOnTheCommandLineMustExist() async throws {
        let (status, output) = try await ChildProcess.runRipcord(["status", "--config", "/nonexistent/ripcord.yaml"])
        #expect(status != 0)
        #expect(output.contains("/nonexistent/ripcord.yaml") && output.contains("no such file"), "\(output)")
    }

    /// A port that accepts connections but never answers (a hung host, the wrong service behind a proxy).
    @Test func anAPIThatNeverAnswersIsReportedWithinThreeSeconds() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(listener, raw, length) == 0, listen(listener, 16) == 0, getsockname(listener, raw, &length) == 0 else {
                    throw POSIXError(.EADDRINUSE)
                }
            }
        }
        let url = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        let started = ContinuousClock.now
        let (status, output) = try await ChildProcess.runRipcord(["status", "--server", url])
        let took = ContinuousClock.now - started
        #expect(status == 3, "\(output)")
        #expect(output.contains(url), "the error names the address it tried: \(output)")
        #expect(took < .seconds(5), "took \(took)")
    }

    @Test func versionIsPrinted() async throws {
        let (status, output) = try await ChildProcess.runRipcord(["--version"])
        #expect(status == 0 && output.split(separator: ".").count == 3, "\(output)")
    }
}
