import Foundation
import RipcordCore
import RipcordTestSupport
import Testing

/// Drives the rollout state machine by hand with a fake clock: every transition, rollback from every
/// state, and resume after a restart.
struct FakeClock {
    var now = Moment(millisecondsSinceEpoch: 1_800_000_000_000)
    mutating func advance(_ span: TimeSpan) { now = now + span }
}

func service(strategy: Strategy, analysis: AnalysisSpec? = AnalysisSpec()) -> ServiceSpec {
    ServiceSpec(
        name: "checkout", listen: HostPort(host: "127.0.0.1", port: 8080),
        run: RunSpec(command: "app --port {port}"), instances: 2, startupDeadline: .seconds(30),
        progressDeadline: .seconds(120), strategy: strategy, analysis: analysis)
}

let v1 = try! SemanticVersion(parsing: "1.0.0")
let v2 = try! SemanticVersion(parsing: "1.1.0")

func measurement(_ verdict: Verdict, requests: UInt64 = 100, errors: UInt64 = 0) -> AnalysisMeasurement {
    AnalysisMeasurement(
        verdict: verdict, requests: requests, errors: errors, errorRate: Double(errors) / Double(requests),
        latencyMilliseconds: [:], window: .seconds(1), reasons: verdict == .fail ? ["error rate too high"] : [])
}

extension Array where Element == RolloutEffect {
    var weights: [Int] { compactMap { if case let .setCandidateWeight(w) = $0 { return w } else { return nil } } }
    var eventKinds: [EventKind] { compactMap { if case let .record(e) = $0 { return e.kind } else { return nil } } }
    /// The first effect that acts on the world (events are saved before any of them).
    var firstAction: RolloutEffect? { first { if case .record = $0 { return false } else { return true } } }
    var rollbackEvidence: [String: String]? {
        compactMap { if case let .record(e) = $0, e.kind == "rollout.rolledBack" { return e.evidence } else { return nil } }.first
    }
}

