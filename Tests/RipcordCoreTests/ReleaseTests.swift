import Foundation
import RipcordCore
import RipcordTestSupport
import Testing

@Suite(.tags(.unit)) struct VersionRangeTests {
    func admits(_ range: String, _ version: String) throws -> Bool {
        try VersionRange(parsing: range).admits(SemanticVersion(parsing: version))
    }

    @Test func comparatorsAllMustHold() throws {
        #expect(try admits(">=2.1.0 <3.0.0", "2.1.0"))
        #expect(try admits(">=2.1.0 <3.0.0", "2.9.9"))
        #expect(try !admits(">=2.1.0 <3.0.0", "2.0.9"))
        #expect(try !admits(">=2.1.0 <3.0.0", "3.0.0"))
        #expect(try admits(">2.1.0 <=2.2.0", "2.2.0"))
        #expect(try !admits(">2.1.0", "2.1.0"))
        #expect(try admits(">=2.1", "2.1.0"), "a partial version fills in zeros")
        #expect(try admits("<=2.1", "2.1.7"), "<= a partial version takes all of it")
        #expect(try !admits("<=2.1", "2.2.0"))
    }

    @Test func exactWildcardCaretTildeHyphenAndAlternatives() throws {
        #expect(try admits("2.1.0", "2.1.0") && !admits("2.1.0", "2.1.1"))
        #expect(try admits("=2.1.0", "2.1.0"))
        #expect(try admits("2.x", "2.7.1") && !admits("2.x", "3.0.0") && !admits("2.x", "1.9.0"))
        #expect(try admits("2.1.*", "2.1.4") && !admits("2.1.*", "2.2.0"))
        #expect(try admits("*", "0.0.1"))
        #expect(try admits("^2.1.3", "2.9.0") && !admits("^2.1.3", "2.1.2") && !admits("^2.1.3", "3.0.0"))
        #expect(try admits("^0.2.3", "0.2.9") && !admits("^0.2.3", "0.3.0"), "caret keeps the first non-zero part")
        #expect(try admits("~2.1.3", "2.1.9") && !admits("~2.1.3", "2.2.0"))
        #expect(try admits("2.1.0 - 2.4", "2.4.9") && !admits("2.1.0 - 2.4", "2.5.0") && !admits("2.1.0 - 2.4", "2.0.0"))
        #expect(try admits("1.x || >=3.0.0", "1.4.0") && admits("1.x || >=3.0.0", "3.1.0") && !admits("1.x || >=3.0.0", "2.0.0"))
    }

    @Test func badRangesAreRefusedWithTheText() {
        for text in ["", ">=", "abc", "2.1.0.4", ">=2.1.0 ||", "2.1-rc.1"] {
            #expect(throws: VersionRange.ParseError.self, "\(text)") { try VersionRange(parsing: text) }
        }
        #expect((try? VersionRange(parsing: ">=2.1.0 <3.0.0"))?.description == ">=2.1.0 <3.0.0")
    }
}

