import Foundation
import RipcordController
import RipcordCore
import RipcordLoadGenerator
import RipcordServer
import RipcordTestSupport
import RipcordWire
import Testing

/// Canary vs baseline through the real router: fresh stable instances get the candidate's share and
/// the candidate is judged against them (Mann-Whitney U on latency, an exact test on where the errors fell).
@Suite(.serialized, .tags(.integration)) struct CanaryBaselineIntegrationTests {
    static let canary = "canary:\n  steps:\n    - setWeight: 30\n    - analysis: { passes: 3 }"
    static let judged =
        "interval: 1s\n      minRequests: 20\n      failureLimit: 1\n      judge: canaryBaseline\n      canaryBaseline: { confidenceLevel: 99%, errorRateTolerance: 2% }"

    @Test func slowCanaryIsRolledBackAgainstItsBaseline() async throws {
        try await withHarness("kayenta-slow", strategy: Self.canary, faults: "2.0.0=latency:40", instances: 1, analysis: Self.judged) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var rollout: Rollout?
            let samples = try await underLoad(harness) { rollout = try await harness.finish(try await harness.deploy("2.0.0")) }
            let finished = try #require(rollout)
            #expect(finished.phase == .rolledBack && finished.trigger?.kind == .analysis)
            let evidence = try #require(finished.trigger?.evidence)
            #expect(evidence["judge"] == "canaryVsBaseline" && evidence["comparedWith"] == "baseline")
            #expect(evidence["metric.latency_ms"]?.hasPrefix("high FAIL") == true, "\(evidence)")
            #expect(evidence["metric.error_rate"]?.hasPrefix("pass") == true)
            #expect(Double(evidence["score"] ?? "100")! < 75)
            // The baseline had the candidate's share of the same traffic, so the windows are about equal.
            let candidateRequests = Double(evidence["requests"] ?? "0")!
            let baselineRequests = Double(evidence["baseline.requests"] ?? "0")!
            #expect(candidateRequests >= 20 && baselineRequests >= 20)
            #expect((0.5...2.0).contains(candidateRequests / baselineRequests), "candidate \(candidateRequests), baseline \(baselineRequests)")
            #expect(samples.contains { $0.version == "1.0.0" } && samples.filter(\.failed).isEmpty)
            // The rollback stops the candidate and the baseline after it has moved the traffic back.
            try await eventually("the candidate and the baseline stopped") {
                let status = try await harness.server.controller.status(service: "checkout")
                return status.baselineInstances.isEmpty && status.candidateInstances.isEmpty && status.stableInstances.count == 1
            }
        }
    }

    @Test func healthyCanaryPassesAgainstItsBaselineWhichThenStops() async throws {
        // Three windows of 140 requests each: on a machine busy with the other suites that can take longer than 30 s.
        try await withHarness("kayenta-healthy", strategy: Self.canary, instances: 1, analysis: Self.judged, progressDeadline: "120s") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var rollout: Rollout?
            var baselinePIDs: [Int32] = []
            _ = try await underLoad(harness) {
                let started = try await harness.deploy("1.1.0")
                try await harness.waitForPhase(started, .analyzing)
                let status = try await harness.server.controller.status(service: "checkout")
                baselinePIDs = status.baselineInstances.map(\.pid)
                #expect(status.baselineInstances.map(\.version) == ["1.0.0"])
                try await eventually("baseline traffic in the metrics") {
                    await harness.server.controller.metricsExposition().contains(#"version="1.0.0",role="baseline",class="2xx"} "#)
                }
                rollout = try await harness.finish(started, within: 120)
            }
            let finished = try #require(rollout)
            #expect(finished.phase == .promoted, "\(finished.trigger?.message ?? "")")
            let measurements = try await harness.events(finished).filter { $0.kind == "analysis.measurement" }
            #expect(measurements.filter { $0.evidence["verdict"] == "pass" }.count >= 3)
            #expect(measurements.allSatisfy { $0.evidence["judge"] == "canaryVsBaseline" && $0.evidence["comparedWith"] == "baseline" })
            #expect(baselinePIDs.count == 1)
            try await eventually("baseline stopped after promotion") { baselinePIDs.allSatisfy { !processExists($0) } }
            #expect(try await harness.server.controller.status(service: "checkout").baselineInstances.isEmpty)
        }
    }
}