@Suite(.tags(.unit)) struct RolloutMachineTests {
    let canary = Strategy.canary(CanarySpec(steps: [.setWeight(10), .pause(.seconds(30)), .setWeight(50), .analysis(passes: 2), .pause(nil)]))

    func started(_ strategy: Strategy, stable: SemanticVersion? = v1, clock: FakeClock = FakeClock()) -> Rollout {
        Rollout(id: 1, service: service(strategy: strategy), revision: 2, stableVersion: stable, candidateVersion: v2, at: clock.now)
    }

    @Test func aBaselineRunsOnlyBesideACanaryWithStepsAndAStableVersion() {
        let withBaseline = service(strategy: canary, analysis: AnalysisSpec(baseline: true))
        func rollout(_ strategy: Strategy, stable: SemanticVersion?, spec: ServiceSpec) -> Rollout {
            Rollout(id: 1, service: spec, revision: 2, stableVersion: stable, candidateVersion: v2, strategy: strategy, at: FakeClock().now)
        }
        #expect(rollout(canary, stable: v1, spec: withBaseline).usesBaseline)
        #expect(!rollout(canary, stable: nil, spec: withBaseline).usesBaseline, "a first version has nothing to compare with")
        #expect(!rollout(.canary(CanarySpec(steps: [])), stable: v1, spec: withBaseline).usesBaseline, "all at once (undo) has no canary")
        #expect(!rollout(.blueGreen(BlueGreenSpec()), stable: v1, spec: withBaseline).usesBaseline)
        #expect(!rollout(canary, stable: v1, spec: service(strategy: canary)).usesBaseline)
    }

    @Test func startAsksForCandidateInstancesFirst() {
        let rollout = started(canary)
        let effects = rollout.start()
        #expect(effects.contains(.ensureCandidateInstances))
        #expect(effects.eventKinds == ["rollout.started"])
        #expect(rollout.phase == .starting && rollout.candidateWeight == 0)
    }

    @Test func canaryWalksEveryStepToPromotion() {
        var clock = FakeClock()
        var rollout = started(canary, clock: clock)
        var effects = rollout.handle(.candidateReady, at: clock.now)
        #expect(effects.weights == [10])
        #expect(rollout.phase == .paused && rollout.stepIndex == 1)
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)

        clock.advance(.seconds(29))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty)
        clock.advance(.seconds(1))
        effects = rollout.handle(.tick, at: clock.now)
        #expect(effects.weights == [50])
        #expect(rollout.phase == .analyzing && rollout.stepIndex == 3)

        effects = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        #expect(rollout.phase == .analyzing && rollout.analysisPasses == 1)
        effects = rollout.handle(.measurement(measurement(.inconclusive)), at: clock.now)
        #expect(rollout.phase == .analyzing && rollout.analysisPasses == 1)
        effects = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        #expect(rollout.phase == .paused && rollout.stepIndex == 4)

        clock.advance(.seconds(3600))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty, "an indefinite pause waits for a human")
        #expect(rollout.phase == .paused)

        effects = rollout.handle(.promote(full: false), at: clock.now)
        #expect(rollout.phase == .promoted)
        #expect(effects.weights.last == 100)
        #expect(effects.contains(.replaceStableWithCandidate))
        #expect(effects.eventKinds.contains("rollout.promoted"))
        #expect(rollout.finishedAt == clock.now)
    }

    @Test func failedAnalysisRollsBackWithItsEvidence() {
        var clock = FakeClock()
        var rollout = started(canary, clock: clock)
        _ = rollout.handle(.candidateReady, at: clock.now)
        clock.advance(.seconds(1))
        let effects = rollout.handle(.measurement(measurement(.fail, requests: 20, errors: 10)), at: clock.now)
        #expect(rollout.phase == .rolledBack)
        #expect(rollout.trigger?.kind == .analysis)
        #expect(effects.firstAction == .setCandidateWeight(0), "traffic goes back before anything else")
        #expect(effects.contains(.stopCandidateInstances))
        let evidence = effects.rollbackEvidence
        #expect(evidence?["errors"] == "10")
        #expect(evidence?["requests"] == "20")
        #expect(evidence?["trigger"] == "analysis")
        #expect(evidence?["candidateWeightBefore"] == "10")
    }

    @Test func failureLimitToleratesThatManyFailures() {
        var spec = AnalysisSpec()
        spec.failureLimit = 2
        var rollout = Rollout(id: 1, service: service(strategy: canary, analysis: spec), revision: 2, stableVersion: v1, candidateVersion: v2, at: FakeClock().now)
        let now = FakeClock().now
        _ = rollout.handle(.candidateReady, at: now)
        _ = rollout.handle(.measurement(measurement(.fail)), at: now)
        _ = rollout.handle(.measurement(measurement(.fail)), at: now)
        #expect(rollout.phase == .paused)
        _ = rollout.handle(.measurement(measurement(.fail)), at: now)
        #expect(rollout.phase == .rolledBack)
    }

    @Test func startupDeadlineRollsBack() {
        var clock = FakeClock()
        var rollout = started(canary, clock: clock)
        clock.advance(.seconds(30))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty)
        clock.advance(.milliseconds(1))
        let effects = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .startupDeadline)
        #expect(effects.contains(.stopCandidateInstances))
    }

    @Test func progressDeadlineRollsBackAnAnalysisStepThatNeverDecides() {
        var clock = FakeClock()
        var rollout = started(.canary(CanarySpec(steps: [.setWeight(20), .analysis(passes: 3)])), clock: clock)
        _ = rollout.handle(.candidateReady, at: clock.now)
        #expect(rollout.phase == .analyzing)
        clock.advance(.seconds(121))
        _ = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .progressDeadline)
    }

    @Test func crashOrHealthFailureRollsBackFromEveryLivePhase() {
        let trigger = Trigger(kind: .instanceCrashed, message: "exited with status 1")
        for phaseSetup in PhaseSetup.allCases {
            var (rollout, now) = phaseSetup.make()
            let before = rollout.phase
            let effects = rollout.handle(.candidateFailed(trigger), at: now)
            #expect(rollout.phase == .rolledBack, "from \(before)")
            #expect(effects.firstAction == .setCandidateWeight(0), "from \(before)")
            #expect(rollout.trigger == trigger)
        }
    }

    @Test func abortRollsBackFromEveryLivePhase() {
        for phaseSetup in PhaseSetup.allCases {
            var (rollout, now) = phaseSetup.make()
            _ = rollout.handle(.abort(reason: "on-call said so"), at: now)
            #expect(rollout.phase == .rolledBack)
            #expect(rollout.trigger?.kind == .abort)
        }
    }

    @Test func terminalRolloutsIgnoreEverything() {
        var (rollout, now) = PhaseSetup.analyzing.make()
        _ = rollout.handle(.abort(reason: "x"), at: now)
        let frozen = rollout
        for input in [
            RolloutInput.tick, .candidateReady, .promote(full: true), .abort(reason: "again"), .measurement(measurement(.fail)),
            .resume(candidateInstancesAlive: false),
        ] {
            #expect(rollout.handle(input, at: now).isEmpty)
        }
        #expect(rollout == frozen)
    }

    @Test func fullPromoteSkipsRemainingSteps() {
        var (rollout, now) = PhaseSetup.paused.make()
        let effects = rollout.handle(.promote(full: true), at: now)
        #expect(rollout.phase == .promoted)
        #expect(effects.weights == [100])
    }

    @Test func promoteDuringATimedPauseAdvancesExactlyOneStep() {
        var clock = FakeClock()
        var rollout = started(canary, clock: clock)
        _ = rollout.handle(.candidateReady, at: clock.now)
        #expect(rollout.phase == .paused && rollout.stepIndex == 1, "in the 30 s pause at 10 %")
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        clock.advance(.seconds(5))
        let effects = rollout.handle(.promote(full: false), at: clock.now)
        #expect(effects.weights == [50], "the next step runs")
        #expect(rollout.phase == .analyzing && rollout.stepIndex == 3, "and its analysis still gates")
        #expect(effects.eventKinds.first == "step.promoted")
    }

    @Test func promoteWithoutFullDoesNotSkipAnAnalysisStep() {
        var clock = FakeClock()
        var rollout = started(canary, clock: clock)
        _ = rollout.handle(.candidateReady, at: clock.now)
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        clock.advance(.seconds(30))
        _ = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .analyzing)
        let frozen = rollout
        #expect(rollout.handle(.promote(full: false), at: clock.now).isEmpty)
        #expect(rollout == frozen)
    }

    @Test func fullPromoteSaysTheAnalysisItSkipped() {
        var (rollout, now) = PhaseSetup.paused.make()
        let effects = rollout.handle(.promote(full: true), at: now)
        let skipped = effects.compactMap { if case let .record(e) = $0, e.kind == "step.promoted" { return e } else { return nil } }.first
        #expect(skipped?.evidence["analysisSkipped"] == "true")
        #expect(skipped?.message.contains("analysis") == true)
    }

    @Test func firstDeployGoesStraightToFullTraffic() {
        let now = FakeClock().now
        var rollout = started(canary, stable: nil)
        let effects = rollout.handle(.candidateReady, at: now)
        #expect(rollout.phase == .promoted)
        #expect(effects.weights == [100])
        #expect(effects.contains(.replaceStableWithCandidate), "the first version's instances become the stable set")
    }

    @Test func blueGreenPreviewSwitchAndScaleDown() {
        var clock = FakeClock()
        let blueGreen = Strategy.blueGreen(BlueGreenSpec(previewListen: nil, autoPromotionAfter: .seconds(10), scaleDownDelay: .seconds(20)))
        var rollout = started(blueGreen, clock: clock)
        var effects = rollout.handle(.candidateReady, at: clock.now)
        #expect(rollout.phase == .preview && effects.weights == [0])
        clock.advance(.seconds(10))
        effects = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .switched && effects.weights == [100])
        #expect(!effects.contains(.replaceStableWithCandidate), "the old version stays warm")
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        clock.advance(.seconds(20))
        effects = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .promoted)
        #expect(effects.contains(.replaceStableWithCandidate))
    }

    @Test func aSwitchedBlueGreenWithoutEvidenceKeepsTheOldVersionWarmThenSwitchesBack() {
        var clock = FakeClock()
        var rollout = started(.blueGreen(BlueGreenSpec(autoPromotionAfter: .seconds(10), scaleDownDelay: .seconds(20))), clock: clock)
        _ = rollout.handle(.candidateReady, at: clock.now)
        clock.advance(.seconds(10))
        _ = rollout.handle(.tick, at: clock.now)
        clock.advance(.seconds(20))
        let waiting = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .switched && waiting.eventKinds == ["evidence.waiting"], "the old version is not stopped on time alone")
        clock.advance(.seconds(121))
        let effects = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .noEvidence)
        #expect(effects.firstAction == .setCandidateWeight(0), "back to the warm old version at once")
    }

    @Test func blueGreenRollbackAfterSwitchIsInstant() {
        var clock = FakeClock()
        var rollout = started(.blueGreen(BlueGreenSpec(scaleDownDelay: .seconds(60))), clock: clock)
        _ = rollout.handle(.candidateReady, at: clock.now)
        #expect(rollout.phase == .preview)
        clock.advance(.seconds(500))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty, "without autoPromotionAfter the preview waits")
        _ = rollout.handle(.promote(full: false), at: clock.now)
        #expect(rollout.phase == .switched && rollout.candidateWeight == 100)
        let effects = rollout.handle(.measurement(measurement(.fail)), at: clock.now)
        #expect(rollout.phase == .rolledBack)
        #expect(effects.firstAction == .setCandidateWeight(0))
    }

    @Test func resumeWithLiveInstancesReappliesTheCurrentWeight() {
        var (rollout, now) = PhaseSetup.analyzing.make()
        let weight = rollout.candidateWeight
        let effects = rollout.handle(.resume(candidateInstancesAlive: true), at: now)
        #expect(effects.contains(.ensureCandidateInstances))
        #expect(effects.weights == [weight])
        #expect(rollout.phase == .analyzing)
    }

    @Test func resumeAfterADeadlinePassedRollsBackBeforeAnythingElse() {
        var (rollout, now) = PhaseSetup.starting.make()
        now = now + .seconds(3600)
        let effects = rollout.handle(.resume(candidateInstancesAlive: true), at: now)
        #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .startupDeadline)
        #expect(effects.firstAction == .setCandidateWeight(0))
        #expect(!effects.contains(.ensureCandidateInstances), "no instances started just to be stopped")
    }

    @Test func resumeWithoutInstancesRollsBack() {
        for phaseSetup in PhaseSetup.allCases where phaseSetup != .starting {
            var (rollout, now) = phaseSetup.make()
            _ = rollout.handle(.resume(candidateInstancesAlive: false), at: now)
            #expect(rollout.phase == .rolledBack)
            #expect(rollout.trigger?.kind == .instancesLost)
        }
    }

    @Test func resumeWhileStartingStartsTheMissingInstances() {
        var (rollout, now) = PhaseSetup.starting.make()
        let effects = rollout.handle(.resume(candidateInstancesAlive: false), at: now)
        #expect(rollout.phase == .starting)
        #expect(effects.contains(.ensureCandidateInstances))
    }

    @Test func stateSurvivesEncodingForTheStore() throws {
        let (rollout, _) = PhaseSetup.analyzing.make()
        let data = try JSONEncoder().encode(rollout)
        #expect(try JSONDecoder().decode(Rollout.self, from: data) == rollout)
    }
}

