import Foundation
import RipcordController
import RipcordCore
import RipcordLoadGenerator
import RipcordServer
import RipcordStore
import RipcordTestSupport
import RipcordWire
import Testing

/// End to end through the real router with real sample-service processes.
@Suite(.serialized, .tags(.integration)) struct RolloutIntegrationTests {
    static let canary = """
        canary:
          steps:
            - setWeight: 20
            - pause: { duration: 1s }
            - setWeight: 50
            - analysis: { passes: 2 }
        """

    @Test func healthyCanaryIsPromotedWithZeroFailedRequestsUnderLoad() async throws {
        try await withHarness("healthy", strategy: Self.canary) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let oldPIDs = try await harness.server.controller.status(service: "checkout").stableInstances.map(\.pid)

            let load = LoadGenerator(url: await harness.frontDoor + "/", requestsPerSecond: 100, concurrency: 4)
            let running = Task { await load.run() }
            try await eventually("load to flow") { load.samples.count > 20 }
            let rollout = try await harness.finish(try await harness.deploy("1.1.0"))
            try await eventually("traffic on 1.1.0 only") { load.samples.suffix(20).allSatisfy { $0.version == "1.1.0" } }
            running.cancel()
            await running.value
            await load.shutdown()

            #expect(rollout.phase == .promoted)
            let samples = load.samples
            #expect(samples.filter(\.failed).isEmpty, "failed: \(samples.filter(\.failed).prefix(5))")
            #expect(samples.contains { $0.version == "1.0.0" } && samples.contains { $0.version == "1.1.0" })
            let kinds = try await harness.events(rollout).map(\.kind)
            #expect(kinds.filter { $0 == "step.setWeight" }.count == 2)
            #expect(kinds.contains("analysis.measurement") && kinds.last == "rollout.promoted")
            let status = try await harness.server.controller.status(service: "checkout")
            #expect(status.stableVersion == "1.1.0")
            try await eventually("old instances stopped") { oldPIDs.allSatisfy { !processExists($0) } }
        }
    }

    @Test func errorRateCanaryIsRolledBackAndOnlyTheFaultyVersionFails() async throws {
        try await withHarness("errors", strategy: Self.canary, faults: "1.2.0=errorRate:0.6") { harness in
            try await harness.finish(try await harness.deploy("1.1.0"))
            let load = LoadGenerator(url: await harness.frontDoor + "/", requestsPerSecond: 100, concurrency: 4)
            let running = Task { await load.run() }
            let rollout = try await harness.finish(try await harness.deploy("1.2.0"))
            try await eventually("traffic back on 1.1.0") { load.samples.suffix(20).allSatisfy { $0.version == "1.1.0" } }
            running.cancel()
            await running.value
            await load.shutdown()

            #expect(rollout.phase == .rolledBack)
            #expect(rollout.trigger?.kind == .analysis)
            let failed = load.samples.filter(\.failed)
            #expect(!failed.isEmpty, "the faulty version did answer some requests with errors")
            #expect(failed.allSatisfy { $0.version == "1.2.0" }, "only the faulty version's own answers fail: \(failed.filter { $0.version != "1.2.0" }.prefix(3))")
            let rollback = try #require(try await harness.events(rollout).first { $0.kind == "rollout.rolledBack" })
            #expect(rollback.evidence["trigger"] == "analysis")
            #expect(Double(rollback.evidence["errorRate"] ?? "0")! > 0.1)
            // Reported the moment the evidence sufficed (a few requests at 60 % errors), with the test's p-value.
            #expect(Int(rollback.evidence["stepErrors"] ?? "0")! >= 1)
            #expect(Double(rollback.evidence["errorRate.pValue"] ?? "1")! <= 0.01)
            #expect(rollback.evidence["errorRate.verdict"] == "fail")
            let status = try await harness.server.controller.status(service: "checkout")
            #expect(status.stableVersion == "1.1.0" && status.candidateInstances.isEmpty)
        }
    }

    @Test func crashAtStartIsRolledBackAndStableKeepsServing() async throws {
        try await withHarness("crash", strategy: Self.canary, faults: "2.0.0=crashAtStart") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let rollout = try await harness.finish(try await harness.deploy("2.0.0"))
            #expect(rollout.phase == .rolledBack)
            #expect(rollout.trigger?.kind == .instanceCrashed)
            #expect(rollout.trigger?.evidence["exit"] == "exited with status 1")
            let (status, version) = try await get(await harness.frontDoor + "/")
            #expect(status == 200 && version == "1.0.0")
        }
    }

    @Test func failingHealthCheckRollsBackAtTheStartupDeadline() async throws {
        try await withHarness("health", strategy: Self.canary, faults: "2.0.0=failHealth", instances: 1) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let rollout = try await harness.finish(try await harness.deploy("2.0.0"), within: 20)
            #expect(rollout.phase == .rolledBack)
            #expect(rollout.trigger?.kind == .startupDeadline)
        }
    }

    @Test func candidateThatTurnsUnhealthyMidRolloutIsRolledBack() async throws {
        try await withHarness(
            "unhealthy", strategy: "canary:\n  steps:\n    - setWeight: 20\n    - pause: {}",
            faults: "2.0.0=failHealthAfter:1500", instances: 1
        ) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let rollout = try await harness.deploy("2.0.0")
            try await harness.waitForPhase(rollout, .paused)
            let finished = try await harness.finish(rollout)
            #expect(finished.phase == .rolledBack)
            #expect(finished.trigger?.kind == .healthCheckFailed)
            #expect(finished.trigger?.evidence["consecutiveFailures"] == "2")
            #expect(try await get(await harness.frontDoor + "/").1 == "1.0.0")
        }
    }

    @Test func pinHeaderReachesTheCandidateAndAbortRollsBack() async throws {
        try await withHarness("abort", strategy: "canary:\n  steps:\n    - setWeight: 0\n    - pause: {}") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let rollout = try await harness.deploy("1.1.0")
            try await harness.waitForPhase(rollout, .paused)
            let front = await harness.frontDoor + "/"
            #expect(try await get(front).1 == "1.0.0")
            #expect(try await get(front, headers: [("x-ripcord-route", "candidate")]).1 == "1.1.0")
            try await harness.server.controller.abort(service: "checkout", reason: "smoke test failed")
            let finished = try await harness.finish(rollout)
            #expect(finished.phase == .rolledBack && finished.trigger?.kind == .abort && finished.trigger?.message == "smoke test failed")
            // The candidate leaves the table with the rollout's last effect, just after the rollback is saved.
            try await eventually("no candidate left: the pin falls back to stable", within: 10) {
                try await get(front, headers: [("x-ripcord-route", "candidate")]).1 == "1.0.0"
            }
        }
    }

    @Test func blueGreenPreviewSwitchAndInstantRollback() async throws {
        try await withHarness("bluegreen", strategy: "blueGreen:\n  scaleDownDelay: 60s") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let oldPIDs = try await harness.server.controller.status(service: "checkout").stableInstances.map(\.pid)
            let rollout = try await harness.deploy("2.0.0")
            try await harness.waitForPhase(rollout, .preview)
            let front = await harness.frontDoor + "/"
            #expect(try await get(front).1 == "1.0.0", "preview gets no production traffic")
            #expect(try await get(front, headers: [("x-ripcord-route", "candidate")]).1 == "2.0.0")

            try await harness.server.controller.promote(service: "checkout", full: false)
            try await harness.waitForPhase(rollout, .switched)
            // The switch is recorded before its effect moves the traffic.
            try await eventually("the switch in force") { try await get(front).1 == "2.0.0" }
            for _ in 0..<10 { #expect(try await get(front).1 == "2.0.0") }
            #expect(oldPIDs.allSatisfy(processExists), "the old version stays warm after the switch")

            let load = LoadGenerator(url: front, requestsPerSecond: 100, concurrency: 4)
            let running = Task { await load.run() }
            try await eventually("load to flow") { load.samples.count > 10 }
            try await harness.server.controller.abort(service: "checkout", reason: "alert fired")
            let finished = try await harness.finish(rollout)
            try await eventually("traffic back on 1.0.0") { load.samples.suffix(10).allSatisfy { $0.version == "1.0.0" } }
            running.cancel()
            await running.value
            await load.shutdown()
            #expect(finished.phase == .rolledBack)
            #expect(load.samples.filter(\.failed).isEmpty, "switching back to the warm version loses no request")
            #expect(oldPIDs.allSatisfy(processExists), "the warm instances served the rollback without a restart")
        }
    }

    @Test func aRolloutStartedRightAfterAnAbortStaysUnderControl() async throws {
        try await withHarness("handover", strategy: "canary:\n  steps:\n    - setWeight: 10\n    - pause: {}", instances: 1) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let first = try await harness.deploy("1.1.0")
            try await harness.waitForPhase(first, .paused)
            let leaving = try await harness.server.controller.status(service: "checkout").candidateInstances.map(\.pid)
            try await harness.server.controller.abort(service: "checkout", reason: "changed my mind")
            try await harness.finish(first)
            let second = try await harness.deploy("1.2.0")
            try await harness.waitForPhase(second, .paused)
            try await eventually("the aborted rollout's reconciler to finish") { leaving.allSatisfy { !processExists($0) } }
            var finished: Rollout?
            // The promote ends the pause; promotion then needs a passed window at 10 %.
            _ = try await underLoad(harness) {
                try await harness.server.controller.promote(service: "checkout", full: false)
                finished = try await harness.finish(second)
            }
            #expect(finished?.phase == .promoted)
        }
    }

    @Test func concurrentDeploysStartOneRollout() async throws {
        try await withHarness("concurrent", strategy: "canary:\n  steps:\n    - setWeight: 10\n    - pause: {}", instances: 1) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            func attempt(_ version: String) async -> Result<Rollout, any Error> {
                do { return .success(try await harness.deploy(version)) } catch { return .failure(error) }
            }
            async let a = attempt("1.1.0")
            async let b = attempt("1.2.0")
            let results = await [a, b]
            let started = results.compactMap { try? $0.get() }
            #expect(started.count == 1)
            #expect(started.first?.stableVersion?.description == "1.0.0", "a rollout right after a promotion starts from the promoted version")
            let refused = results.compactMap { result -> ControllerError? in
                if case let .failure(error) = result { return error as? ControllerError } else { return nil }
            }
            #expect(refused.map(\.code) == ["rollout_in_progress"])
            #expect(try await harness.server.store.activeRollouts().count == 1)
            try await harness.server.controller.abort(service: "checkout", reason: "done")
            try await harness.finish(started[0])
        }
    }

    @Test func aStableInstanceThatDiesIsReplaced() async throws {
        try await withHarness("supervise", strategy: "canary:\n  steps: []") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let before = try await harness.server.controller.status(service: "checkout").stableInstances.map(\.pid)
            #expect(before.count == 2)
            kill(before[0], SIGKILL)
            try await eventually("a replacement") {
                let now = try await harness.server.controller.status(service: "checkout").stableInstances.map(\.pid)
                return now.count == 2 && !now.contains(before[0]) && now.allSatisfy(processExists)
            }
            let events = try await harness.server.store.events(service: "checkout", rolloutID: nil, afterID: 0, limit: 1000)
            let exited = try #require(events.first { $0.kind == "instance.exited" })
            #expect(exited.evidence["pid"] == String(before[0]) && exited.evidence["exit"] == "killed by signal 9")
            for _ in 0..<10 { #expect(try await get(await harness.frontDoor + "/").0 == 200) }
        }
    }

    @Test func undoReturnsToTheEarlierRevision() async throws {
        try await withHarness("undo", strategy: "canary:\n  steps: []", instances: 1) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            try await harness.finish(try await harness.deploy("1.1.0"))
            let undo = try await harness.finish(try await harness.server.controller.undo(service: "checkout", toRevision: nil))
            #expect(undo.phase == .promoted && undo.kind == .undo && undo.candidateVersion.description == "1.0.0")
            let history = try await harness.server.controller.history(service: "checkout")
            #expect(history.revisions.map(\.version) == ["1.0.0", "1.1.0", "1.0.0"])
            #expect(history.revisions.last?.note == "undo to revision 1")
            #expect(history.stableRevision == 3)
            #expect(try await get(await harness.frontDoor + "/").1 == "1.0.0")
            await #expect(throws: Error.self) { try await harness.server.controller.undo(service: "checkout", toRevision: 99) }
        }
    }
}

