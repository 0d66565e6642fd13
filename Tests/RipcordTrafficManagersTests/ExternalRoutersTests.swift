import RipcordCore
import RipcordTestSupport
import RipcordTesting
import RipcordTrafficManagers
import RipcordWire
import Testing

private let v1 = SemanticVersion(major: 1, minor: 0, patch: 0)
private let door = HostPort(host: "127.0.0.1", port: 8080)

private func metrics(ok: UInt64, failed: UInt64 = 0) -> VersionMetrics {
    var metrics = VersionMetrics()
    for _ in 0..<ok { metrics.recordResponse(status: 200, microseconds: 1000) }
    for _ in 0..<failed { metrics.recordResponse(status: 503, microseconds: 1000) }
    return metrics
}

private func report(boot: String, generation: UInt64 = 0, ok: UInt64, failed: UInt64 = 0) -> RouterReport {
    RouterReport(boot: boot, generation: generation, series: [SeriesMeasurement(service: "web", version: v1, role: .stable, metrics: metrics(ok: ok, failed: failed))])
}

/// The controller's side of standalone routers, without a network: what it hands out and what it sums.
@Suite(.tags(.unit)) struct ExternalRoutersTests {
    @Test func nothingIsHandedOutBeforeTheControllerHasPublishedEveryRoute() async throws {
        let fleet = ExternalRouters(limits: RouterLimits(), acknowledgementLimit: .milliseconds(10))
        var stream = try await fleet.watch(router: "edge-1", heartbeat: .seconds(60)).makeAsyncIterator()
        try await fleet.addService(name: "web", listen: door, previewListen: nil)
        // A half-built table would make the router drop the services not yet added: it waits.
        await fleet.routesComplete()
        guard case let .routes(table)? = await stream.next() else {
            Issue.record("no table")
            return
        }
        #expect(table.services.map(\.name) == ["web"])
    }

    @Test func aChangeReachesTheStreamAsTheOneServiceItTouches() async throws {
        let fleet = ExternalRouters(limits: RouterLimits(), acknowledgementLimit: .milliseconds(10))
        for (index, name) in ["api", "web", "shop"].enumerated() {
            try await fleet.addService(name: name, listen: HostPort(host: "127.0.0.1", port: 8080 + index), previewListen: nil)
        }
        await fleet.routesComplete()
        var stream = try await fleet.watch(router: "edge-1", heartbeat: .seconds(60)).makeAsyncIterator()
        guard case let .routes(first)? = await stream.next() else {
            Issue.record("no table")
            return
        }
        let backend = Backend(address: HostPort(host: "127.0.0.1", port: 9000), version: v1, role: .stable, weight: 1)
        try await fleet.setBackends(service: "web", [backend])
        guard case let .delta(change)? = await stream.next() else {
            Issue.record("no change")
            return
        }
        #expect(change.base == first.generation)
        #expect(change.generation == first.generation + 1)
        #expect(change.changed.map(\.name) == ["web"])
        #expect(change.changed.first?.backends == [backend])
        #expect(change.removed.isEmpty)
        // Setting what is already there changes nothing and sends nothing.
        try await fleet.setBackends(service: "web", [backend])
        try await fleet.removeService(name: "api")
        guard case let .delta(removal)? = await stream.next() else {
            Issue.record("no removal")
            return
        }
        #expect(removal.base == change.generation)
        #expect(removal.changed.isEmpty)
        #expect(removal.removed == ["api"])
    }

    @Test func aRouterThatAppliesEveryChangeServesTheTableANewRouterGetsWhole() async throws {
        let fleet = ExternalRouters(limits: RouterLimits(), acknowledgementLimit: .milliseconds(10))
        try await fleet.addService(name: "web", listen: door, previewListen: nil)
        await fleet.routesComplete()
        let stream = try await fleet.watch(router: "edge-1", heartbeat: .seconds(60))
        let backend = Backend(address: HostPort(host: "127.0.0.1", port: 9000), version: v1, role: .stable, weight: 1)
        try await fleet.addService(name: "shop", listen: HostPort(host: "127.0.0.1", port: 8081), previewListen: nil)
        try await fleet.setBackends(service: "shop", [backend], release: 7)
        try await fleet.addService(name: "web", listen: door, previewListen: HostPort(host: "127.0.0.1", port: 8082))
        try await fleet.removeService(name: "web")
        try await fleet.addService(name: "web", listen: door, previewListen: nil)
        var served: FleetRoutes?
        for await message in stream {
            switch message {
            case let .routes(table): served = table
            case let .delta(delta): served = try #require(served?.applying(delta), "each change applies to the table before it")
            case .heartbeat: continue
            }
            if served?.services.count == 2, served?.services.last?.name == "web" { break }
        }
        var newRouter = try await fleet.watch(router: "edge-2", heartbeat: .seconds(60)).makeAsyncIterator()
        guard case let .routes(whole)? = await newRouter.next() else {
            Issue.record("no table for a new router")
            return
        }
        #expect(served == whole)
    }

    @Test func aChangeWaitsUntilTheConnectedRoutersServeIt() async throws {
        // Time never moves: the change can only return because the router said it serves it.
        let fleet = ExternalRouters(limits: RouterLimits(), clock: TestClock(), acknowledgementLimit: .seconds(30))
        try await fleet.addService(name: "web", listen: door, previewListen: nil)
        await fleet.routesComplete()
        let stream = try await fleet.watch(router: "edge-1", heartbeat: .seconds(60))
        // The router: applies each table and reports its generation.
        let router = Task {
            for await message in stream {
                let generation: UInt64
                switch message {
                case let .routes(table): generation = table.generation
                case let .delta(delta): generation = delta.generation
                case .heartbeat: continue
                }
                try await fleet.record(RouterReport(boot: "b", generation: generation, series: []), from: "edge-1")
            }
        }
        defer { router.cancel() }
        try await fleet.setBackends(service: "web", [Backend(address: door, version: v1, role: .stable, weight: 1)])
        let view = try #require(await fleet.routerViews().first)
        #expect(view.generation == view.currentGeneration)
    }

    @Test func measurementsAreSummedOverRoutersCountingFromWhenTheControllerFirstHeardEachProcess() async throws {
        let fleet = ExternalRouters(limits: RouterLimits())
        // What each router counted before this controller heard from it is not judged.
        try await fleet.record(report(boot: "a1", ok: 100), from: "edge-1")
        try await fleet.record(report(boot: "b1", ok: 40, failed: 40), from: "edge-2")
        #expect(await fleet.metrics(service: "web", version: v1, role: .stable).requests == 0)
        try await fleet.record(report(boot: "a1", ok: 110, failed: 1), from: "edge-1")
        try await fleet.record(report(boot: "b1", ok: 45, failed: 40), from: "edge-2")
        var total = await fleet.metrics(service: "web", version: v1, role: .stable)
        #expect(total.requests == 16)
        #expect(total.errors == 1)
        // edge-1 restarts: its counters start again, and what its first boot counted still stands.
        try await fleet.record(report(boot: "a2", ok: 0), from: "edge-1")
        try await fleet.record(report(boot: "a2", ok: 3, failed: 2), from: "edge-1")
        total = await fleet.metrics(service: "web", version: v1, role: .stable)
        #expect(total.requests == 21)
        #expect(total.errors == 3)
        // Forgetting a router that is gone keeps what it counted.
        #expect(await fleet.forget(router: "edge-1"))
        #expect(await fleet.metrics(service: "web", version: v1, role: .stable).requests == 21)
        #expect(await !fleet.forget(router: "edge-1"))
    }

    @Test func aReportThatArrivesAfterANewerOneCountsNothing() async throws {
        let fleet = ExternalRouters(limits: RouterLimits())
        try await fleet.record(report(boot: "a", generation: 4, ok: 100), from: "edge-1")
        try await fleet.record(report(boot: "a", generation: 5, ok: 110), from: "edge-1")
        try await fleet.record(report(boot: "a", generation: 4, ok: 105), from: "edge-1")
        #expect(await fleet.metrics(service: "web", version: v1, role: .stable).requests == 10)
        #expect(await fleet.routerViews().first?.generation == 5, "the late report's older table is not taken either")
        try await fleet.record(report(boot: "a", generation: 5, ok: 120), from: "edge-1")
        #expect(await fleet.metrics(service: "web", version: v1, role: .stable).requests == 20, "each request counted once")
    }

    @Test func aRouterThatStopsReportingIsSilentUntilItReportsOrIsForgotten() async throws {
        let clock = TestClock()
        let fleet = ExternalRouters(limits: RouterLimits(), clock: clock, silenceLimit: .seconds(3))
        try await fleet.record(report(boot: "a", ok: 1), from: "edge-1")
        try await fleet.record(report(boot: "b", ok: 1), from: "edge-2")
        clock.advance(by: .seconds(2))
        try await fleet.record(report(boot: "b", ok: 2), from: "edge-2")
        clock.advance(by: .seconds(1))
        #expect(await fleet.silentRouters().isEmpty, "silent for exactly the limit is not yet silent")
        clock.advance(by: .milliseconds(1))
        #expect(await fleet.silentRouters() == ["edge-1"])
        #expect(await fleet.routerViews().first { $0.name == "edge-1" }?.reporting == false)
        try await fleet.record(report(boot: "a", ok: 2), from: "edge-1")
        #expect(await !fleet.silentRouters().contains("edge-1"))
        #expect(await fleet.forget(router: "edge-1"))
        #expect(await !fleet.silentRouters().contains("edge-1"))
    }

    @Test func theNumberOfRoutersTrackedIsBounded() async throws {
        let fleet = ExternalRouters(limits: RouterLimits())
        for index in 0..<ExternalRouters.maxRouters {
            try await fleet.record(RouterReport(boot: "b", generation: 0, series: []), from: "edge-\(index)")
        }
        await #expect(throws: Refusal.self) { try await fleet.record(RouterReport(boot: "b", generation: 0, series: []), from: "one-too-many") }
        // Those it knows still report.
        try await fleet.record(RouterReport(boot: "b", generation: 1, series: []), from: "edge-0")
    }
}