/// A rollout brought to each live phase.
enum PhaseSetup: CaseIterable {
    case starting, paused, analyzing, preview, switched

    func make() -> (Rollout, Moment) {
        var clock = FakeClock()
        let strategy: Strategy =
            switch self {
            case .preview, .switched: .blueGreen(BlueGreenSpec())
            default: .canary(CanarySpec(steps: [.setWeight(10), .pause(.seconds(30)), .setWeight(40), .analysis(passes: 5)]))
            }
        var rollout = Rollout(id: 7, service: service(strategy: strategy), revision: 3, stableVersion: v1, candidateVersion: v2, at: clock.now)
        clock.advance(.seconds(1))
        switch self {
        case .starting:
            break
        case .paused, .preview:
            _ = rollout.handle(.candidateReady, at: clock.now)
        case .analyzing:
            _ = rollout.handle(.candidateReady, at: clock.now)
            _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
            clock.advance(.seconds(30))
            _ = rollout.handle(.tick, at: clock.now)
        case .switched:
            _ = rollout.handle(.candidateReady, at: clock.now)
            _ = rollout.handle(.promote(full: false), at: clock.now)
        }
        return (rollout, clock.now)
    }
}

/// Lifecycle hooks in the state machine: gating points hold the rollout until `hooksFinished`.
@Suite(.tags(.unit)) struct RolloutHookTests {
    let canary = Strategy.canary(CanarySpec(steps: [.setWeight(10), .pause(.seconds(30)), .setWeight(50)]))

    func rollout(_ points: [HookPoint], strategy: Strategy? = nil, clock: FakeClock = FakeClock()) -> Rollout {
        var spec = service(strategy: strategy ?? canary)
        spec.hooks = points.map { HookSpec(name: $0.rawValue, point: $0, action: .command("true")) }
        return Rollout(id: 1, service: spec, revision: 2, stableVersion: v1, candidateVersion: v2, at: clock.now)
    }

    @Test func beforeDeployHooksRunBeforeAnyInstanceStarts() {
        let clock = FakeClock()
        var rollout = rollout([.beforeDeploy])
        #expect(rollout.start().contains(.runHooks(.beforeDeploy)) && !rollout.start().contains(.ensureCandidateInstances))
        #expect(rollout.handle(.candidateReady, at: clock.now).isEmpty, "nothing moves while the hooks run")
        #expect(rollout.handle(.hooksFinished(.beforeDeploy, failure: nil), at: clock.now) == [.ensureCandidateInstances])
        #expect(rollout.pendingHook == nil && rollout.phase == .starting)
    }

    @Test func afterStartAndBeforeTrafficGateTheFirstStep() {
        let clock = FakeClock()
        var rollout = rollout([.afterStart, .beforeTraffic])
        var effects = rollout.handle(.candidateReady, at: clock.now)
        #expect(effects.contains(.runHooks(.afterStart)) && effects.weights == [0], "published for pinned requests only")
        #expect(rollout.candidateRoutable && rollout.phase == .starting)
        effects = rollout.handle(.hooksFinished(.afterStart, failure: nil), at: clock.now)
        #expect(effects == [.setCandidateWeight(0), .runHooks(.beforeTraffic)])
        effects = rollout.handle(.hooksFinished(.beforeTraffic, failure: nil), at: clock.now)
        #expect(effects.weights == [10] && rollout.pendingHook == nil)
    }

    @Test func timersWaitForAfterStepHooks() {
        var clock = FakeClock()
        var rollout = rollout([.afterStep])
        var effects = rollout.handle(.candidateReady, at: clock.now)
        #expect(effects.weights == [10] && effects.last == .runHooks(.afterStep) && rollout.pendingHook == .afterStep)
        clock.advance(.seconds(60))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty, "the pause does not even begin before the hooks pass")
        effects = rollout.handle(.hooksFinished(.afterStep, failure: nil), at: clock.now)
        #expect(effects.eventKinds == ["step.pause"] && rollout.phase == .paused)
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        clock.advance(.seconds(31))
        #expect(rollout.handle(.tick, at: clock.now) == [.runHooks(.afterStep)], "the pause step is done: its hooks run")
        effects = rollout.handle(.hooksFinished(.afterStep, failure: nil), at: clock.now)
        #expect(effects.weights == [50] && effects.last == .runHooks(.afterStep))
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        effects = rollout.handle(.hooksFinished(.afterStep, failure: nil), at: clock.now)
        #expect(rollout.phase == .promoted && effects.weights == [100])
    }

    @Test func aFailingHookRollsBackWithItsOutputAsEvidence() {
        let clock = FakeClock()
        var rollout = rollout([.afterStart])
        _ = rollout.handle(.candidateReady, at: clock.now)
        let failure = Trigger(kind: .hookFailed, message: "hook smoke (afterStart) exited with status 3", evidence: ["output": "checkout: 500"])
        let effects = rollout.handle(.hooksFinished(.afterStart, failure: failure), at: clock.now)
        #expect(effects.firstAction == .setCandidateWeight(0))
        #expect(effects.rollbackEvidence?["trigger"] == "hookFailed" && effects.rollbackEvidence?["output"] == "checkout: 500")
        #expect(rollout.phase == .rolledBack && rollout.pendingHook == nil)
    }

    @Test func staleReportsAreIgnoredAndResumeRunsThePendingHooksAgain() {
        let clock = FakeClock()
        var rollout = rollout([.afterStart, .beforeTraffic])
        _ = rollout.handle(.candidateReady, at: clock.now)
        #expect(rollout.handle(.hooksFinished(.beforeTraffic, failure: nil), at: clock.now).isEmpty)
        #expect(rollout.handle(.promote(full: true), at: clock.now).isEmpty, "a promote does not skip running hooks")
        let resumed = rollout.handle(.resume(candidateInstancesAlive: true), at: clock.now)
        #expect(resumed.last == .runHooks(.afterStart) && rollout.pendingHook == .afterStart)
    }

    @Test func blueGreenRunsBeforeTrafficHooksBeforeTheSwitch() {
        var clock = FakeClock()
        var rollout = rollout([.beforeTraffic], strategy: .blueGreen(BlueGreenSpec(autoPromotionAfter: .seconds(5))))
        _ = rollout.handle(.candidateReady, at: clock.now)
        #expect(rollout.phase == .preview)
        clock.advance(.seconds(6))
        #expect(rollout.handle(.tick, at: clock.now) == [.setCandidateWeight(0), .runHooks(.beforeTraffic)])
        let effects = rollout.handle(.hooksFinished(.beforeTraffic, failure: nil), at: clock.now)
        #expect(effects.weights == [100] && rollout.phase == .switched)
    }

    @Test func promotionAndRollbackTellTheirHooks() {
        let clock = FakeClock()
        var promoted = rollout([.afterPromotion, .onRollback], strategy: .canary(CanarySpec(steps: [])))
        #expect(promoted.handle(.candidateReady, at: clock.now).last == .runHooks(.afterPromotion))
        var aborted = rollout([.afterPromotion, .onRollback])
        _ = aborted.handle(.candidateReady, at: clock.now)
        #expect(aborted.handle(.abort(reason: "by hand"), at: clock.now).last == .runHooks(.onRollback))
        #expect(aborted.pendingHook == nil, "told, not waited for")
    }

    @Test func theEventsOfARequestedInputNameWhoSentItAndNoOthers() {
        var clock = FakeClock()
        let canary = Strategy.canary(CanarySpec(steps: [.setWeight(10), .pause(nil)]))
        var rollout = Rollout(id: 1, service: service(strategy: canary), revision: 2, stableVersion: v1, candidateVersion: v2, at: clock.now)
        let ready = rollout.handle(.candidateReady, at: clock.now)
        #expect(ready.allSatisfy { if case let .record(event) = $0 { event.actor == nil } else { true } }, "Ripcord's own decisions have no actor")
        clock.advance(.seconds(1))
        var copy = rollout
        let plain = copy.handle(.abort(reason: "by hand"), at: clock.now)
        let requested = rollout.handle(RolloutInput.abort(reason: "by hand").sent(by: "release-bot"), at: clock.now)
        #expect(rollout == copy, "the actor changes nothing but the events")
        #expect(requested.eventKinds == plain.eventKinds && requested.weights == plain.weights)
        let actors = requested.compactMap { if case let .record(event) = $0 { event.actor } else { nil } }
        #expect(!actors.isEmpty && actors.allSatisfy { $0 == "release-bot" })
        #expect(RolloutInput.tick.sent(by: nil) == .tick)
    }
}

