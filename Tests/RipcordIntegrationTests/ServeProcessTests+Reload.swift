import Foundation
import RipcordDrivers
import RipcordLoadGenerator
import RipcordTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// `ripcord reload` and SIGHUP against a real `serve` under load: services are added, changed and removed
/// without a restart, and the services that stay fail no request. Part of `ServeProcessTests`, whose tests
/// run one at a time: each starts servers, instances and load of its own.
extension ServeProcessTests {

    /// ripcord.yaml with one sample service per (name, front port, extra keys).
    static func reloadConfig(apiPort: Int, _ services: [(name: String, port: Int, extra: String)]) -> String {
        "api: { listen: 127.0.0.1:\(apiPort) }\nservices:\n"
            + services.map { service in
                """
                  \(service.name):
                    listen: 127.0.0.1:\(service.port)
                    run: { command: "'\(ripcordBinary)' sample-service --name \(service.name) --port {port} --version {version}" }
                    healthCheck: { interval: 200ms }
                    \(service.extra)

                """
            }.joined()
    }

    func deployed(_ api: ServeProcessTests.API, _ service: String) async throws {
        #expect(try await api.call("POST", "/api/v1/services/\(service)/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        try await eventually("\(service) 1.0.0 promoted") { try await api.rollout(of: service)["phase"] as? String == "promoted" }
    }

    @Test func addingChangingAndRemovingServicesUnderLoadFailsNoRequestOnTheOthers() async throws {
        let directory = try temporaryDirectory("reload")
        let apiPort = try FreePort.allocate()
        let (kept, changed, added, removed) = (try FreePort.allocate(), try FreePort.allocate(), try FreePort.allocate(), try FreePort.allocate())
        let path = "\(directory)/ripcord.yaml"
        try Self.reloadConfig(apiPort: apiPort, [("kept", kept, ""), ("changed", changed, "instances: 1"), ("removed", removed, "")])
            .write(toFile: path, atomically: true, encoding: .utf8)
        let serve = try serve(config: path, log: "\(directory)/serve.log")
        let api = try await waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        for service in ["kept", "changed", "removed"] { try await deployed(api, service) }
        let (_, removedStatus) = try await api.call("GET", "/api/v1/services/removed")
        let removedPIDs = (removedStatus["stableInstances"] as? [[String: Any]] ?? []).compactMap { ($0["pid"] as? Int).map(Int32.init) }
        #expect(!removedPIDs.isEmpty)

        let loads = [kept, changed].map { LoadGenerator(url: "http://127.0.0.1:\($0)/", requestsPerSecond: 50, concurrency: 2) }
        let running = loads.map { load in Task { await load.run() } }
        try await eventually("traffic flowing") { loads.allSatisfy { $0.samples.count > 25 } }

        // A file that does not load is refused, and the running configuration stays.
        try "services:\n  kept:\n    listen: [not, an, address]\n".write(toFile: path, atomically: true, encoding: .utf8)
        let (badStatus, bad) = try await api.call("POST", "/api/v1/reload")
        #expect(badStatus == 400)
        let badError = bad["error"] as? [String: Any]
        #expect(badError?["code"] as? String == "invalid_config")
        #expect((badError?["message"] as? String)?.contains("\(path):3") == true, "\(bad)")

        try Self.reloadConfig(apiPort: apiPort, [("kept", kept, ""), ("changed", changed, "instances: 2"), ("added", added, "")])
            .write(toFile: path, atomically: true, encoding: .utf8)
        let (status, summary) = try await api.call("POST", "/api/v1/reload")
        #expect(status == 200)
        #expect(summary["added"] as? [String] == ["added"] && summary["removed"] as? [String] == ["removed"])
        #expect(summary["changed"] as? [String] == ["changed"] && summary["needsRestart"] as? [String] == [])

        try await deployed(api, "added")
        #expect(try await get("http://127.0.0.1:\(added)/").0 == 200, "the added service's door serves")
        try await eventually("the removed service's instances stopped") { removedPIDs.allSatisfy { !processExists($0) } }
        await #expect(throws: (any Error).self, "the removed service's door is closed") { _ = try await get("http://127.0.0.1:\(removed)/") }
        #expect(try await api.call("GET", "/api/v1/services/removed").0 == 404)
        let (_, reconfigured) = try await ChildProcess.runRipcord(["history", "changed", "--config", path])
        #expect(reconfigured.contains("service.reconfigured") && reconfigured.contains("configuration reloaded (instances)"), "\(reconfigured)")

        let before = loads.map(\.samples.count)
        try await eventually("traffic after the reload") { zip(loads, before).allSatisfy { $0.samples.count > $1 + 50 } }
        for task in running { task.cancel() }
        for task in running { await task.value }
        for load in loads { await load.shutdown() }
        let failed = loads.flatMap(\.samples).filter(\.failed)
        #expect(failed.isEmpty, "\(failed.count) failed on the services that stayed: \(failed.prefix(3).map { $0.error ?? String($0.status) })")

        // SIGHUP does the same.
        try Self.reloadConfig(apiPort: apiPort, [("kept", kept, ""), ("changed", changed, "instances: 2")]).write(toFile: path, atomically: true, encoding: .utf8)
        serve.signal(SIGHUP)
        try await eventually("SIGHUP removed the added service") { try await api.call("GET", "/api/v1/services/added").0 == 404 }
        serve.signal(SIGTERM)
        #expect(try await serve.wait() == 0)
    }