/// The guard window: analysis keeps running after promotion and undoes a release that turns bad.
@Suite(.serialized, .tags(.integration)) struct GuardWindowIntegrationTests {
    static let canary = "canary:\n  steps:\n    - setWeight: 50\n    - analysis: { passes: 2 }"

    /// The promoted version is the stable set and its guard is watching.
    static func waitForGuard(_ harness: Harness, _ promoted: Rollout) async throws {
        try await eventually("\(promoted.candidateVersion) stable and guarded") {
            let stable = try await harness.server.controller.status(service: "checkout").stableVersion
            let guarded = try await harness.events(promoted).contains { $0.kind == "guard.started" }
            return stable == promoted.candidateVersion.description && guarded
        }
    }

    @Test func releaseWhoseErrorsStartAfterPromotionIsUndone() async throws {
        let badFile = try temporaryDirectory("guard-switch") + "/bad"
        try await withHarness(
            "guard-router", strategy: Self.canary, faults: "1.1.0=errorRate:1,errorsWhileFileExists:\(badFile)",
            instances: 1, serviceExtra: "guardWindow: 2m"
        ) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            _ = try await underLoad(harness) {
                let promoted = try await harness.finish(try await harness.deploy("1.1.0"))
                #expect(promoted.phase == .promoted)
                try await Self.waitForGuard(harness, promoted)
                #expect(FileManager.default.createFile(atPath: badFile, contents: nil))
                try await eventually("undone to 1.0.0") {
                    try await harness.server.controller.status(service: "checkout").stableVersion == "1.0.0"
                }
                let triggered = try #require(try await harness.events(promoted).first { $0.kind == "guard.triggered" })
                #expect(triggered.evidence["trigger"] == "analysis")
                #expect(Double(triggered.evidence["errorRate"] ?? "0")! > 0.1)
                #expect(triggered.message.contains("error rate"))
            }
            let history = try await harness.server.controller.history(service: "checkout")
            #expect(history.revisions.last?.note.contains("guard window of revision 2") == true)
            #expect(try await get(await harness.frontDoor + "/").1 == "1.0.0")
        }
    }

    @Test func failedProviderMetricInTheGuardWindowUndoesTheRelease() async throws {
        let badFile = try temporaryDirectory("guard-metric") + "/bad"
        let analysis = MetricProviderTests.analysis(metric: [
            "- name: queue-depth", "  command: { run: \"sh -c 'test -e \(badFile) && echo 500 || echo 3'\" }", "  interval: 200ms",
            "  failureCondition: result > 100",
        ])
        try await withHarness("guard-metric", strategy: Self.canary, instances: 1, analysis: analysis, serviceExtra: "guardWindow: 2m") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var promoted: Rollout?
            _ = try await underLoad(harness) { promoted = try await harness.finish(try await harness.deploy("1.1.0")) }
            let release = try #require(promoted)
            #expect(release.phase == .promoted)
            try await Self.waitForGuard(harness, release)
            #expect(FileManager.default.createFile(atPath: badFile, contents: nil))
            try await eventually("undone to 1.0.0") { try await harness.server.controller.status(service: "checkout").stableVersion == "1.0.0" }
            let triggered = try #require(try await harness.events(release).first { $0.kind == "guard.triggered" })
            #expect(triggered.evidence["metric"] == "queue-depth" && triggered.evidence["value"] == "500")
        }
    }

    @Test func quietGuardWindowEndsWithoutAnUndo() async throws {
        try await withHarness("guard-quiet", strategy: "canary:\n  steps: []", instances: 1, serviceExtra: "guardWindow: 1s") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let promoted = try await harness.finish(try await harness.deploy("1.1.0"))
            try await eventually("guard passed") { try await harness.events(promoted).contains { $0.kind == "guard.passed" } }
            #expect(try await harness.server.controller.status(service: "checkout").stableVersion == "1.1.0")
            #expect(try await harness.server.controller.history(service: "checkout").revisions.count == 2)
        }
    }
}
