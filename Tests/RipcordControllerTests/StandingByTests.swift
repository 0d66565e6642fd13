import RipcordController
import RipcordCore
import RipcordTesting
import RipcordTestSupport
import RipcordWire
import Testing

/// A controller that shares its store and does not lead: it answers from what the leader recorded and
/// acts on nothing, even when its configuration is reloaded.
@Suite(.tags(.unit)) struct StandingByTests {
    @Test func aControllerStandingByAnswersFromTheStoreAndActsOnNothingEvenOnReload() async throws {
        let journal = Journal()
        let clock = TestClock()
        let store = InMemoryStore()
        let checkout = service()
        _ = await store.seedStable(service: "checkout", version: v1, spec: checkout, at: clock.now)
        // What the leader recorded of its running instances.
        try await store.saveInstance(InstanceRecord(id: "i1", service: "checkout", version: v1, host: "127.0.0.1", port: 4000, pid: 42, startedAt: clock.now))
        let config = RipcordConfiguration(api: HostPort(host: "127.0.0.1", port: 0), stateDirectory: "/nonexistent", services: [checkout])
        let controller = Controller(
            config: config, store: store, driver: FakeDriver(journal: journal), traffic: RecordingTrafficManager(journal: journal),
            probe: ScriptedHealth(), clock: clock)
        await controller.standBy()

        let status = try await controller.status(service: "checkout")
        #expect(status.stableVersion == "1.0.0" && status.stableInstances.map(\.id) == ["i1"])
        #expect(await controller.metricsExposition().contains("ripcord_controller_leader 0"))

        var next = config
        next.services.append(service("payments"))
        let summary = try await controller.reload(next)
        #expect(summary.added == ["payments"])
        #expect(try await controller.status(service: "payments").stableVersion == nil)
        #expect(journal.entries.isEmpty, "standing by, nothing opens a door, moves traffic or starts an instance: \(journal.entries)")
    }
}