/// Evidence before promotion: time alone never moves a canary of a service with analysis on.
@Suite(.tags(.unit)) struct EvidenceGateTests {
    let steps = Strategy.canary(CanarySpec(steps: [.setWeight(10), .pause(.seconds(30)), .setWeight(50), .pause(.seconds(30))]))

    func started(analysis: AnalysisSpec? = AnalysisSpec(), clock: FakeClock) -> Rollout {
        var spec = service(strategy: steps, analysis: analysis)
        spec.progressDeadline = .seconds(120)
        var rollout = Rollout(id: 1, service: spec, revision: 2, stableVersion: v1, candidateVersion: v2, at: clock.now)
        _ = rollout.handle(.candidateReady, at: clock.now)
        return rollout
    }

    @Test func aQuietStepWaitsForEvidenceInsteadOfMovingOnWhenItsPauseEnds() {
        var clock = FakeClock()
        var rollout = started(clock: clock)
        clock.advance(.seconds(30))
        let effects = rollout.handle(.tick, at: clock.now)
        #expect(effects.weights.isEmpty, "no traffic moves without a passed window at 10 %")
        #expect(effects.eventKinds == ["evidence.waiting"])
        #expect(rollout.phase == .paused && rollout.candidateWeight == 10 && rollout.awaitingEvidenceSince == clock.now)
        clock.advance(.seconds(60))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty)
        #expect(rollout.handle(.promote(full: false), at: clock.now).isEmpty, "a plain promote does not skip analysis")
    }

    @Test func aPassedWindowAtTheWeightLetsTheRolloutGoOn() {
        var clock = FakeClock()
        var rollout = started(clock: clock)
        clock.advance(.seconds(30))
        _ = rollout.handle(.tick, at: clock.now)
        let effects = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        #expect(effects.eventKinds.contains("evidence.received"))
        #expect(effects.weights == [50] && rollout.phase == .paused && rollout.awaitingEvidenceSince == nil)
    }

    @Test func windowsPassedAtOneWeightDoNotCountAtTheNext() {
        var clock = FakeClock()
        var rollout = started(clock: clock)
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        clock.advance(.seconds(30))
        #expect(rollout.handle(.tick, at: clock.now).weights == [50], "10 % had its evidence during the pause")
        clock.advance(.seconds(30))
        let effects = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .paused && effects.eventKinds == ["evidence.waiting"], "50 % needs its own")
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        #expect(rollout.phase == .promoted)
    }

    @Test func noEvidenceByTheProgressDeadlineRollsBackSayingHowManyRequestsWereSeen() {
        var clock = FakeClock()
        var rollout = started(clock: clock)
        clock.advance(.seconds(30))
        _ = rollout.handle(.tick, at: clock.now)
        _ = rollout.handle(.candidateTraffic(requestsAtWeight: 4), at: clock.now)
        _ = rollout.handle(.measurement(measurement(.inconclusive, requests: 4)), at: clock.now)
        clock.advance(.seconds(121))
        let effects = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .noEvidence)
        #expect(effects.firstAction == .setCandidateWeight(0))
        #expect(effects.rollbackEvidence?["requestsSeen"] == "4" && effects.rollbackEvidence?["passedWindows"] == "0")
        #expect(rollout.trigger?.message.contains("4 requests seen") == true)
    }

    @Test func onNoEvidencePauseHoldsForAHumanInsteadOfRollingBack() {
        var clock = FakeClock()
        var rollout = started(analysis: AnalysisSpec(onNoEvidence: .pause), clock: clock)
        clock.advance(.seconds(30))
        _ = rollout.handle(.tick, at: clock.now)
        clock.advance(.seconds(121))
        let effects = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .paused && effects.eventKinds == ["rollout.paused"])
        clock.advance(.seconds(3600))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty, "paused once, not again every tick")
        _ = rollout.handle(.promote(full: true), at: clock.now)
        #expect(rollout.phase == .promoted, "a human may still skip analysis, in writing")
    }

    @Test func anUnanalyzedCanaryMovesOnTime() {
        var clock = FakeClock()
        var rollout = started(analysis: nil, clock: clock)
        clock.advance(.seconds(30))
        #expect(rollout.handle(.tick, at: clock.now).weights == [50])
    }

    @Test func theDefaultProgressDeadlineFollowsTheStrategy() {
        let analysis = AnalysisSpec(interval: .seconds(10), minPassedWindows: 2)
        // Two pauses of 30 s, and 2 × 10 s × 2 windows for each of four steps.
        #expect(steps.proportionalProgressDeadline(analysis: analysis) == .seconds(220))
        #expect(Strategy.canary(CanarySpec(steps: [.setWeight(10)])).proportionalProgressDeadline(analysis: AnalysisSpec()) == .seconds(120))
    }
}

