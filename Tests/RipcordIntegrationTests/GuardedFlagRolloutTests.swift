import Foundation
import RipcordDrivers
import RipcordLoadGenerator
import RipcordTestSupport
import Testing

/// Guarded flag rollouts against a real `ripcord serve`, real sample-service instances and real load:
/// the percentage rises step by step while the service's router windows pass, survives a kill -9 of the
/// controller, and a regression turns the flag off with the measurements as evidence.
@Suite(.serialized, .tags(.integration)) struct GuardedFlagRolloutTests {
    struct Setup {
        let directory: String
        let config: String
        let apiPort: Int
        let frontDoor: String
        /// While this file exists the service answers 60 % of requests with errors (the flag's regression).
        let faultFile: String
        var tokenFile: String { "\(directory)/.ripcord/admin.token" }
        var log: String { "\(directory)/serve.log" }
    }

    func setUp(_ label: String) throws -> Setup {
        let directory = try temporaryDirectory(label)
        let apiPort = try FreePort.allocate()
        let frontPort = try FreePort.allocate()
        let faultFile = "\(directory)/regression"
        let config = "\(directory)/ripcord.yaml"
        try """
        api: { listen: 127.0.0.1:\(apiPort) }
        services:
          checkout:
            listen: 127.0.0.1:\(frontPort)
            run:
              command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}"
              environment:
                RIPCORD_SAMPLE_FAULTS: "1.0.0=errorRate:0.6,errorsWhileFileExists:\(faultFile)"
            healthCheck: { interval: 200ms }
            analysis:
              interval: 500ms
              minRequests: 5
              maxErrorRate: 10%
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return Setup(directory: directory, config: config, apiPort: apiPort, frontDoor: "http://127.0.0.1:\(frontPort)/", faultFile: faultFile)
    }

    func serve(_ setup: Setup) async throws -> (ChildProcess, ServeProcessTests.API) {
        let process = try ChildProcess(ripcordBinary, ["serve", "--config", setup.config], outputPath: setup.log)
        return (process, try await ServeProcessTests().waitForAPI(port: setup.apiPort, tokenFile: setup.tokenFile))
    }

    func ripcord(_ setup: Setup, _ arguments: String...) async throws -> (Int32, String) {
        try await ChildProcess.runRipcord(arguments + ["--config", setup.config])
    }

    /// Deploys 1.0.0 and creates the flag, switched off.
    func prepare(_ setup: Setup, _ api: ServeProcessTests.API) async throws {
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("1.0.0 promoted") { try await api.rollout(of: "checkout")["phase"] as? String == "promoted" }
        let (created, output) = try await ripcord(setup, "flags", "create", "new-checkout")
        #expect(created == 0, "\(output)")
    }

    func guardedRollout(_ api: ServeProcessTests.API, _ id: Int) async throws -> [String: Any] {
        try await api.call("GET", "/api/v1/flags/new-checkout/guarded-rollouts/\(id)").1
    }

    func flag(_ api: ServeProcessTests.API) async throws -> (enabled: Bool?, rollout: String?) {
        let feature = try await api.call("GET", "/api/v1/flags/new-checkout").1
        let strategy = (feature["strategies"] as? [[String: Any]])?.first { $0["name"] as? String == "flexibleRollout" }
        return (feature["enabled"] as? Bool, (strategy?["parameters"] as? [String: String])?["rollout"])
    }

    @Test func aHealthyGuardedRolloutReachesAHundredPercentAcrossAControllerKill() async throws {
        let setup = try setUp("flag-guard-pass")
        var (server, api) = try await serve(setup)
        try await prepare(setup, api)
        let load = LoadGenerator(url: setup.frontDoor, requestsPerSecond: 100, concurrency: 4)
        let running = Task { await load.run() }
        defer { running.cancel() }

        let (started, output) = try await ripcord(
            setup, "flags", "guard", "new-checkout", "--service", "checkout",
            "--steps", "1,50,100", "--step-duration", "2s")
        #expect(started == 0 && output.contains("guarded rollout 1 of new-checkout (default): steps 1%, 50%, 100%, watching checkout"), "\(output)")
        try await eventually("the flag on at 1%") { try await flag(api) == (true, "1") }
        try await eventually("step 2 at 50%") { try await guardedRollout(api, 1)["percentage"] as? Int == 50 }

        // The controller dies mid-rollout; the next one resumes it from the store.
        server.signal(SIGKILL)
        _ = try await server.wait()
        (server, api) = try await serve(setup)
        try await eventually("the rollout completed", within: 40) { try await guardedRollout(api, 1)["phase"] as? String == "completed" }
        #expect(try await flag(api) == (true, "100"))

        let detail = try await guardedRollout(api, 1)
        let events = detail["events"] as? [[String: Any]] ?? []
        let kinds = events.compactMap { $0["kind"] as? String }
        #expect(
            kinds.filter { $0 == "flagRollout.step" }.count == 3 && kinds.contains("flagRollout.resumed") && kinds.last == "flagRollout.completed",
            "\(kinds)")
        let measurements = events.filter { $0["kind"] as? String == "flagRollout.measurement" }
        #expect(!measurements.isEmpty && measurements.allSatisfy { ($0["evidence"] as? [String: String])?["verdict"] == "pass" })

        let (_, history) = try await ripcord(setup, "flags", "history", "new-checkout")
        #expect(history.contains("by ripcord: guarded rollout 1: step 3/3 at 100%") && history.contains("by ripcord: guarded rollout 1 started"), "\(history)")
        #expect(history.contains("guarded rollout 1: completed at 100%"), "\(history)")
        let (_, status) = try await ripcord(setup, "flags", "guard-status", "new-checkout", "1")
        #expect(status.contains("flagRollout.completed") && status.contains("flagRollout.resumed"), "\(status)")

        running.cancel()
        await running.value
        await load.shutdown()
        server.signal(SIGTERM)
        #expect(try await server.wait() == 0)
    }

    @Test func aRegressionTurnsTheFlagOffWithTheMeasurementsAndBadRequestsChangeNothing() async throws {
        let setup = try setUp("flag-guard-kill")
        let (server, api) = try await serve(setup)
        try await prepare(setup, api)
        let path = "/api/v1/flags/new-checkout/guarded-rollouts"

        let refusals: [(String, String, Int, String)] = [
            (path, #"{"service":"checkout","steps":[50,5],"stepDuration":"3s"}"#, 400, "invalid_guarded_rollout"),
            (path, #"{"service":"nowhere","steps":[1,100],"stepDuration":"3s"}"#, 404, "unknown_service"),
            ("/api/v1/flags/no-such-flag/guarded-rollouts", #"{"service":"checkout","steps":[1,100],"stepDuration":"3s"}"#, 404, "flag_not_found"),
            (path, #"{"service":"checkout","steps":"all"}"#, 400, "invalid_request"),
        ]
        for (target, body, status, code) in refusals {
            let (answered, error) = try await api.call("POST", target, body: body)
            #expect(answered == status && (error["error"] as? [String: Any])?["code"] as? String == code, "\(body): \(answered) \(error)")
        }
        #expect(try await api.call("GET", path + "/1").0 == 404, "a refused request starts nothing")
        #expect(try await flag(api) == (false, nil), "and changes nothing")

        let load = LoadGenerator(url: setup.frontDoor, requestsPerSecond: 100, concurrency: 4)
        let running = Task { await load.run() }
        defer { running.cancel() }
        let (created, started) = try await api.call("POST", path, body: #"{"service":"checkout","steps":[1,50,100],"stepDuration":"3s"}"#)
        #expect(created == 201, "\(started)")
        let id = try #require(started["id"] as? Int)
        let (conflict, second) = try await api.call("POST", path, body: #"{"service":"checkout","steps":[1,100],"stepDuration":"3s"}"#)
        #expect(conflict == 409 && (second["error"] as? [String: Any])?["code"] as? String == "guarded_rollout_in_progress")

        try await eventually("step 2 at 50%") { try await guardedRollout(api, id)["percentage"] as? Int == 50 }
        _ = FileManager.default.createFile(atPath: setup.faultFile, contents: Data())
        try await eventually("the flag turned off", within: 20) { try await guardedRollout(api, id)["phase"] as? String == "disabled" }
        #expect(try await flag(api).enabled == false)

        let detail = try await guardedRollout(api, id)
        let trigger = detail["trigger"] as? [String: Any]
        #expect(trigger?["kind"] as? String == "analysis" && (trigger?["message"] as? String)?.contains("error rate") == true, "\(detail)")
        let events = detail["events"] as? [[String: Any]] ?? []
        let disabled = try #require(events.first { $0["kind"] as? String == "flagRollout.disabled" }?["evidence"] as? [String: String])
        #expect(disabled["percentage"] == "50" && disabled["trigger"] == "analysis" && disabled["verdict"] == "fail", "\(disabled)")
        #expect((Double(disabled["errorRate"] ?? "") ?? 0) > 0.1 && (Int(disabled["requests"] ?? "") ?? 0) >= 5, "\(disabled)")
        #expect(!events.contains { $0["kind"] as? String == "flagRollout.step" && ($0["evidence"] as? [String: String])?["percentage"] == "100" })

        let (_, historyOutput) = try await ripcord(setup, "flags", "history", "new-checkout")
        #expect(historyOutput.contains("by ripcord: guarded rollout \(id) turned it off at 50% (analysis: error rate"), "\(historyOutput)")
        #expect(historyOutput.contains("guarded rollout \(id): disabled at 50%"), "\(historyOutput)")
        let (finished, _) = try await api.call("POST", path + "/\(id)/abort")
        #expect(finished == 409, "a finished rollout cannot be aborted")

        running.cancel()
        await running.value
        await load.shutdown()
        server.signal(SIGTERM)
        #expect(try await server.wait() == 0)
    }
}
