import RipcordController
import RipcordCore
import RipcordTestSupport
import RipcordTesting
import Testing

/// What a client reads of a rollout agrees with what its next command is checked against.
@Suite(.tags(.unit)) struct ReadConsistencyTests {
    @Test func aRolloutReadByIDShowsThePhaseItsCommandsAreCheckedAgainstWhileTheStoreIsSlowToAnswer() async throws {
        let rig = try await ControllerRig([service(steps: [.setWeight(10), .pause(nil)])])
        let rollout = try await rig.controller.deploy(service: "checkout", version: v2)
        // The candidate's first step is recorded, and the store is slow to say so: the reconciler has not taken it yet.
        await rig.store.holdNextSave()
        try await rig.advance(until: { await rig.store.isHoldingASave }, "the first step's save")
        #expect(try await rig.store.rollout(id: rollout.id)?.phase == .paused, "the store has the next phase already")
        #expect(try await rig.controller.rollout(id: rollout.id).phase == .starting)
        await #expect(throws: ControllerError.self) { try await rig.controller.promote(service: "checkout", full: false) }

        await rig.store.releaseHeldSave()
        try await rig.advance(until: { try await rig.controller.rollout(id: rollout.id).phase == .paused }, "the pause read by id")
        // Seen paused, a promote is taken (promotion then waits for a passed window at 10 %).
        _ = try await rig.controller.promote(service: "checkout", full: false)
        try await rig.advance(
            until: { try await rig.controller.rollout(id: rollout.id).phase == .promoted }, everyTick: { await rig.serve() }, "the promotion")
    }
}
