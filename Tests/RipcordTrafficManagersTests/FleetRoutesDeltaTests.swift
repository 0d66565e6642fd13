import RipcordCore
import RipcordTestSupport
import RipcordWire
import Testing

private let v1 = SemanticVersion(major: 1, minor: 0, patch: 0)

private func service(_ name: String, port: Int, backendPort: Int? = nil) -> ServiceRoutes {
    ServiceRoutes(
        name: name, listen: HostPort(host: "127.0.0.1", port: port), previewListen: nil,
        backends: backendPort.map { [Backend(address: HostPort(host: "127.0.0.1", port: $0), version: v1, role: .stable, weight: 1)] } ?? [])
}

/// How a standalone router's table follows the controller's changes (`FleetRoutes.applying`): only the
/// services a change names move, and a change made from another generation is refused.
@Suite(.tags(.unit)) struct FleetRoutesDeltaTests {
    let table = FleetRoutes(
        generation: 41, limits: RouterLimits(), services: [service("api", port: 8080), service("web", port: 8081), service("shop", port: 8082)])

    @Test func aChangeReplacesAddsAndRemovesOnlyTheServicesItNames() throws {
        let delta = FleetRoutesDelta(
            base: 41, generation: 42, changed: [service("web", port: 8081, backendPort: 9001), service("blog", port: 8083)], removed: ["shop"])
        let next = try #require(table.applying(delta))
        #expect(next.generation == 42)
        #expect(next.limits == table.limits)
        #expect(next.services == [service("api", port: 8080), service("web", port: 8081, backendPort: 9001), service("blog", port: 8083)])
    }

    @Test func changesApplyOneAfterTheOtherInTheirOrder() throws {
        let first = FleetRoutesDelta(base: 41, generation: 42, removed: ["api"])
        let second = FleetRoutesDelta(base: 42, generation: 43, changed: [service("api", port: 9090)])
        let next = try #require(table.applying(first)?.applying(second))
        #expect(next.generation == 43)
        #expect(next.services.map(\.name) == ["web", "shop", "api"])
        #expect(next.services.last?.listen.port == 9090)
    }

    @Test func aChangeMadeFromAnotherGenerationIsRefused() {
        // A router that missed generation 42 must not apply 42 → 43 to its 41: it asks for the whole table.
        #expect(table.applying(FleetRoutesDelta(base: 42, generation: 43, removed: ["api"])) == nil)
        // Nor apply again a change it already serves.
        #expect(table.applying(FleetRoutesDelta(base: 40, generation: 41, removed: ["api"])) == nil)
    }

    @Test func removingAServiceThatIsNotThereChangesOnlyTheGeneration() throws {
        let next = try #require(table.applying(FleetRoutesDelta(base: 41, generation: 42, removed: ["gone"])))
        #expect(next.services == table.services)
        #expect(next.generation == 42)
    }
}
