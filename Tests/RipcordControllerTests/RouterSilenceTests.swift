import RipcordController
import RipcordCore
import RipcordTesting
import RipcordTestSupport
import RipcordWire
import Testing

/// A standalone router that stops reporting leaves the measurements incomplete: no analysis judges
/// until it is back, and then its cumulative counters bring what it carried meanwhile.
@Suite(.tags(.unit)) struct RouterSilenceTests {
    @Test func aSilentRouterHoldsTheCanaryAnalysisAndItsErrorsCountOnceItReports() async throws {
        let rig = try await ControllerRig([service()])
        _ = try await rig.controller.deploy(service: "checkout", version: v2)
        try await rig.advance(until: { await rig.candidateShare() == 10 }, "the canary at 10 %")
        await rig.traffic.fallSilent(["edge-2"])
        try await rig.advance(until: { try await rig.events().contains { $0.kind == "routers.silent" } }, "the silence recorded")

        // What the other routers see fails a third of the canary's requests; nothing is judged meanwhile.
        for _ in 0..<100 {
            await rig.serve(requests: 30, errors: 10)
            try await rig.advance(by: .milliseconds(100))
        }
        #expect(try await rig.phase() != .rolledBack)
        #expect(try await !rig.events().contains { $0.kind == "analysis.measurement" || $0.kind == "rollout.rolledBack" })

        await rig.traffic.fallSilent([])
        try await rig.advance(until: { try await rig.phase() == .rolledBack }, "the rollback once every router reports")
        let kinds = try await rig.events().map(\.kind)
        #expect(kinds.firstIndex(of: "routers.reporting")! < kinds.firstIndex(of: "rollout.rolledBack")!)
        let silence = try #require(try await rig.events().first { $0.kind == "routers.silent" })
        #expect(silence.evidence["routers"] == "edge-2")
    }

    @Test func aSilentRouterHoldsTheGuardWindowUntilItReports() async throws {
        let rig = try await ControllerRig([service(guardWindow: .seconds(120))], stable: nil)
        try await rig.promoteIntoAGuardWindow()
        await rig.traffic.fallSilent(["edge-2"])

        for _ in 0..<100 {
            await rig.traffic.serve(service: "checkout", version: v2, role: .stable, requests: 50, errors: 10)
            try await rig.advance(by: .milliseconds(100))
        }
        #expect(try await rig.controller.status(service: "checkout").stableVersion == "2.0.0", "no verdict while a router is silent")
        #expect(try await rig.events().contains { $0.kind == "routers.silent" })
        #expect(try await !rig.events().contains { $0.kind == "guard.measurement" })

        await rig.traffic.fallSilent([])
        try await rig.advance(
            until: { try await rig.controller.status(service: "checkout").stableVersion == "1.0.0" }, "the undo once every router reports")
        #expect(try await rig.events().contains { $0.kind == "guard.triggered" })
    }

    @Test func aSilentRouterHoldsAGuardedFlagRolloutUntilItReports() async throws {
        let rig = try await ControllerRig([service()])
        let flags = RecordingFlagSwitch()
        let runner = FlagRolloutRunner(store: InMemoryFlagRolloutStore(), flags: flags, controller: rig.controller, clock: rig.clock)
        let plan = FlagRolloutPlan(
            flag: "beta", environment: "default", steps: [FlagRolloutStep(percentage: 10, duration: .seconds(600))], service: "checkout",
            analysis: AnalysisSpec(interval: .seconds(1), minRequests: 20, maxErrorRate: 0.05))
        let id = try await runner.start(plan).id
        try await rig.advance(until: { await flags.percentages["default/beta"] == 10 }, "the flag at 10 %")
        try await rig.advance(by: .seconds(1))  // the first window opens
        await rig.traffic.fallSilent(["edge-2"])

        for _ in 0..<100 {
            await rig.traffic.serve(service: "checkout", version: v1, role: .stable, requests: 30, errors: 10)
            try await rig.advance(by: .milliseconds(100))
        }
        #expect(try await runner.rollout(id: id).phase == .running, "no verdict while a router is silent")
        #expect(try await runner.events(id: id).contains { $0.kind == "routers.silent" })
        #expect(try await !runner.events(id: id).contains { $0.kind == "flagRollout.measurement" })

        await rig.traffic.fallSilent([])
        try await rig.advance(
            until: { try await runner.rollout(id: id).phase == .disabled },
            everyTick: { await rig.traffic.serve(service: "checkout", version: v1, role: .stable, requests: 30, errors: 10) },
            "the flag turned off once every router reports")
        #expect(await flags.enabled["default/beta"] == false)
        #expect(try await runner.events(id: id).contains { $0.kind == "routers.reporting" })
        await runner.shutdown()
    }
}