@Suite(.tags(.unit)) struct ReleaseConstraintTests {
    let v = { (text: String) in try! SemanticVersion(parsing: text) }
    let range = { (text: String) in try! VersionRange(parsing: text) }

    @Test func aRequirementIsCheckedAgainstWhatTheReleaseBringsAndWhatRuns() {
        let manifest = ReleaseManifest(services: [ReleaseTarget(service: "checkout", version: v("2.0.0"), requires: ["payments": range(">=2.1.0 <3.0.0")])])
        let running: [String: (version: SemanticVersion?, requires: [String: VersionRange])] = [
            "checkout": (v("1.0.0"), [:]), "payments": (v("2.0.0"), [:]),
        ]
        let violations = ReleaseConstraints.violations(of: manifest, running: running)
        #expect(violations.count == 1)
        #expect(violations.first?.description == "checkout 2.0.0 (in this release) requires payments >=2.1.0 <3.0.0, but running is payments 2.0.0")

        var both = manifest
        both.services.append(ReleaseTarget(service: "payments", version: v("2.1.0")))
        #expect(ReleaseConstraints.violations(of: both, running: running).isEmpty, "the release brings a payments that fits")
    }

    @Test func aRunningServicesRequirementGuardsWhatItDependsOn() {
        let running: [String: (version: SemanticVersion?, requires: [String: VersionRange])] = [
            "checkout": (v("2.0.0"), ["payments": range("2.x")]), "payments": (v("2.1.0"), [:]),
        ]
        let manifest = ReleaseManifest(services: [ReleaseTarget(service: "payments", version: v("3.0.0"))])
        let violations = ReleaseConstraints.violations(of: manifest, running: running)
        #expect(violations.map(\.description) == ["checkout 2.0.0 (running) requires payments 2.x, but the release brings payments 3.0.0"])
    }

    @Test func aMissingServiceIsAViolation() {
        let manifest = ReleaseManifest(services: [ReleaseTarget(service: "checkout", version: v("2.0.0"), requires: ["payments": range(">=1.0.0")])])
        let violations = ReleaseConstraints.violations(of: manifest, running: ["checkout": (v("1.0.0"), [:]), "payments": (nil, [:])])
        #expect(violations.first?.description == "checkout 2.0.0 (in this release) requires payments >=1.0.0, but payments has no version (not running)")
    }
}

