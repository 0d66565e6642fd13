import RipcordCore
import RipcordTestSupport
import Testing

/// The leader election's decisions, driven by hand: claims answered as a shared store would answer
/// them, and the local clock moved with a fake.
@Suite(.tags(.unit)) struct LeadershipMachineTests {
    let settings = LeadershipStateMachine.Settings(renewInterval: .seconds(1), leaseDuration: .seconds(5))
    let database = Moment(millisecondsSinceEpoch: 1_800_000_000_000)

    func lease(_ holder: String, term: Int64, expiresIn span: TimeSpan = .seconds(5)) -> Lease {
        Lease(holder: holder, url: "http://\(holder):7070", term: term, since: database, expiresAt: database + span)
    }

    func claim(_ lease: Lease, now: Moment? = nil) -> LeaseClaim { LeaseClaim(lease: lease, databaseNow: now ?? database) }

    @Test func aControllerThatWinsTheLeaseLeadsAndMayActUntilItsLeaseCouldEnd() {
        var machine = LeadershipStateMachine(me: "a", settings: settings)
        var clock = FakeClock()
        #expect(!machine.mayAct(at: clock.now), "nobody acts before an election")
        let sent = clock.now
        clock.advance(.milliseconds(40))
        #expect(machine.claimed(claim(lease("a", term: 1)), sentAt: sent) == .lead(lease("a", term: 1)))
        #expect(machine.mayAct(at: clock.now))
        // The lease is counted from when the claim left, less the safety margin (10 % of the lease).
        #expect(machine.mayAct(at: sent + .milliseconds(4_499)))
        #expect(!machine.mayAct(at: sent + .milliseconds(4_500)))
    }

    @Test func renewalsInTheSameTermKeepTheLeaderActing() {
        var machine = LeadershipStateMachine(me: "a", settings: settings)
        var clock = FakeClock()
        _ = machine.claimed(claim(lease("a", term: 3)), sentAt: clock.now)
        for _ in 0..<10 {
            clock.advance(.seconds(1))
            #expect(machine.claimed(claim(lease("a", term: 3)), sentAt: clock.now) == .nothing)
            #expect(machine.tick(clock.now) == .nothing)
            #expect(machine.mayAct(at: clock.now))
        }
    }

    @Test func aLeaderWhoseClaimsFailStopsActingBeforeItsLeaseEndsAndStepsDown() {
        var machine = LeadershipStateMachine(me: "a", settings: settings)
        var clock = FakeClock()
        let sent = clock.now
        _ = machine.claimed(claim(lease("a", term: 1)), sentAt: sent)
        // The database is gone: no claim answers. Ticks until the margin before the lease's end change nothing.
        clock.advance(.milliseconds(4_400))
        #expect(machine.tick(clock.now) == .nothing)
        clock.advance(.milliseconds(100))
        guard case .stepDown = machine.tick(clock.now) else {
            Issue.record("a leader past its acting span must step down")
            return
        }
        #expect(!machine.mayAct(at: clock.now))
        #expect(clock.now < sent + settings.leaseDuration, "stepped down before the database could hand the lease on")
        // Once resigned, even a late answer giving it the lease back changes nothing: the process ends.
        #expect(machine.claimed(claim(lease("a", term: 2)), sentAt: clock.now) == .nothing)
        #expect(!machine.mayAct(at: clock.now))
    }

    @Test func aLeaderThatFindsAnotherHoldingTheLeaseStepsDownAtOnce() {
        var machine = LeadershipStateMachine(me: "a", settings: settings)
        let clock = FakeClock()
        _ = machine.claimed(claim(lease("a", term: 1)), sentAt: clock.now)
        guard case let .stepDown(reason) = machine.claimed(claim(lease("b", term: 2)), sentAt: clock.now) else {
            Issue.record("another holder must make the leader step down")
            return
        }
        #expect(reason.contains("b holds the lease in term 2"))
        #expect(!machine.mayAct(at: clock.now))
    }

    @Test func aLeaseThatLapsedAndCameBackInANewTermIsNotTheSameLeadership() {
        // Paused past its lease, the leader claims again and the database gives it a new term: what it did
        // in the old term may have been fenced out, so it starts over rather than carry on.
        var machine = LeadershipStateMachine(me: "a", settings: settings)
        let clock = FakeClock()
        _ = machine.claimed(claim(lease("a", term: 1)), sentAt: clock.now)
        guard case .stepDown = machine.claimed(claim(lease("a", term: 2)), sentAt: clock.now) else {
            Issue.record("a new term of its own must make the leader start over")
            return
        }
    }

    @Test func aFollowerKnowsTheLeaderAndClaimsAgainAsSoonAsItsLeaseEnds() {
        var machine = LeadershipStateMachine(me: "b", settings: settings)
        var clock = FakeClock()
        let held = lease("a", term: 4, expiresIn: .milliseconds(2_300))
        #expect(machine.claimed(claim(held), sentAt: clock.now) == .nothing)
        #expect(machine.knownLease == held)
        #expect(!machine.mayAct(at: clock.now))
        // A lease with 2.3 s left: claim again within the regular second...
        clock.advance(.milliseconds(10))
        #expect(machine.nextClaim(after: clock.now, claim: claim(held)) == clock.now + .seconds(1))
        // ...and with 0.3 s left, right after it ends instead of up to a second later.
        let ending = claim(held, now: database + .seconds(2))
        #expect(machine.nextClaim(after: clock.now, claim: ending) == clock.now + .milliseconds(305))
        // Expired: the follower wins the next claim.
        clock.advance(.milliseconds(305))
        #expect(machine.claimed(claim(lease("b", term: 5)), sentAt: clock.now) == .lead(lease("b", term: 5)))
    }

    @Test func aFollowerDoesNotNameALeaderWhoseLeaseHasEnded() {
        var machine = LeadershipStateMachine(me: "b", settings: settings)
        let expired = lease("a", term: 4, expiresIn: .seconds(-1))
        _ = machine.claimed(claim(expired), sentAt: FakeClock().now)
        #expect(machine.knownLease == nil)
    }

    @Test func aLeaderRenewsEveryRenewInterval() {
        var machine = LeadershipStateMachine(me: "a", settings: settings)
        let clock = FakeClock()
        let ours = claim(lease("a", term: 1))
        _ = machine.claimed(ours, sentAt: clock.now)
        #expect(machine.nextClaim(after: clock.now, claim: ours) == clock.now + .seconds(1))
        #expect(machine.nextClaim(after: clock.now, claim: nil) == clock.now + .seconds(1))
    }
}
