import Foundation
import RipcordController
import RipcordCore
import RipcordServer
import RipcordStore
import RipcordLoadGenerator
import RipcordTestSupport
import RipcordWire
import Testing

/// The paths beside the automatic one: a version that failed stays rejected, an undo goes only where
/// there was evidence, and a manual command says what it skips. Real instances, real traffic.
@Suite(.serialized, .tags(.integration)) struct SafetyGateTests {
    static let canary = "canary:\n  steps:\n    - setWeight: 50\n    - analysis: { passes: 2 }"

    func refusal(_ body: () async throws -> Void) async -> ControllerError? {
        do { try await body() } catch let error as ControllerError { return error } catch {}
        return nil
    }

    @Test func aVersionRolledBackByAnalysisIsRefusedUntilForcedOrUnrejected() async throws {
        try await withHarness("rejected", strategy: Self.canary, faults: "2.0.0=errorRate:0.5", instances: 1) { harness in
            let controller = harness.server.controller
            try await harness.finish(try await harness.deploy("1.0.0"))
            var failed: Rollout?
            _ = try await underLoad(harness) { failed = try await harness.finish(try await harness.deploy("2.0.0")) }
            let first = try #require(failed)
            #expect(first.phase == .rolledBack && first.trigger?.kind == .analysis)

            let revisions = try await controller.history(service: "checkout").revisions.count
            let refused = await refusal { _ = try await harness.deploy("2.0.0") }
            #expect(refused?.code == "version_rejected" && refused?.kind == .conflict)
            #expect(refused?.message.contains("rollout \(first.id)") == true && refused?.message.contains("analysis") == true)
            #expect(try await controller.history(service: "checkout").revisions.count == revisions, "a refused deploy records nothing")

            let versions = try await controller.versions(service: "checkout")
            #expect(versions.first { $0.version == "2.0.0" }?.rejected?.contains("rollout \(first.id)") == true)
            #expect(versions.first { $0.version == "1.0.0" }?.outcome == "promoted" && versions.first { $0.version == "1.0.0" }?.rejected == nil)
            let history = try await controller.history(service: "checkout")
            #expect(history.revisions.first { $0.version == "2.0.0" }?.outcome == "rolled back: analysis")

            // Forced: recorded, and analysis still judges it.
            _ = try await underLoad(harness) {
                let forced = try await controller.deploy(service: "checkout", version: SemanticVersion(parsing: "2.0.0"), force: true)
                #expect(try await harness.events(forced).contains { $0.kind == "deploy.forced" && $0.evidence["rejectedBy"] == String(first.id) })
                failed = try await harness.finish(forced)
            }
            #expect(failed?.phase == .rolledBack && failed?.trigger?.kind == .analysis)

            try await controller.unreject(service: "checkout", version: SemanticVersion(parsing: "2.0.0"))
            let again = try await harness.deploy("2.0.0")
            try await controller.abort(service: "checkout", reason: "checked it can start")
            #expect(try await harness.finish(again).phase == .rolledBack)
            #expect(
                try await controller.versions(service: "checkout").first { $0.version == "2.0.0" }?.rejected == nil,
                "an abort says nothing about the version")
            let retried = try await harness.deploy("2.0.0")
            try await controller.abort(service: "checkout", reason: "done")
            try await harness.finish(retried)
        }
    }

    @Test func undoGoesOnlyToAPromotedRevisionUnlessForcedAndThenThroughAnalysis() async throws {
        try await withHarness("undo-gates", strategy: Self.canary, faults: "2.0.0=errorRate:0.5", instances: 1) { harness in
            let controller = harness.server.controller
            try await harness.finish(try await harness.deploy("1.0.0"))
            var outcomes: [RolloutPhase] = []
            _ = try await underLoad(harness) {
                outcomes.append(try await harness.finish(try await harness.deploy("1.1.0")).phase)
                outcomes.append(try await harness.finish(try await harness.deploy("2.0.0")).phase)
            }
            #expect(outcomes == [.promoted, .rolledBack])
            let rolledBackRevision = try #require(try await controller.history(service: "checkout").revisions.last { $0.version == "2.0.0" }?.number)
            let refused = await refusal { _ = try await controller.undo(service: "checkout", toRevision: rolledBackRevision) }
            #expect(refused?.code == "not_promoted")
            let instant = await refusal { _ = try await controller.undo(service: "checkout", toRevision: rolledBackRevision, instant: true, force: true) }
            #expect(instant?.code == "instant_refused", "a version without evidence never takes all traffic at once")

            var forced: Rollout?
            let samples = try await underLoad(harness) {
                let undo = try await controller.undo(service: "checkout", toRevision: rolledBackRevision, force: true)
                forced = try await harness.finish(undo)
                let kinds = try await harness.events(undo).map(\.kind)
                #expect(kinds.contains("undo.forced") && kinds.contains("step.setWeight"), "through the strategy: \(kinds)")
            }
            #expect(forced?.kind == .undo && forced?.phase == .rolledBack && forced?.trigger?.kind == .analysis)
            let weights = try await harness.events(try #require(forced)).compactMap { $0.kind == "step.setWeight" ? $0.evidence["weight"] : nil }
            #expect(weights == ["50"], "never more than the first step's weight")
            #expect(samples.count > 0)

            // To a promoted revision, --instant switches at once.
            let back = try await harness.finish(try await controller.undo(service: "checkout", toRevision: 1, instant: true))
            #expect(back.phase == .promoted && back.candidateVersion.description == "1.0.0")
            #expect(try await harness.events(back).allSatisfy { $0.kind != "step.setWeight" })
        }
    }

    // MARK: - Evidence before promotion, with real traffic through the router (or none)

    static let quietCanary = "canary:\n  steps:\n    - setWeight: 50\n    - pause: { duration: 1s }"

    @Test func withoutTrafficAFaultyCandidateIsRolledBackForLackOfEvidenceNotPromoted() async throws {
        try await withHarness("no-traffic", strategy: Self.quietCanary, faults: "2.0.0=errorRate:0.5", instances: 1, progressDeadline: "3s") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let rollout = try await harness.finish(try await harness.deploy("2.0.0"))
            #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .noEvidence, "\(String(describing: rollout.trigger))")
            #expect(rollout.trigger?.evidence["requestsSeen"] == "0" && rollout.trigger?.evidence["passedWindows"] == "0")
            let kinds = try await harness.events(rollout).map(\.kind)
            #expect(kinds.contains("evidence.waiting") && !kinds.contains("rollout.promoted"))
        }
    }

    @Test func atTwoRequestsASecondAFaultyCandidateIsNeverPromoted() async throws {
        try await withHarness(
            "two-rps", strategy: Self.quietCanary, faults: "2.0.0=errorRate:0.5", instances: 1,
            analysis: Self.thinTrafficAnalysis, progressDeadline: "6s"
        ) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var finished: Rollout?
            _ = try await underLoad(harness, requestsPerSecond: 2) { finished = try await harness.finish(try await harness.deploy("2.0.0")) }
            let rollout = try #require(finished)
            #expect(rollout.phase == .rolledBack && [.noEvidence, .analysis].contains(rollout.trigger?.kind), "\(String(describing: rollout.trigger))")
        }
    }

    /// Windows of 20 requests: a candidate failing half of them passes one by chance about once in a million.
    static let thinTrafficAnalysis = "interval: 500ms\n      minRequests: 20\n      maxErrorRate: 10%"
    static let synthetic = thinTrafficAnalysis + "\n      syntheticTraffic: { rps: 40, path: /, headers: { X-Probe: ripcord } }"

    @Test func syntheticTrafficJudgesAQuietCandidateRollingBackAFaultyOneAndPromotingAHealthyOne() async throws {
        try await withHarness(
            "synthetic", strategy: Self.quietCanary, faults: "2.0.0=errorRate:0.5", instances: 1,
            analysis: Self.synthetic, progressDeadline: "10s"
        ) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            var outcomes: [Rollout] = []
            _ = try await underLoad(harness, requestsPerSecond: 2) {
                outcomes.append(try await harness.finish(try await harness.deploy("2.0.0")))
                outcomes.append(try await harness.finish(try await harness.deploy("1.1.0")))
            }
            let faulty = outcomes[0], healthy = outcomes[1]
            #expect(faulty.phase == .rolledBack && faulty.trigger?.kind == .analysis, "judged on synthetic requests: \(String(describing: faulty.trigger))")
            #expect(healthy.phase == .promoted)
            let exposition = await harness.server.controller.metricsExposition()
            #expect(exposition.contains("ripcord_synthetic_requests_total{service=\"checkout\",version=\"1.1.0\"}"), "counted apart")
            for rollout in [faulty, healthy] {
                let started = try await harness.events(rollout).first { $0.kind == "synthetic.started" }
                #expect(started?.evidence["rps"] == "40" && started?.evidence["minRequests"] == "20", "\(String(describing: started))")
            }
        }
    }

    @Test func pauseHoldsARolloutWhileAnalysisStillRollsItBackAndRetryRunsAnAbortedVersionAgain() async throws {
        try await withHarness(
            "pause-retry", strategy: "canary:\n  steps:\n    - setWeight: 50\n    - pause: { duration: 1s }",
            faults: "2.0.0=errorRate:0.5", instances: 1
        ) { harness in
            let controller = harness.server.controller
            try await harness.finish(try await harness.deploy("1.0.0"))
            // Healthy, held: it stays at 50 % well past its pause, then resumes and is promoted.
            var healthy: Rollout?
            _ = try await underLoad(harness) {
                let rollout = try await harness.deploy("1.1.0")
                try await eventually("traffic at 50 %") { try await controller.status(service: "checkout").rollout?.candidateWeight == 50 }
                try await controller.hold(service: "checkout", reason: "checking a dashboard", actor: "alice")
                try await Task.sleep(for: .seconds(2))
                let held = try await harness.rollout(rollout.id)
                #expect(held.phase != .promoted && held.candidateWeight == 50 && held.heldSince != nil, "held past its 1 s pause")
                try await controller.unhold(service: "checkout", actor: "alice")
                healthy = try await harness.finish(rollout)
            }
            #expect(healthy?.phase == .promoted)
            let kinds = try await harness.events(try #require(healthy)).map(\.kind)
            #expect(kinds.contains("rollout.held") && kinds.contains("rollout.unheld"))

            // Faulty, held: analysis still rolls it back.
            var faulty: Rollout?
            _ = try await underLoad(harness) {
                let rollout = try await harness.deploy("2.0.0")
                try await eventually("traffic at 50 %") { try await controller.status(service: "checkout").rollout?.candidateWeight == 50 }
                try? await controller.hold(service: "checkout", reason: "hold on", actor: "alice")
                faulty = try await harness.finish(rollout)
            }
            #expect(faulty?.phase == .rolledBack && faulty?.trigger?.kind == .analysis)

            // Retry re-runs only an aborted version.
            let refused = await refusal { _ = try await controller.retry(service: "checkout") }
            #expect(refused?.code == "nothing_to_retry", "2.0.0 was rolled back by analysis, not aborted")
            let aborted = try await harness.deploy("1.2.0")
            try await eventually("1.2.0 at 50 %") { try await controller.status(service: "checkout").rollout?.candidateWeight == 50 }
            try await controller.abort(service: "checkout", reason: "wrong time")
            try await harness.finish(aborted)
            var retried: Rollout?
            _ = try await underLoad(harness) { retried = try await harness.finish(try await controller.retry(service: "checkout", actor: "alice")) }
            #expect(retried?.candidateVersion.description == "1.2.0" && retried?.phase == .promoted)
        }
    }

    @Test func restartReplacesEveryStableInstanceWithoutAFailedRequest() async throws {
        try await withHarness("restart", strategy: "canary:\n  steps: []", instances: 2) { harness in
            let controller = harness.server.controller
            try await harness.finish(try await harness.deploy("1.0.0"))
            let before = try await controller.status(service: "checkout").stableInstances.map(\.pid)
            var message = ""
            let samples = try await underLoad(harness) {
                message = try await controller.restart(service: "checkout", actor: "alice")
            }
            let after = try await controller.status(service: "checkout").stableInstances.map(\.pid)
            #expect(message == "restarted 2 instances of checkout 1.0.0")
            #expect(after.count == 2 && Set(after).isDisjoint(with: before), "every instance replaced: \(before) → \(after)")
            try await eventually("the old instances stopped") { before.allSatisfy { !processExists($0) } }
            #expect(samples.count > 20 && samples.filter(\.failed).isEmpty, "\(samples.filter(\.failed).count) of \(samples.count) failed")
            let events = try await harness.server.store.events(service: "checkout", rolloutID: nil, afterID: 0, limit: 1000)
            #expect(events.contains { $0.kind == "restart.started" && $0.actor == "alice" } && events.contains { $0.kind == "restart.finished" })
        }
    }

    @Test func aConfigurationChangeRollsOutThroughTheStrategyAndABadOneRollsBackWithoutRejectingTheVersion() async throws {
        let directory = try temporaryDirectory("reconfigure")
        func config(faults: String, instances: Int) throws -> String {
            try checkoutConfig(directory: directory, strategy: Self.canary, faults: faults, instances: instances)
        }
        var harness = try await Harness.start(in: directory, config: try config(faults: "", instances: 1))
        try await harness.finish(try await harness.deploy("1.0.0"))
        let refused = await refusal { _ = try await harness.server.controller.deploy(service: "checkout", version: SemanticVersion(parsing: "1.0.0"), configChanged: true) }
        #expect(refused?.code == "config_unchanged")
        await harness.server.shutdown(keepInstances: true)

        // The new configuration makes 1.0.0 fail half its requests: its rollout is judged and rolled back.
        harness = try await Harness.start(in: directory, config: try config(faults: "1.0.0=errorRate:0.5", instances: 1))
        try await harness.run { harness in
            let controller = harness.server.controller
            let stable = try await controller.status(service: "checkout").stableInstances.map(\.pid)
            var bad: Rollout?
            _ = try await underLoad(harness) {
                bad = try await harness.finish(try await controller.deploy(service: "checkout", version: SemanticVersion(parsing: "1.0.0"), configChanged: true))
            }
            #expect(bad?.kind == .reconfigure && bad?.phase == .rolledBack && bad?.trigger?.kind == .analysis)
            #expect(try await controller.versions(service: "checkout").first?.rejected == nil, "the configuration failed, not the version")
            #expect(try await controller.status(service: "checkout").stableInstances.map(\.pid) == stable, "the old configuration's instances still serve")
        }

        // A good change (two instances) is promoted and its instances become the stable set.
        harness = try await Harness.start(in: directory, config: try config(faults: "", instances: 2))
        try await harness.run { harness in
            let controller = harness.server.controller
            var good: Rollout?
            _ = try await underLoad(harness) {
                good = try await harness.finish(try await controller.deploy(service: "checkout", version: SemanticVersion(parsing: "1.0.0"), configChanged: true))
            }
            #expect(good?.phase == .promoted)
            try await eventually("two stable instances of the new configuration") {
                try await controller.status(service: "checkout").stableInstances.count == 2
            }
        }
    }
}