    @Test func aMovedFrontDoorRebindsToTheSameInstances() async throws {
        let directory = try temporaryDirectory("reload-move")
        let apiPort = try FreePort.allocate()
        let (before, after) = (try FreePort.allocate(), try FreePort.allocate())
        let path = "\(directory)/ripcord.yaml"
        try Self.reloadConfig(apiPort: apiPort, [("moving", before, "")]).write(toFile: path, atomically: true, encoding: .utf8)
        let serve = try serve(config: path, log: "\(directory)/serve.log")
        let api = try await waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        try await deployed(api, "moving")
        let (_, status) = try await api.call("GET", "/api/v1/services/moving")
        let pids = (status["stableInstances"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }

        try Self.reloadConfig(apiPort: apiPort, [("moving", after, "")]).write(toFile: path, atomically: true, encoding: .utf8)
        let (code, summary) = try await api.call("POST", "/api/v1/reload")
        #expect(code == 200 && summary["changed"] as? [String] == ["moving"])
        #expect(try await get("http://127.0.0.1:\(after)/").0 == 200, "the new door serves")
        await #expect(throws: (any Error).self, "the old door is closed") { _ = try await get("http://127.0.0.1:\(before)/") }
        let (_, moved) = try await api.call("GET", "/api/v1/services/moving")
        #expect(moved["listen"] as? String == "127.0.0.1:\(after)")
        #expect((moved["stableInstances"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int } == pids, "the same instances behind it")

        // A port another program holds: moving there, or adding a service there, is refused and the door stays.
        let taken = try FreePort.allocate()
        let holder = try ChildProcess(
            "/usr/bin/env",
            ["python3", "-c", "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', \(taken))); s.listen(); print('ready', flush=True); time.sleep(120)"],
            outputPath: "\(directory)/holder.log")
        defer { holder.signal(SIGKILL) }
        try await eventually("the port taken") { holder.output.contains("ready") }
        for services in [[("moving", taken, "")], [("moving", after, ""), ("blocked", taken, "")]] {
            try Self.reloadConfig(apiPort: apiPort, services).write(toFile: path, atomically: true, encoding: .utf8)
            let (refusedCode, refused) = try await api.call("POST", "/api/v1/reload")
            #expect(refusedCode == 409)
            #expect((refused["error"] as? [String: Any])?["code"] as? String == "front_door_unavailable", "\(refused)")
            #expect(try await get("http://127.0.0.1:\(after)/").0 == 200, "the door it had still serves")
            #expect(try await api.call("GET", "/api/v1/services/blocked").0 == 404)
        }
        serve.signal(SIGTERM)
        #expect(try await serve.wait() == 0)
    }

    @Test func aReloadThatWouldRemoveAServiceMidRolloutChangesNothing() async throws {
        let (directory, path, apiPort, frontPort) = try pausedCanaryConfig("reload-refused")
        let serve = try serve(config: path, log: "\(directory)/serve.log")
        let api = try await waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        _ = try await startPausedCanary(api)
        let otherPort = try FreePort.allocate()
        try Self.reloadConfig(apiPort: apiPort, [("other", otherPort, "")]).write(toFile: path, atomically: true, encoding: .utf8)

        let (status, refused) = try await api.call("POST", "/api/v1/reload")
        #expect(status == 409)
        #expect((refused["error"] as? [String: Any])?["code"] as? String == "rollout_in_progress", "\(refused)")
        #expect(try await api.call("GET", "/api/v1/services/other").0 == 404, "nothing was added")
        #expect(try await api.rollout(of: "checkout")["phase"] as? String == "paused")
        #expect(try await get("http://127.0.0.1:\(frontPort)/").0 == 200)
        serve.signal(SIGTERM)
        #expect(try await serve.wait() == 0)
    }
}
