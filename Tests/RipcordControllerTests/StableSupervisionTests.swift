import RipcordController
import RipcordCore
import RipcordTestSupport
import RipcordTesting
import Testing

/// How often the stable supervisor asks the driver about a service's instances, and how soon an exit is noticed.
@Suite(.tags(.unit)) struct StableSupervisionTests {
    private func lookedAt(_ spec: ServiceSpec, for span: TimeSpan) async throws -> (looks: Int, rig: ControllerRig) {
        let rig = try await ControllerRig([spec])
        #expect(await rig.driver.running(version: v1).count == 2)
        let before = await rig.driver.looks
        try await rig.advance(by: span)
        return (await rig.driver.looks - before, rig)
    }

    @Test func processInstancesAreLookedAtEveryHealthCheckInterval() async throws {
        let (looks, _) = try await lookedAt(service(), for: .seconds(30))
        #expect((2 * 28...2 * 32).contains(looks), "\(looks) looks at 2 instances in 30 s")
    }

    @Test func commandInstancesAreLookedAtOncePerCheckIntervalAndAnExitIsStillNoticedWithinOne() async throws {
        var spec = service()
        spec.driver = .command(CommandDriverSpec(start: "start", stop: "stop", check: "check", checkInterval: .seconds(10)))
        let (looks, rig) = try await lookedAt(spec, for: .seconds(30))
        // The driver's answers stand for its check interval: asking each second would only repeat them.
        #expect((2 * 2...2 * 4).contains(looks), "\(looks) looks at 2 instances in 30 s")

        let crashed = try #require(await rig.driver.running(version: v1).first)
        await rig.driver.crash(crashed)
        try await rig.advance(
            until: { try await rig.events().contains { $0.kind == "instance.exited" && $0.evidence["instance"] == crashed.id } },
            limit: .seconds(11), "the exit noticed within one check interval")
    }
}