/// The release barriers in the rollout machine and the coordination decided from members' states.
@Suite(.tags(.unit)) struct ReleaseCoordinationTests {
    let steps = Strategy.canary(CanarySpec(steps: [.setWeight(10), .pause(.seconds(30)), .setWeight(50)]))

    func member(_ name: String, strategy: Strategy, id: Int64, clock: FakeClock) -> Rollout {
        var spec = service(strategy: strategy, analysis: nil)
        spec.name = name
        var rollout = Rollout(id: id, service: spec, revision: 2, stableVersion: v1, candidateVersion: v2, at: clock.now)
        rollout.release = 7
        return rollout
    }

    func release(_ rollouts: [Rollout]) -> Release {
        Release(
            id: 7, name: "r", kind: .apply, manifest: ReleaseManifest(services: rollouts.map { ReleaseTarget(service: $0.service, version: v2) }),
            members: rollouts.map { ReleaseMember(service: $0.service, rolloutID: $0.id, version: v2, previousRevision: 1, previousVersion: v1) },
            createdAt: FakeClock().now)
    }

    @Test func aMemberHoldsAtEveryBarrierUntilLetThrough() {
        var clock = FakeClock()
        var rollout = member("checkout", strategy: steps, id: 1, clock: clock)
        var effects = rollout.handle(.candidateReady, at: clock.now)
        #expect(rollout.heldAt == .traffic && effects.weights.isEmpty && effects.eventKinds.contains("release.waiting"))
        #expect(rollout.handle(.candidateReady, at: clock.now).isEmpty, "holding again changes nothing")
        #expect(rollout.handle(.promote(full: true), at: clock.now).isEmpty, "a member is never promoted alone")

        effects = rollout.handle(.releaseProceed(.traffic), at: clock.now)
        #expect(effects.weights == [10] && rollout.heldAt == .step(1), "10 %, then wait before the pause step")
        #expect(rollout.handle(.releaseProceed(.step(2)), at: clock.now).isEmpty, "only the barrier it waits at opens")
        effects = rollout.handle(.releaseProceed(.step(1)), at: clock.now)
        #expect(rollout.phase == .paused && rollout.heldAt == nil)
        clock.advance(.seconds(30))
        effects = rollout.handle(.tick, at: clock.now)
        #expect(effects.weights.isEmpty && rollout.heldAt == .step(2))
        clock.advance(.seconds(300))
        #expect(rollout.handle(.tick, at: clock.now).isEmpty, "no timer moves a held member on")
        effects = rollout.handle(.releaseProceed(.step(2)), at: clock.now)
        #expect(effects.weights == [50] && rollout.heldAt == .promotion && rollout.phase == .paused)
        effects = rollout.handle(.releaseProceed(.promotion), at: clock.now)
        #expect(rollout.phase == .promoted && effects.contains(.replaceStableWithCandidate))
    }

    @Test func heldMembersGoOnTogetherAtTheEarliestBarrier() {
        let clock = FakeClock()
        var checkout = member("checkout", strategy: steps, id: 1, clock: clock)
        var payments = member("payments", strategy: .blueGreen(BlueGreenSpec()), id: 2, clock: clock)
        let release = release([checkout, payments])
        #expect(release.coordinate(["checkout": checkout, "payments": payments]).isEmpty, "nobody waits yet")
        _ = checkout.handle(.candidateReady, at: clock.now)
        #expect(release.coordinate(["checkout": checkout, "payments": payments]).isEmpty, "payments is still starting")
        _ = payments.handle(.candidateReady, at: clock.now)
        #expect(payments.heldAt == .promotion, "blue-green without a preview period waits to switch with the release")
        #expect(
            release.coordinate(["checkout": checkout, "payments": payments]) == [.proceed(service: "checkout", .traffic)],
            "the canary's steps come first; blue-green waits for them at promotion")
        _ = checkout.handle(.releaseProceed(.traffic), at: clock.now)
        _ = checkout.handle(.releaseProceed(.step(1)), at: clock.now)
        var later = clock
        later.advance(.seconds(30))
        _ = checkout.handle(.tick, at: later.now)
        _ = checkout.handle(.releaseProceed(.step(2)), at: later.now)
        #expect(
            Set(release.coordinate(["checkout": checkout, "payments": payments]).map { "\($0)" })
                == Set([ReleaseAction.proceed(service: "checkout", .promotion), .proceed(service: "payments", .promotion)].map { "\($0)" }))
    }

    @Test func oneFailureRollsEveryMemberBackNamingTheCause() {
        let clock = FakeClock()
        var checkout = member("checkout", strategy: steps, id: 1, clock: clock)
        var payments = member("payments", strategy: steps, id: 2, clock: clock)
        let release = release([checkout, payments])
        _ = checkout.handle(.candidateReady, at: clock.now)
        _ = payments.handle(.candidateFailed(Trigger(kind: .healthCheckFailed, message: "instance p1 failed 3 health checks")), at: clock.now)
        let actions = release.coordinate(["checkout": checkout, "payments": payments])
        guard case let .rollBack("checkout", trigger)? = actions.first else {
            Issue.record("expected checkout to roll back, got \(actions)")
            return
        }
        #expect(actions.count == 1, "the release finishes once checkout has rolled back too")
        #expect(
            trigger.kind == .releasePartnerFailed && trigger.evidence["causeService"] == "payments"
                && trigger.evidence["causeTrigger"] == "healthCheckFailed")
        _ = checkout.handle(.candidateFailed(trigger), at: clock.now)
        #expect(
            release.coordinate(["checkout": checkout, "payments": payments])
                == [.finish(.rolledBack, cause: ReleaseCause(service: "payments", trigger: payments.trigger!))],
            "the cause is the member that failed on its own, not the one rolled back for it")
    }

    @Test func aPromotedMemberIsUndoneWhenAnotherFailsLater() {
        let clock = FakeClock()
        var checkout = member("checkout", strategy: .canary(CanarySpec(steps: [])), id: 1, clock: clock)
        var payments = member("payments", strategy: .blueGreen(BlueGreenSpec(scaleDownDelay: .seconds(30))), id: 2, clock: clock)
        _ = checkout.handle(.candidateReady, at: clock.now)
        _ = checkout.handle(.releaseProceed(.traffic), at: clock.now)
        _ = checkout.handle(.releaseProceed(.promotion), at: clock.now)
        _ = payments.handle(.candidateReady, at: clock.now)
        _ = payments.handle(.releaseProceed(.promotion), at: clock.now)
        #expect(checkout.phase == .promoted && payments.phase == .switched)
        _ = payments.handle(.candidateFailed(Trigger(kind: .alert, message: "HighErrorRate")), at: clock.now)
        let actions = release([checkout, payments]).coordinate(["checkout": checkout, "payments": payments])
        #expect(actions.first == .undo(service: "checkout", toRevision: 1))
        #expect(actions.last == .finish(.rolledBack, cause: ReleaseCause(service: "payments", trigger: payments.trigger!)))
    }
}
