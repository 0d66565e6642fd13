import Foundation
import RipcordCore
import RipcordDrivers
import RipcordInsights
import RipcordTestSupport
import RipcordWire
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// `ripcord drill` against a real `ripcord serve` and the unchanged sample service: the router corrupts
/// the candidate's traffic, the service's analysis must catch it and Ripcord must restore traffic in time.
@Suite(.serialized, .tags(.integration)) struct DrillTests {
    static let unanalyzedCanary = """
        strategy:
          canary:
            unanalyzed: true
            steps: [ { setWeight: 50 }, { pause: { duration: 1s } } ]
        """

    @Test func aDrillPassesWithAnalysisAndFailsWithoutAndSaysWhy() async throws {
        let directory = try temporaryDirectory("drill")
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        // Told of every failed drill (notifications send drill.failed by default).
        let receiver = try await WebhookReceiver.start(directory: directory)
        defer { receiver.stop() }
        func write(_ service: String) throws {
            try ServeProcessTests.sampleConfig(
                apiPort: apiPort, service: "healthCheck: { interval: 200ms }\n" + service,
                topLevel: "notifications:\n  - { name: ops, url: \"http://127.0.0.1:\(receiver.port)/hook\" }"
            ).write(toFile: config, atomically: true, encoding: .utf8)
        }
        // A budget with room for two cores shared by four suites (the default is 5s; alone, a drill restores in about 2 s).
        try write(TelemetryTests.judgedCanary + "\nowners: [ { name: Payments, contact: \"#pay\" } ]\ndrill: { maxTimeToRestore: 15s }")
        let server = try ChildProcess(ripcordBinary, ["serve", "--config", config], outputPath: "\(directory)/serve.log")
        defer { server.signal(SIGKILL) }
        let api = try await ServeProcessTests().waitForAPI(port: apiPort, tokenFile: "\(directory)/.ripcord/admin.token")
        #expect(try await ChildProcess.runRipcord(["deploy", "checkout", "1.0.0", "--wait", "--config", config]).0 == 0)

        // No real traffic: the drill's synthetic requests meet the injected errors.
        let (passed, passOutput) = try await ChildProcess.runRipcord(["drill", "checkout", "--fault", "errors=50%", "--config", config])
        #expect(passed == 0, "\(passOutput)")
        #expect(passOutput.contains("drill.passed") && passOutput.contains("trigger=analysis"), "\(passOutput)")
        let drills = try await drillVerdicts(config)
        let verdict = try #require(drills.first)
        #expect(verdict.kind == .drillPassed && verdict.evidence["stableErrors"] == "0")
        let restore = try TimeSpan(parsing: try #require(verdict.evidence["timeToRestore"]))
        #expect(restore <= .seconds(15), "within the budget: \(restore)")
        #expect(verdict.evidence["budget"] == "15s")
        // A drill rejects nothing and leaves the stable revision promoted.
        let (_, history) = try await api.call("GET", "/api/v1/services/checkout/history")
        let revisions = history["revisions"] as? [[String: Any]] ?? []
        #expect(revisions.count == 1 && revisions.first?["outcome"] as? String == "promoted", "\(revisions)")
        #expect(try await api.call("GET", "/api/v1/services/checkout/versions").0 == 200)
        let (_, status) = try await api.call("GET", "/api/v1/services/checkout")
        #expect(status["stableVersion"] as? String == "1.0.0" && (status["candidateInstances"] as? [Any])?.isEmpty == true)

        // The same drill once the service's analysis is gone: nothing catches the fault.
        try write(Self.unanalyzedCanary)
        #expect(try await ChildProcess.runRipcord(["reload", "--config", config]).0 == 0)
        let (failed, failOutput) = try await ChildProcess.runRipcord(["drill", "checkout", "--config", config])
        #expect(failed == 1, "\(failOutput)")
        #expect(failOutput.contains("drill.failed") && failOutput.contains("the service has no analysis to catch it"), "\(failOutput)")

        let (_, listed) = try await ChildProcess.runRipcord(["drill", "history", "checkout", "--config", config])
        let lines = listed.split(separator: "\n").filter { $0.contains("checkout") }
        #expect(lines.count == 2 && lines[0].contains("FAILED") && lines[1].contains("passed"), "newest first: \(listed)")
        let (_, reportJSON) = try await ChildProcess.runRipcord(["report", "--format", "json", "--config", config])
        let report = try JSONDecoder().decode(DeploymentReport.self, from: Data(reportJSON.utf8))
        #expect(report.drills.run == 2 && report.drills.passed == 1)
        #expect(report.overall.rolledBack == 0 && report.overall.promoted == 1, "drills are no deployments")
        let (_, runbook) = try await ChildProcess.runRipcord(["runbook", "checkout", "--config", config])
        #expect(runbook.contains("FAILED at") && runbook.contains("no analysis"), "\(runbook)")

        // A drill that runs by itself, and tells when it fails.
        let (scheduled, scheduledOutput) = try await ChildProcess.runRipcord(["drill", "checkout", "--schedule", "1s", "--config", config])
        #expect(scheduled == 0 && scheduledOutput.contains("a drill every 1s"), "\(scheduledOutput)")
        try await eventually("a scheduled drill to fail and notify") {
            receiver.received.compactMap { $0["body"] as? [String: Any] }.filter { $0["event"] as? String == "drill.failed" }.count >= 2
        }
        let (_, withSchedule) = try await ChildProcess.runRipcord(["drill", "history", "--config", config])
        #expect(withSchedule.contains("checkout: a drill every 1s"), "\(withSchedule)")
        #expect(try await ChildProcess.runRipcord(["drill", "checkout", "--schedule", "off", "--config", config]).0 == 0)
        let (_, serviceEvents) = try await ChildProcess.runRipcord(["history", "checkout", "--config", config])
        #expect(serviceEvents.contains("by admin: a drill every 1s") && serviceEvents.contains("by admin: drills no longer run"), "\(serviceEvents)")
        #expect(try await ChildProcess.runRipcord(["drill", "checkout", "--schedule", "off", "--config", config]).0 != 0, "none left to remove")
        #expect(try await api.call("PUT", "/api/v1/services/checkout/drill-schedule", body: #"{"every":"0s"}"#).0 == 400)

        // Refused before anything starts.
        #expect(try await ChildProcess.runRipcord(["drill", "checkout", "--fault", "explode", "--config", config]).0 == 64)
        let (refused, body) = try await api.call("POST", "/api/v1/services/checkout/drill", body: #"{"fault":"errors=150%"}"#)
        #expect(refused == 400 && (body["error"] as? [String: Any])?["code"] as? String == "invalid_fault")
        server.signal(SIGTERM)
        _ = try await server.wait()
    }

    func drillVerdicts(_ config: String) async throws -> [EventView] {
        let (status, output) = try await ChildProcess.runRipcord(["drill", "history", "checkout", "--output", "json", "--config", config])
        #expect(status == 0, "\(output)")
        return try JSONDecoder().decode([EventView].self, from: Data(output.utf8))
    }
}
