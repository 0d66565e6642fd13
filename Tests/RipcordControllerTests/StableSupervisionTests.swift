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

    /// A service of `service()` run by the command driver, its instances checked every `checkInterval`.
    private func commandService(_ name: String = "checkout", checkInterval: TimeSpan) -> ServiceSpec {
        var spec = service(name)
        spec.driver = .command(CommandDriverSpec(start: "start", stop: "stop", check: "check", checkInterval: checkInterval))
        return spec
    }

    @Test func processInstancesAreLookedAtEveryHealthCheckInterval() async throws {
        let (looks, _) = try await lookedAt(service(), for: .seconds(30))
        #expect((2 * 28...2 * 32).contains(looks), "\(looks) looks at 2 instances in 30 s")
    }

    @Test func commandInstancesAreLookedAtOncePerCheckIntervalAndAnExitIsStillNoticedWithinOne() async throws {
        let (looks, rig) = try await lookedAt(commandService(checkInterval: .seconds(10)), for: .seconds(30))
        // The driver's answers stand for its check interval: asking each second would only repeat them.
        #expect((2 * 2...2 * 4).contains(looks), "\(looks) looks at 2 instances in 30 s")

        let crashed = try #require(await rig.driver.running(version: v1).first)
        await rig.driver.crash(crashed)
        try await rig.advance(
            until: { try await rig.events().contains { $0.kind == "instance.exited" && $0.evidence["instance"] == crashed.id } },
            limit: .seconds(11), "the exit noticed within one check interval")
    }

    @Test func looksDueWithinATickAreTakenTogetherAndEachServiceIsStillLookedAtOncePerInterval() async throws {
        // 60 services checked every 30 s, first looks spread over the interval: looked at one by one, that
        // is about 55 wakes (and batches of scripts) in each 30 s; taken by one-second ticks, 31 at most.
        let rig = try await ControllerRig((0..<60).map { commandService("svc\($0)", checkInterval: .seconds(30)) })
        // The first interval also confirms each set whole (a second look); the next ones hold looks alone.
        try await rig.advance(by: .seconds(31))
        let (looksBefore, batchesBefore) = (await rig.driver.looks, await rig.driver.batches)
        // Three intervals: on a loaded machine a look due near either end can land a tick on the other side
        // of it (CI saw 106 of 120 in one interval); over three, that edge is a smaller share.
        try await rig.advance(by: .seconds(90))
        let (looks, batches) = (await rig.driver.looks - looksBefore, await rig.driver.batches - batchesBefore)
        #expect((2 * (180 - 10)...2 * (180 + 10)).contains(looks), "\(looks) looks at 120 instances in 90 s")
        #expect(batches <= 3 * 31, "\(batches) batches")
    }
}