@Suite(.tags(.unit)) struct SyntheticTrafficPacerTests {
    @Test func sendsOnlyWhileRealRequestsStayBelowAWindowsWorth() {
        var pacer = SyntheticTrafficPacer(minRequests: 10)
        #expect(pacer.sending, "until an interval is measured, traffic is presumed thin")
        #expect(pacer.intervalEnded(candidateRequests: 100, sent: 0) == nil, "the first call only sets the start")
        // 12 answered, 10 of them synthetic: 2 real.
        #expect(pacer.intervalEnded(candidateRequests: 112, sent: 10)! == (false, 2) && pacer.sending)
        // 40 answered, 10 synthetic: 30 real, enough.
        #expect(pacer.intervalEnded(candidateRequests: 152, sent: 20)! == (true, 30) && !pacer.sending)
        #expect(pacer.intervalEnded(candidateRequests: 155, sent: 20)! == (true, 3) && pacer.sending, "real traffic fell: send again")
    }
}

/// A human's pause (hold) and resume, and the confirm step.
@Suite(.tags(.unit)) struct ManualGateTests {
    let strategy = Strategy.canary(CanarySpec(steps: [.setWeight(10), .pause(.seconds(30)), .setWeight(50), .confirm(message: "check the dashboards")]))

    func started(clock: FakeClock) -> Rollout {
        var rollout = Rollout(id: 1, service: service(strategy: strategy), revision: 2, stableVersion: v1, candidateVersion: v2, at: clock.now)
        _ = rollout.handle(.candidateReady, at: clock.now)
        return rollout
    }

    @Test func aHeldRolloutStopsItsTimersButAFailedWindowStillRollsItBack() {
        var clock = FakeClock()
        var rollout = started(clock: clock)
        #expect(rollout.handle(.hold(reason: "incident elsewhere"), at: clock.now).eventKinds == ["rollout.held"])
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        clock.advance(.seconds(3600))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty, "neither the pause nor a deadline moves a held rollout")
        let effects = rollout.handle(.measurement(measurement(.fail)), at: clock.now)
        #expect(rollout.phase == .rolledBack && effects.firstAction == .setCandidateWeight(0))
    }

    @Test func resumeGoesOnWhereTheHoldStoppedThePause() {
        var clock = FakeClock()
        var rollout = started(clock: clock)
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        clock.advance(.seconds(10))
        _ = rollout.handle(.hold(reason: "look first"), at: clock.now)
        clock.advance(.seconds(100))
        #expect(rollout.handle(.unhold, at: clock.now).eventKinds == ["rollout.unheld"])
        clock.advance(.seconds(19))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty, "20 s of the pause were left")
        clock.advance(.seconds(1))
        #expect(rollout.handle(.tick, at: clock.now).weights == [50])
    }

    @Test func aConfirmStepWaitsForPromoteAndSaysWhatToCheck() {
        var clock = FakeClock()
        var rollout = started(clock: clock)
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        clock.advance(.seconds(30))
        let effects = rollout.handle(.tick, at: clock.now)
        let confirm = effects.compactMap { if case let .record(e) = $0, e.kind == "step.confirm" { return e } else { return nil } }.first
        #expect(confirm?.evidence["message"] == "check the dashboards" && rollout.phase == .paused)
        clock.advance(.seconds(3600))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty)
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        _ = rollout.handle(.promote(full: false), at: clock.now)
        #expect(rollout.phase == .promoted)
    }
}
