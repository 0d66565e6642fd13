import Foundation
import RipcordCore
import RipcordWire

/// The traffic manager of `router.mode: external`: standalone `ripcord router` processes serve the
/// front doors. The controller's routing changes become one table (`FleetRoutes`) that every router
/// follows over its routes stream (the whole table when it connects, then only the service each change
/// touches); each router reports what it applied and what it measured, and the measurements of all
/// routers are summed for analysis.
///
/// Nothing is handed out before the controller has published every service's routes after a start
/// (`routesComplete`): a router that reconnects to a controller still starting keeps serving its last
/// table instead of an empty one.
public actor ExternalRouters: TrafficManager {
    /// How often a router reports when nothing changes (it also reports right after applying a table).
    public static let reportInterval: Duration = .milliseconds(500)
    /// A router silent for this long has missing measurements: no judgement is made until it is back
    /// (or forgotten).
    public let silenceLimit: TimeSpan
    /// How long a routing change waits for the connected routers to say they serve it.
    public let acknowledgementLimit: TimeSpan
    /// The most routers the controller keeps track of: names come from the network.
    public static let maxRouters = 256

    private var table: FleetRoutes
    private var published = false
    private var subscribers: [UUID: Subscriber] = [:]
    private var routers: [String: TrackedRouter] = [:]
    /// What forgotten routers counted: it still happened, and sums never go down.
    private var forgotten: [Series: VersionMetrics] = [:]
    /// Routing changes waiting for the connected routers to serve their generation.
    private var acknowledgementWaiters: [UUID: (generation: UInt64, continuation: CheckedContinuation<Void, Never>)] = [:]
    private let clock: any RipcordClock

    private struct Subscriber {
        var router: String
        var continuation: AsyncStream<RouteStreamMessage>.Continuation
        var heartbeats: Task<Void, Never>
    }

    private struct Series: Hashable {
        var service: String
        var version: SemanticVersion
        var role: InstanceRole
    }

    /// One router's counters: per process start, what it had already counted when this controller first
    /// heard from it (not ours to judge: it happened before, or while no controller listened) and its latest.
    private struct TrackedRouter {
        var boot: String
        var generation: UInt64 = 0
        var lastHeard: Moment
        var problems: [String] = []
        var boots: [String: (first: [Series: VersionMetrics], latest: [Series: VersionMetrics])] = [:]

        func counted(_ series: Series) -> VersionMetrics {
            boots.values.reduce(VersionMetrics()) { total, counters in
                guard let latest = counters.latest[series] else { return total }
                return total + (latest - (counters.first[series] ?? VersionMetrics()))
            }
        }

        var allSeries: Set<Series> { Set(boots.values.flatMap(\.latest.keys)) }
    }

    public init(limits: RouterLimits, clock: any RipcordClock = WallClock(), silenceLimit: TimeSpan = .seconds(3), acknowledgementLimit: TimeSpan = .seconds(2)) {
        // Generations go on rising across controller restarts, so a router's report of what it serves
        // is never mistaken for the new table: they start from the clock.
        table = FleetRoutes(generation: UInt64(max(0, clock.now.millisecondsSinceEpoch)), limits: limits, services: [])
        self.clock = clock
        self.silenceLimit = silenceLimit
        self.acknowledgementLimit = acknowledgementLimit
    }

    // MARK: - TrafficManager

    /// Records the service's doors; each router binds them. Returns the configured door (its port is fixed).
    @discardableResult
    public func addService(name: String, listen: HostPort, previewListen: HostPort?) async throws -> HostPort {
        change(service: name) { routes in
            routes = ServiceRoutes(name: name, listen: listen, previewListen: previewListen, backends: routes?.backends ?? [], release: routes?.release)
        }
        await waitForRouters()
        return listen
    }

    public func setBackends(service: String, _ backends: [Backend]) async throws {
        try await setBackends(service: service, backends, release: nil)
    }

    /// Returns once every connected router serves the new backends (or `acknowledgementLimit` passed):
    /// instances leave rotation everywhere before the controller stops them.
    public func setBackends(service: String, _ backends: [Backend], release: Int64?) async throws {
        change(service: service) { routes in
            routes?.backends = backends
            routes?.release = release
        }
        await waitForRouters()
    }

    public func removeService(name: String) async throws {
        change(service: name) { routes in routes = nil }
        await waitForRouters()
    }

    /// The sum over routers of what each counted since this controller first heard from it.
    public func metrics(service: String, version: SemanticVersion, role: InstanceRole) async -> VersionMetrics {
        let series = Series(service: service, version: version, role: role)
        return routers.values.reduce(forgotten[series] ?? VersionMetrics()) { total, router in total + router.counted(series) }
    }

    /// The standalone routers apply a drill's fault like the built-in one.
    public nonisolated var injectsFaults: Bool { true }

    public func silentRouters() async -> [String] {
        let now = clock.now
        return routers.filter { now - $0.value.lastHeard > silenceLimit }.keys.sorted()
    }

    public func routesComplete() async {
        guard !published else { return }
        published = true
        for subscriber in subscribers.values { subscriber.continuation.yield(.routes(table)) }
        await waitForRouters()
    }

    // MARK: - Routers' side

    /// Changes a router's stream holds while the router reads more slowly than they come (a burst of
    /// rollouts). Past that the oldest are dropped: the router sees the gap and reconnects for the whole table.
    static let streamBuffer = 1024

    /// The routes stream of one router: the current table (once published), then each change as a delta,
    /// and a heartbeat every `heartbeat`, until the router goes away or `finishStreams` ends it.
    public func watch(router name: String, heartbeat: Duration = .seconds(2)) throws -> AsyncStream<RouteStreamMessage> {
        try admit(name)
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: RouteStreamMessage.self, bufferingPolicy: .bufferingNewest(Self.streamBuffer))
        let heartbeats = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: heartbeat)
                continuation.yield(.heartbeat)
            }
        }
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        subscribers[id] = Subscriber(router: name, continuation: continuation, heartbeats: heartbeats)
        if published { continuation.yield(.routes(table)) }
        return stream
    }

    /// Takes a router's report: the generation it serves and its cumulative counters.
    public func record(_ report: RouterReport, from name: String) throws {
        try admit(name)
        var router = routers[name]!
        router.lastHeard = clock.now
        var latest: [Series: VersionMetrics] = [:]
        for measured in report.series {
            latest[Series(service: measured.service, version: measured.version, role: measured.role)] = measured.metrics
        }
        if let counters = router.boots[report.boot] {
            // Reports can overtake each other on the way: one that counted less than the last one taken
            // is older, and says only that the router is alive (taking it would count requests twice).
            guard counters.latest.allSatisfy({ series, metrics in (latest[series]?.requests ?? 0) >= metrics.requests }) else {
                routers[name] = router
                return
            }
            router.boots[report.boot]?.latest = latest
            router.generation = max(router.generation, report.generation)
        } else {
            router.boots[report.boot] = (first: latest, latest: latest)
            router.generation = report.generation
        }
        router.problems = report.problems
        router.boot = report.boot
        routers[name] = router
        releaseServedChanges()
    }

    /// Every router known, the silent ones included.
    public func routerViews() -> [RouterView] {
        let now = clock.now
        let connected = Set(subscribers.values.map(\.router))
        return routers.sorted { $0.key < $1.key }.map { name, router in
            let silent = now - router.lastHeard
            return RouterView(
                name: name, boot: router.boot, generation: router.generation, currentGeneration: table.generation,
                silentForSeconds: silent.seconds,
                reporting: silent <= silenceLimit, connected: connected.contains(name), problems: router.problems)
        }
    }

    /// Stops waiting for a router that is gone for good: its counters stay in the sums, its silence no
    /// longer holds analysis. Returns false when no router has that name.
    public func forget(router name: String) -> Bool {
        guard let router = routers.removeValue(forKey: name) else { return false }
        for series in router.allSeries { forgotten[series] = (forgotten[series] ?? VersionMetrics()) + router.counted(series) }
        return true
    }

    /// Ends every routes stream (the server is shutting down).
    public func finishStreams() {
        for subscriber in subscribers.values {
            subscriber.heartbeats.cancel()
            subscriber.continuation.finish()
        }
        subscribers.removeAll()
        releaseServedChanges()
    }

    // MARK: - Private

    private func admit(_ name: String) throws {
        guard routers[name] == nil else { return }
        guard routers.count < Self.maxRouters else {
            throw Refusal(.conflict, "too_many_routers", "already tracking \(Self.maxRouters) routers; forget one that is gone (DELETE /api/v1/routers/NAME)")
        }
        // Heard from now: a router that connects and never reports becomes silent after the limit.
        routers[name] = TrackedRouter(boot: "", lastHeard: clock.now)
    }

    private func unsubscribe(_ id: UUID) {
        subscribers.removeValue(forKey: id)?.heartbeats.cancel()
        releaseServedChanges()
    }

    /// Edits one service's routes (nil: not in the table) and, when they changed, moves the table to the
    /// next generation and sends the routers that service alone.
    private func change(service name: String, _ edit: (inout ServiceRoutes?) -> Void) {
        let before = table.services.first { $0.name == name }
        var after = before
        edit(&after)
        guard after != before else { return }
        let delta = FleetRoutesDelta(
            base: table.generation, generation: table.generation + 1, changed: after.map { [$0] } ?? [], removed: after == nil ? [name] : [])
        // Made from this generation, so it applies; the routers apply the same function to what they serve.
        table = table.applying(delta)!
        guard published else { return }
        for subscriber in subscribers.values { subscriber.continuation.yield(.delta(delta)) }
    }

    /// Waits until every router holding a stream open says it serves the current generation, at most
    /// `acknowledgementLimit` (a router that does not answer keeps its last table, and the change stands).
    private func waitForRouters() async {
        guard published else { return }
        let generation = table.generation
        guard !servedEverywhere(generation) else { return }
        let id = UUID()
        let limit = Task { [clock, acknowledgementLimit] in
            try? await clock.sleep(for: acknowledgementLimit)
            await self.release(id)
        }
        await withCheckedContinuation { acknowledgementWaiters[id] = (generation, $0) }
        limit.cancel()
    }

    private func servedEverywhere(_ generation: UInt64) -> Bool {
        subscribers.values.allSatisfy { (routers[$0.router]?.generation ?? 0) >= generation }
    }

    /// Lets go of the changes every connected router now serves (after a report, or a router leaving).
    private func releaseServedChanges() {
        for (id, waiter) in acknowledgementWaiters where servedEverywhere(waiter.generation) { release(id) }
    }

    private func release(_ id: UUID) {
        acknowledgementWaiters.removeValue(forKey: id)?.continuation.resume()
    }
}