/// The sequential judge on real traffic: the candidate against the stable version's concurrent requests.
@Suite(.serialized, .tags(.integration)) struct SequentialJudgeIntegrationTests {
    static let canary = "canary:\n  steps:\n    - setWeight: 30\n    - analysis: { passes: 4 }"
    // Windows of at least 20 canary requests: on a loaded machine a window waits for data rather than passing on a trickle.
    static let sequential = "interval: 500ms\n      minRequests: 20\n      judge: sequential\n      sequential: { alpha: 1%, minErrorRateIncrease: 5% }"

    @Test func errorRegressionIsRolledBackWithTheStatisticsAsEvidence() async throws {
        try await withHarness("seq-errors", strategy: Self.canary, faults: "2.0.0=errorRate:0.3", instances: 1, analysis: Self.sequential) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var rollout: Rollout?
            let samples = try await underLoad(harness) {
                rollout = try await harness.finish(try await harness.deploy("2.0.0"))
            }
            let finished = try #require(rollout)
            #expect(finished.phase == .rolledBack && finished.trigger?.kind == .analysis)
            let evidence = try #require(finished.trigger?.evidence)
            #expect(evidence["judge"] == "sequential")
            #expect(evidence["errorRate.verdict"] == "fail")
            #expect(Double(evidence["errorRate.pValue"] ?? "1")! <= 0.008)
            #expect(evidence["errorRate.statistic"]?.contains("mSPRT") == true)
            #expect(samples.filter(\.failed).allSatisfy { $0.version == "2.0.0" })
        }
    }

    @Test func latencyRegressionIsRolledBack() async throws {
        try await withHarness("seq-latency", strategy: Self.canary, faults: "2.0.0=latency:60", instances: 1, analysis: Self.sequential) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var rollout: Rollout?
            _ = try await underLoad(harness) { rollout = try await harness.finish(try await harness.deploy("2.0.0")) }
            let finished = try #require(rollout)
            #expect(finished.phase == .rolledBack)
            #expect(finished.trigger?.evidence["latency.verdict"] == "fail")
            #expect(finished.trigger?.message.contains("latency higher than stable") == true)
        }
    }

    @Test func slowBodyBehindAFastHeadIsRolledBackOnLatency() async throws {
        // The candidate answers its head at once and its body 200 ms later: clients wait for the body,
        // so the router measures to the last byte and the judge sees the slowness.
        try await withHarness("seq-slow-body", strategy: Self.canary, faults: "2.0.0=bodyDelay:200", instances: 1, analysis: Self.sequential) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var rollout: Rollout?
            _ = try await underLoad(harness) { rollout = try await harness.finish(try await harness.deploy("2.0.0")) }
            let finished = try #require(rollout)
            #expect(finished.phase == .rolledBack && finished.trigger?.kind == .analysis)
            #expect(finished.trigger?.evidence["latency.verdict"] == "fail", "\(finished.trigger?.evidence ?? [:])")
            #expect(finished.trigger?.evidence["errorRate.verdict"] != "fail")
            #expect(Double(finished.trigger?.evidence["latency.p50Ms"] ?? "0")! >= 200)
        }
    }

    @Test func healthyCanaryPassesTheSequentialJudge() async throws {
        // The sample service answers in well under a millisecond, so on a loaded test machine scheduling
        // alone moves one process's latency by tens of per cent: the tolerance here is wider than the default.
        let tolerant = Self.sequential.replacingOccurrences(of: "minErrorRateIncrease: 5% }", with: "minErrorRateIncrease: 5%, minLatencyIncrease: 100% }")
        try await withHarness("seq-healthy", strategy: Self.canary, instances: 1, analysis: tolerant, progressDeadline: "90s") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var rollout: Rollout?
            let samples = try await underLoad(harness) { rollout = try await harness.finish(try await harness.deploy("1.1.0"), within: 90) }
            let finished = try #require(rollout)
            #expect(finished.phase == .promoted, "\(finished.trigger?.message ?? "")")
            #expect(samples.filter(\.failed).isEmpty)
            let measurements = try await harness.events(finished).filter { $0.kind == "analysis.measurement" }
            #expect(measurements.allSatisfy { $0.evidence["judge"] == "sequential" && $0.evidence["verdict"] != "fail" })
            // No evidence is not a pass: the first measurements wait until the bounds affirm the candidate, then passes count.
            #expect(measurements.filter { $0.evidence["verdict"] == "pass" }.count >= 4)
            let firstPass = try #require(measurements.firstIndex { $0.evidence["verdict"] == "pass" })
            #expect(measurements[..<firstPass].allSatisfy { $0.evidence["verdict"] == "inconclusive" && $0.evidence["reasons"]?.contains("not yet shown") == true })
            #expect(Double(measurements[firstPass].evidence["errorRate.upperBoundOfIncrease"] ?? "1")! < 0.05)
        }
    }
}
