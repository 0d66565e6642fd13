import AsyncHTTPClient
import Foundation
import NIOCore
import RipcordDrivers
import Testing

/// `ripcord serve` as a real process: kill -9 in the middle of a rollout, restart, resume. And the CLI.
@Suite(.serialized) struct ServeProcessTests {
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

    /// A real `ripcord serve` with one sample-service `checkout`, its API answering.
    static func startServe(_ label: String) async throws -> (process: ChildProcess, api: API, directory: String, config: String) {
        let directory = try temporaryDirectory(label)
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try """
        api: { listen: 127.0.0.1:\(apiPort) }
        services:
          checkout:
            listen: 127.0.0.1:0
            run: { command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}" }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = try ChildProcess(ripcordBinary, ["serve", "--config", config], outputPath: "\(directory)/serve.log")
        let api = try await ServeProcessTests().waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        return (process, api, directory, config)
    }

    /// A service paused at 30 % until promoted, on fixed ports so a restarted controller gets the same doors.
    func pausedCanaryConfig(_ label: String) throws -> (directory: String, config: String, apiPort: Int, frontPort: Int) {
        let directory = try temporaryDirectory(label)
        let apiPort = try FreePort.allocate()
        let frontPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try """
        api: { listen: 127.0.0.1:\(apiPort) }
        services:
          checkout:
            listen: 127.0.0.1:\(frontPort)
            run: { command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}" }
            healthCheck: { interval: 200ms }
            strategy:
              canary:
                steps:
                  - setWeight: 30
                  - pause: {}
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

    @Test func validateReportsFileLineAndKey() async throws {
        let directory = try temporaryDirectory("validate")
        let path = "\(directory)/ripcord.yaml"
        try "services:\n  web:\n    listen: 127.0.0.1:8080\n    run: { command: 'web {port}' }\n    instancez: 2\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try await ChildProcess.runRipcord(["validate", path])
        #expect(status == 2)
        #expect(output.contains("\(path):5:5: services.web.instancez: unknown key 'instancez'"), "\(output)")
        try "services:\n  web:\n    listen: 127.0.0.1:8080\n    run: { command: 'web {port}' }\n".write(toFile: path, atomically: true, encoding: .utf8)
        let (okStatus, okOutput) = try await ChildProcess.runRipcord(["validate", path])
        #expect(okStatus == 0 && okOutput.contains("valid"))
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
        let (refused, refusal) = try await ChildProcess.runRipcord(["deploy", "checkout", "not-a-version", "--config", config])
        // Refused by the CLI before anything is sent (a usage error), as the API would refuse it.
        #expect(refused == 64 && refusal.contains("Semantic Versioning"), "\(refusal)")
        server.signal(SIGTERM)
        try await server.wait()
    }
}
