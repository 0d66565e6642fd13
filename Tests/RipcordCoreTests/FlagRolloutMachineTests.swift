import Foundation
import RipcordCore
import RipcordTestSupport
import Testing

/// Drives the guarded flag rollout machine with a fake clock: steps, the kill switch on a regression
/// or an exhausted deadline, abort, and repeating unconfirmed effects after a restart.
@Suite(.tags(.unit)) struct FlagRolloutMachineTests {
    static let plan = FlagRolloutPlan(
        flag: "new-checkout", environment: "default",
        steps: [1, 5, 25, 100].map { FlagRolloutStep(percentage: $0, duration: .seconds(30)) }, service: "checkout",
        analysis: AnalysisSpec(failureLimit: 1), progressDeadline: .seconds(60))

    func started(_ plan: FlagRolloutPlan = Self.plan, clock: FakeClock) -> (FlagRollout, [FlagRolloutEffect]) {
        var rollout = FlagRollout(id: 7, plan: plan, at: clock.now)
        let effects = rollout.start()
        return (rollout, effects)
    }

    @Test func stepsRiseAfterTheirDurationOnceAnalysisPassedAndTheLastCompletes() {
        var clock = FakeClock()
        var (rollout, effects) = started(clock: clock)
        #expect(effects.actions == [.setPercentage(1), .enableFlag], "the percentage is set before the flag turns on")
        #expect(effects.eventKinds == ["flagRollout.started", "flagRollout.step"])
        #expect(rollout.pendingEffects == [.setPercentage(1), .enableFlag])
        rollout.effectsApplied()
        for (index, next) in [5, 25, 100].enumerated() {
            clock.advance(.seconds(30))
            #expect(rollout.handle(.tick, at: clock.now).isEmpty, "step \(index + 1) has no passing measurement yet")
            #expect(rollout.handle(.measurement(measurement(.pass)), at: clock.now).eventKinds == ["flagRollout.measurement"])
            clock.advance(.milliseconds(100))
            #expect(rollout.handle(.tick, at: clock.now).actions == [.setPercentage(next)])
            #expect(rollout.percentage == next && rollout.stepIndex == index + 1)
            rollout.effectsApplied()
        }
        _ = rollout.handle(.measurement(measurement(.pass)), at: clock.now)
        clock.advance(.seconds(29))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty, "the last step holds for its duration too")
        clock.advance(.seconds(1))
        #expect(rollout.handle(.tick, at: clock.now).eventKinds == ["flagRollout.completed"])
        #expect(rollout.phase == .completed && rollout.percentage == 100 && rollout.isSettled)
        #expect(rollout.handle(.measurement(measurement(.fail)), at: clock.now).isEmpty, "a finished rollout ignores inputs")
    }

    @Test func failuresBeyondTheLimitTurnTheFlagOffWithTheEvidence() throws {
        var clock = FakeClock()
        var (rollout, _) = started(clock: clock)
        rollout.effectsApplied()
        clock.advance(.seconds(5))
        #expect(rollout.handle(.measurement(measurement(.fail, errors: 40)), at: clock.now).actions.isEmpty, "one failure is within failureLimit 1")
        let effects = rollout.handle(.measurement(measurement(.fail, errors: 45)), at: clock.now)
        guard case let .disableFlag(reason)? = effects.actions.first else {
            Issue.record("no kill switch: \(effects)")
            return
        }
        #expect(reason.contains("guarded rollout 7") && reason.contains("analysis: error rate too high"))
        #expect(rollout.phase == .disabled && rollout.trigger?.kind == .analysis)
        let disabled = try #require(effects.events.first { $0.kind == "flagRollout.disabled" })
        #expect(disabled.evidence["errors"] == "45" && disabled.evidence["failures"] == "2" && disabled.evidence["percentage"] == "1")
        #expect(!rollout.isSettled, "the kill switch is still to be carried out")
    }

    @Test func aMetricFailureOrAnAbortTurnsTheFlagOff() {
        let clock = FakeClock()
        var (metric, _) = started(clock: clock)
        _ = metric.handle(.metricFailed(Trigger(kind: .analysis, message: "metric p99 = 2 met result > 1")), at: clock.now)
        #expect(metric.phase == .disabled && metric.trigger?.message == "metric p99 = 2 met result > 1")
        var aborted = started(clock: clock).0
        #expect(aborted.handle(.abort(reason: "support tickets"), at: clock.now).actions.count == 1)
        #expect(aborted.trigger?.kind == .abort)
    }

    @Test func aStepWithNoPassingAnalysisTurnsTheFlagOffAtItsDeadline() {
        var clock = FakeClock()
        var (rollout, _) = started(clock: clock)
        clock.advance(.seconds(90))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty)
        clock.advance(.milliseconds(1))
        _ = rollout.handle(.tick, at: clock.now)
        #expect(rollout.phase == .disabled && rollout.trigger?.kind == .progressDeadline)
    }

    @Test func withoutRouterLimitsStepsAdvanceOnTimeAlone() {
        var plan = Self.plan
        plan.analysis.maxErrorRate = nil
        var clock = FakeClock()
        var (rollout, _) = started(plan, clock: clock)
        clock.advance(.seconds(30))
        #expect(rollout.handle(.tick, at: clock.now).actions == [.setPercentage(5)])
    }

    @Test func resumeRepeatsWhatWasNotConfirmedAndNothingOnceSettled() throws {
        var clock = FakeClock()
        var (rollout, _) = started(clock: clock)
        // Crash before the first effects were confirmed: the restored state repeats them, then the current percentage.
        var restored = try JSONDecoder().decode(FlagRollout.self, from: try JSONEncoder().encode(rollout))
        #expect(restored.handle(.resume, at: clock.now).actions == [.setPercentage(1), .enableFlag])
        rollout.effectsApplied()
        #expect(rollout.handle(.resume, at: clock.now).actions == [.setPercentage(1)], "a running rollout re-asserts its percentage")
        rollout.effectsApplied()
        clock.advance(.seconds(1))
        _ = rollout.handle(.abort(reason: "stop"), at: clock.now)
        #expect(rollout.handle(.resume, at: clock.now).actions.count == 1, "the unconfirmed kill switch is repeated")
        rollout.effectsApplied()
        #expect(rollout.handle(.resume, at: clock.now).isEmpty)
        // Created but stopped before its first step was recorded: resuming starts it.
        var fresh = FlagRollout(id: 8, plan: Self.plan, at: clock.now)
        #expect(fresh.handle(.resume, at: clock.now).actions == [.setPercentage(1), .enableFlag])
    }

    @Test func plansAreChecked() {
        func problem(_ percentages: [Int]) -> String? {
            FlagRolloutPlan(
                flag: "f", environment: "default", steps: percentages.map { FlagRolloutStep(percentage: $0, duration: .seconds(1)) },
                service: "s"
            ).problem
        }
        #expect(problem([1, 5, 25, 100]) == nil)
        #expect(problem([]) != nil)
        #expect(problem([5, 5])?.contains("rise") == true)
        #expect(problem([0, 10])?.contains("1 to 100") == true)
        #expect(problem([50, 101]) != nil)
    }
}

extension Array where Element == FlagRolloutEffect {
    var actions: [FlagRolloutEffect] { filter { $0.event == nil } }
    var events: [EventDraft] { compactMap(\.event) }
    var eventKinds: [EventKind] { events.map(\.kind) }
}
