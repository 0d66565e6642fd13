import Foundation
import RipcordController
import RipcordCore
import RipcordTesting
import RipcordWire
import RipcordTestSupport
import Testing

/// Releases, baselines, guard windows, gating hooks and restarts, on fakes in controller time.
@Suite(.tags(.unit)) struct CoordinationTests {
    static let members = ["cart", "checkout", "payments"]

    func releaseRig() async throws -> ControllerRig {
        try await ControllerRig(Self.members.map { service($0) })
    }

    func manifest() -> ReleaseManifest {
        ReleaseManifest(name: "spring", services: Self.members.map { ReleaseTarget(service: $0, version: v2) })
    }

    @Test func aReleaseOfThreeServicesIsPromotedOnlyTogether() async throws {
        let rig = try await releaseRig()
        _ = try await rig.controller.applyRelease(manifest())
        try await rig.advance(
            until: {
                for name in Self.members where try await rig.phase(name) != .promoted { return false }
                return true
            }, everyTick: { for name in Self.members { await rig.serve(name) } }, "all three promoted")
        for name in Self.members {
            #expect(try await rig.controller.status(service: name).stableVersion == "2.0.0")
            #expect(try await rig.events(name).filter { $0.kind == "release.promoted" }.count == 1, "the release finished once")
        }
    }

    @Test func oneMemberFailingRollsBackEveryMemberOfTheRelease() async throws {
        let rig = try await releaseRig()
        _ = try await rig.controller.applyRelease(manifest())
        try await rig.advance(
            until: {
                for name in Self.members where await rig.candidateShare(name) != 10 { return false }
                return true
            }, everyTick: { for name in Self.members { await rig.serve(name) } }, "every member at 10 %")
        let victim = try #require(await rig.driver.running(version: v2).first { $0.service == "payments" })
        await rig.driver.crash(victim)
        try await rig.advance(
            until: {
                for name in Self.members where try await rig.phase(name) != .rolledBack { return false }
                return true
            }, "every member rolled back")

        #expect(try await rig.rollout("payments")?.trigger == .instanceCrashed)
        for name in ["cart", "checkout"] {
            #expect(try await rig.rollout(name)?.trigger == .releasePartnerFailed)
            #expect(await rig.candidateShare(name) == 0)
            #expect(try await rig.controller.status(service: name).stableVersion == "1.0.0")
        }
        try await rig.advance(until: { await rig.driver.running(version: v2).isEmpty }, "every candidate stopped")
    }

    @Test func aBaselineStartsBesideTheCanaryTakesItsShareAndStopsWithIt() async throws {
        let rig = try await ControllerRig([service(analysis: AnalysisSpec(interval: .seconds(1), minRequests: 20, maxErrorRate: 0.05, baseline: true))])
        _ = try await rig.controller.deploy(service: "checkout", version: v2)
        try await rig.advance(until: { await rig.candidateShare() == 10 }, "the canary at 10 %")

        let change = try #require(await rig.traffic.changes(service: "checkout").last)
        #expect(change.shares == "stable=80 candidate=10 baseline=10")
        let baseline = change.backends.filter { $0.role == .baseline }
        #expect(baseline.count == 2 && baseline.allSatisfy { $0.version == v1 })
        #expect(await rig.driver.running(version: v1).count == 4, "two stable and two fresh baseline instances")

        try await rig.controller.abort(service: "checkout", reason: "enough")
        try await rig.advance(until: { await rig.driver.running(version: v1).count == 2 }, "the baseline stopped")
        #expect(await rig.traffic.changes(service: "checkout").last?.shares == "stable=100 candidate=0 baseline=0")
    }

    @Test func aFailedBaselineInstanceLeavesRotationAndHoldsTheRolloutForAHuman() async throws {
        let rig = try await ControllerRig([service(analysis: AnalysisSpec(interval: .seconds(1), minRequests: 20, maxErrorRate: 0.05, baseline: true))])
        _ = try await rig.controller.deploy(service: "checkout", version: v2)
        try await rig.advance(until: { await rig.candidateShare() == 10 }, "the canary at 10 %")
        let stable = try await rig.controller.status(service: "checkout").stableInstances.map(\.id)
        let baseline = try #require(await rig.driver.running(version: v1).first { !stable.contains($0.id) })
        await rig.driver.crash(baseline)

        try await rig.advance(until: { try await rig.phase() == .paused }, "the rollout paused")
        let change = try #require(await rig.traffic.changes(service: "checkout").last)
        #expect(!change.backends.contains { $0.address == baseline.address })
        #expect(try await rig.phase() != .rolledBack, "a baseline's failure is not the candidate's")
        #expect(try await rig.events().contains { $0.kind == "rollout.paused" && $0.message.contains("baseline") })
        try await rig.advance(by: .seconds(60))
        #expect(try await rig.phase() == .paused, "only a human goes on")
    }

    @Test func aGuardWindowUndoesAPromotedReleaseThatStartsFailing() async throws {
        let rig = try await ControllerRig([service(guardWindow: .seconds(120))], stable: nil)
        try await rig.promoteIntoAGuardWindow()

        // The new stable version now fails a fifth of its requests.
        try await rig.advance(
            until: { try await rig.controller.status(service: "checkout").stableVersion == "1.0.0" },
            everyTick: { await rig.traffic.serve(service: "checkout", version: v2, role: .stable, requests: 50, errors: 10) },
            "the undo to 1.0.0")
        let kinds = try await rig.events().map(\.kind)
        #expect(kinds.contains("guard.triggered"))
        #expect(try await rig.rollout()?.kind == .undo)
    }

    @Test func aGatingHookHoldsTrafficUntilItPassesAndPromoteCannotSkipIt() async throws {
        let rig = try await ControllerRig([service(hooks: [HookSpec(name: "smoke", point: .beforeTraffic, action: .command("smoke-test"))])])
        await rig.hooks.hold("smoke")
        _ = try await rig.controller.deploy(service: "checkout", version: v2)
        try await rig.advance(until: { await rig.hooks.isWaiting("smoke") }, "the hook running")
        try await rig.advance(by: .seconds(30))
        #expect(await rig.candidateShare() == 0, "no traffic while the hook runs")
        await #expect(throws: ControllerError.self) { _ = try await rig.controller.promote(service: "checkout", full: false) }

        await rig.hooks.letGo("smoke")
        try await rig.advance(until: { await rig.candidateShare() == 10 }, "traffic after the hook passed")
        #expect(await rig.hooks.ranHooks == ["smoke"])
    }

    @Test func aRestartRoutesToTheSurvivingInstancesBeforeItStopsAnInterruptedStart() async throws {
        let first = try await ControllerRig([service()])
        await first.controller.shutdown(keepInstances: true)
        let interrupted = InstanceRecord(
            id: "checkout-2.0.0-interrupted", service: "checkout", version: v2, host: "127.0.0.1", port: 9, pid: 0,
            startedAt: first.clock.now, role: .candidate, starting: true)
        try await first.store.saveInstance(interrupted)
        await first.driver.leaveRunning(interrupted)
        let mark = first.journal.entries.count

        let second = try await ControllerRig([service()], store: first.store, driver: first.driver, journal: first.journal)
        let entries = Array(first.journal.entries[mark...])
        let routed = try #require(entries.firstIndex { $0.hasPrefix("backends checkout") }, "\(entries)")
        let stopped = try #require(entries.firstIndex { $0 == "stop \(interrupted.id)" }, "\(entries)")
        #expect(routed < stopped, "the stable instances serve before anything is stopped: \(entries)")
        #expect(try await first.store.instances(service: "checkout").allSatisfy { !$0.starting })
        #expect(try await second.events().contains { $0.kind == "instance.startInterrupted" })
    }

    @Test func aShutdownThatCancelsAStartStopsTheInstanceThatStartSpawned() async throws {
        let rig = try await ControllerRig([service()])
        await rig.driver.holdStartsUntilCancelled()
        _ = try await rig.controller.deploy(service: "checkout", version: v2)
        try await rig.advance(until: { await rig.driver.startsHeld == 1 }, "the candidate's start under way")

        await rig.controller.shutdown(keepInstances: false)
        let spawned = await rig.driver.started.filter { $0.version == v2 }
        #expect(spawned.count == 1, "the held start spawned once the shutdown cancelled it")
        let left = await rig.driver.running().map(\.id)
        #expect(left.isEmpty, "nothing left running: \(left)")
        #expect(await rig.store.instances(service: "checkout").allSatisfy { $0.version != v2 }, "and no record of it left")
    }

    @Test func aBatchOfStartsThatFailsPartWayStopsTheInstancesItHadStarted() async throws {
        let rig = try await ControllerRig([service()])
        await rig.store.failNextInstanceSaves(after: 2)  // the first candidate's two saves pass; the second's first one fails
        _ = try await rig.controller.deploy(service: "checkout", version: v2)
        try await rig.advance(until: { try await rig.phase() == .rolledBack }, "the rollback after the failed start")

        #expect(await rig.driver.started.filter { $0.version == v2 }.count == 1)
        #expect(await rig.driver.running(version: v2).isEmpty, "the candidate that had started is stopped with the batch")
        #expect(await rig.store.instances(service: "checkout").allSatisfy { $0.version != v2 })
    }

    @Test func aRestartedControllerAdoptsTheRunningInstancesAndFinishesTheRollout() async throws {
        let first = try await ControllerRig([service()])
        _ = try await first.controller.deploy(service: "checkout", version: v2)
        try await first.advance(until: { await first.candidateShare() == 10 }, "the canary at 10 %")
        await first.controller.shutdown(keepInstances: true)
        let startedBefore = await first.driver.started.count

        let second = try await ControllerRig([service()], store: first.store, driver: first.driver)
        try await second.advance(until: { try await second.phase() == .promoted }, everyTick: { await second.serve() }, "promotion after the restart")
        #expect(await first.driver.started.count == startedBefore, "no instance started again")
        let adopted = try #require(try await second.events().last { $0.kind == "instances.adopted" })
        #expect(adopted.message.contains("adopted 2 stable, 2 candidate"))
    }
}
