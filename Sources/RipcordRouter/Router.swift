import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RipcordCore
#if canImport(Glibc)
    import Glibc
#endif

/// Errors of the router's control plane.
public enum RouterError: Error, CustomStringConvertible, Sendable {
    case serviceAlreadyListening(String)
    case bindFailed(HostPort, String)

    public var description: String {
        switch self {
        case let .serviceAlreadyListening(name): return "service '\(name)' is already listening"
        case let .bindFailed(address, reason): return "cannot listen on \(address): \(reason)"
        }
    }
}

/// The data plane: an HTTP/1.1 reverse proxy per service, splitting traffic between stable and
/// candidate backends and measuring each version.
///
/// The request path runs entirely inside NIO channel handlers on the event loops; each loop has
/// its own copy of every service's state (`ServiceLoopState`). This class is the control plane:
/// it binds listeners, builds immutable routing tables and publishes them to the loops, and sums
/// the loops' counters.
public final class Router: TrafficManager, Sendable {
    /// Applies a drill's fault to the candidate's requests (`FaultInjection`).
    public var injectsFaults: Bool { true }
    private let group: any EventLoopGroup
    private let loops: [any EventLoop]
    let configuration: RouterConfiguration
    private let budget: SocketBudget
    private let services = NIOLockedValueBox<[String: ServiceRuntime]>([:])

    /// A router with the client-facing limits of ripcord.yaml's `router:`, whose sockets share this
    /// process's descriptor budget (its soft limit raised to the hard one).
    public convenience init(group: any EventLoopGroup, limits: RouterLimits = RouterLimits()) {
        self.init(group: group, configuration: RouterConfiguration(limits: limits), budget: .forThisProcess())
    }

    init(group: any EventLoopGroup, configuration: RouterConfiguration, budget: SocketBudget = .unlimited) {
        self.group = group
        self.loops = Array(group.makeIterator())
        self.configuration = configuration
        self.budget = budget
    }

    private func runtime(_ name: String, create: Bool) -> ServiceRuntime? {
        services.withLockedValue { services in
            if let existing = services[name] { return existing }
            guard create else { return nil }
            let runtime = ServiceRuntime(name: name, loops: loops, configuration: configuration, budget: budget)
            services[name] = runtime
            return runtime
        }
    }

    /// Binds the service's front door (and optional preview door, which routes only to candidate
    /// backends, ignoring weights). Port 0 binds an ephemeral port. Returns the bound front-door address.
    @discardableResult
    public func addService(name: String, listen: HostPort, previewListen: HostPort?) async throws -> HostPort {
        let runtime = runtime(name, create: true)!
        guard runtime.claimListening() else { throw RouterError.serviceAlreadyListening(name) }
        do {
            let front = try await bind(runtime, at: listen, preview: false)
            runtime.setListener(front, preview: false)
            if let previewListen {
                let preview = try await bind(runtime, at: previewListen, preview: true)
                runtime.setListener(preview, preview: true)
            }
            return Self.hostPort(of: front, requested: listen)
        } catch {
            await runtime.closeListeners()
            runtime.releaseListening()
            throw error
        }
    }

    /// The bound preview-door address of a service, if it has one.
    public func previewAddress(service: String) -> HostPort? {
        guard let runtime = runtime(service, create: false), let channel = runtime.listener(preview: true) else { return nil }
        return Self.hostPort(of: channel, requested: runtime.previewRequested)
    }

    /// The bound front-door address of a service, if it listens.
    public func address(service: String) -> HostPort? {
        guard let runtime = runtime(service, create: false), let channel = runtime.listener(preview: false) else { return nil }
        return Self.hostPort(of: channel, requested: runtime.frontRequested)
    }

    /// Stops a service: closes its listeners, lets requests in flight finish (bounded), closes its pools.
    public func removeService(name: String) async {
        let runtime = services.withLockedValue { $0.removeValue(forKey: name) }
        guard let runtime else { return }
        await runtime.shutdown(drainTimeout: configuration.drainTimeout)
    }

    /// Replaces a service's backends on every event loop. When this returns, no event loop sends
    /// new requests to a removed backend; requests in flight finish.
    public func setBackends(service: String, _ backends: [Backend]) async throws {
        try await setBackends(service: service, backends, release: nil)
    }

    public func setBackends(service: String, _ backends: [Backend], release: Int64?) async throws {
        let runtime = runtime(service, create: true)!
        var resolved: [SocketAddress?] = []
        resolved.reserveCapacity(backends.count)
        for backend in backends {
            resolved.append(try? SocketAddress.makeAddressResolvingHost(backend.address.host, port: backend.address.port))
        }
        let table = runtime.makeTable(backends, resolved: resolved, candidateRelease: release)
        try await runtime.publish(table)
    }

    /// Cumulative measurements of one version of a service in one role, summed over the event loops.
    public func metrics(service: String, version: SemanticVersion, role: InstanceRole) async -> VersionMetrics {
        guard let runtime = runtime(service, create: false), let slot = runtime.slot(of: MetricsSeries(version: version, role: role)) else {
            return VersionMetrics()
        }
        var total = VersionMetrics()
        for state in runtime.loopStates {
            if let part = try? await state.eventLoop.submit({ state.metrics(slot: slot) }).get() {
                total = total + part
            }
        }
        return total
    }

    /// Everything measured of the service, one entry per version and role, summed over the event loops.
    public func measurements(service: String) async -> [(version: SemanticVersion, role: InstanceRole, metrics: VersionMetrics)] {
        guard let runtime = runtime(service, create: false) else { return [] }
        var all: [(version: SemanticVersion, role: InstanceRole, metrics: VersionMetrics)] = []
        for series in runtime.measuredSeries {
            all.append((series.version, series.role, await metrics(service: service, version: series.version, role: series.role)))
        }
        return all
    }

    /// Closes every listener, lets requests in flight finish (at most the drain timeout), then
    /// closes all connections. The event loop group stays the caller's.
    public func shutdown() async {
        let all = services.withLockedValue { services in
            let all = Array(services.values)
            services.removeAll()
            return all
        }
        await withTaskGroup(of: Void.self) { group in
            for runtime in all {
                group.addTask { await runtime.shutdown(drainTimeout: self.configuration.drainTimeout) }
            }
        }
    }

    private func bind(_ runtime: ServiceRuntime, at address: HostPort, preview: Bool) async throws -> any Channel {
        let admission = FrontDoorAdmission(maxConnections: configuration.maxConnections, budget: budget)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // A restarted `serve` binds the same doors while this one still serves (`ControllerLock`).
            .serverChannelOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let state = runtime.state(for: channel.eventLoop) else {
                        throw ChannelError.ioOnClosedChannel
                    }
                    guard admission.admit(channel) else {
                        return try channel.pipeline.syncOperations.addHandler(RefusedConnectionHandler())
                    }
                    try ClientConnectionHandler.configure(
                        channel.pipeline.syncOperations, service: state,
                        isPreviewDoor: preview)
                }
            }
        do {
            let channel = try await bootstrap.bind(host: address.host, port: address.port).get()
            if preview { runtime.previewRequested = address } else { runtime.frontRequested = address }
            return channel
        } catch {
            throw RouterError.bindFailed(address, "\(error)")
        }
    }

    private static func hostPort(of channel: any Channel, requested: HostPort?) -> HostPort {
        let port = channel.localAddress?.port ?? requested?.port ?? 0
        let host = requested?.host ?? channel.localAddress?.ipAddress ?? "127.0.0.1"
        return HostPort(host: host, port: port)
    }
}

/// One service's control-plane state: its listeners, per-loop states and version slots.
final class ServiceRuntime: Sendable {
    let name: String
    let loopStates: [ServiceLoopState]
    private let byLoop: [ObjectIdentifier: ServiceLoopState]

    private struct Control {
        var listening = false
        var front: (any Channel)?
        var preview: (any Channel)?
        var frontRequested: HostPort?
        var previewRequested: HostPort?
        /// Metrics slots by version and role: a baseline runs the stable version but is measured apart.
        var metricsSlots: [MetricsSeries: Int] = [:]
        var generation: UInt64 = 0
    }
    private let control = NIOLockedValueBox(Control())

    init(name: String, loops: [any EventLoop], configuration: RouterConfiguration, budget: SocketBudget) {
        self.name = name
        let states = loops.map { ServiceLoopState(eventLoop: $0, configuration: configuration, budget: budget) }
        self.loopStates = states
        var byLoop: [ObjectIdentifier: ServiceLoopState] = [:]
        for state in states { byLoop[ObjectIdentifier(state.eventLoop)] = state }
        self.byLoop = byLoop
    }

    func state(for eventLoop: any EventLoop) -> ServiceLoopState? {
        if let state = byLoop[ObjectIdentifier(eventLoop)] { return state }
        return loopStates.first { $0.eventLoop === eventLoop }
    }

    func claimListening() -> Bool {
        control.withLockedValue { control in
            if control.listening { return false }
            control.listening = true
            return true
        }
    }

    func releaseListening() { control.withLockedValue { $0.listening = false } }

    func setListener(_ channel: any Channel, preview: Bool) {
        control.withLockedValue { if preview { $0.preview = channel } else { $0.front = channel } }
    }

    func listener(preview: Bool) -> (any Channel)? {
        control.withLockedValue { preview ? $0.preview : $0.front }
    }

    var frontRequested: HostPort? {
        get { control.withLockedValue { $0.frontRequested } }
        set { control.withLockedValue { $0.frontRequested = newValue } }
    }

    var previewRequested: HostPort? {
        get { control.withLockedValue { $0.previewRequested } }
        set { control.withLockedValue { $0.previewRequested = newValue } }
    }

    var measuredSeries: [MetricsSeries] {
        control.withLockedValue { Array($0.metricsSlots.keys) }
    }

    func slot(of series: MetricsSeries) -> Int? {
        control.withLockedValue { $0.metricsSlots[series] }
    }

    func makeTable(_ backends: [Backend], resolved: [SocketAddress?], candidateRelease: Int64?) -> RoutingTable {
        control.withLockedValue { control in
            control.generation += 1
            var routed: [RoutedBackend] = []
            for (backend, socketAddress) in zip(backends, resolved) {
                let series = MetricsSeries(version: backend.version, role: backend.role)
                let slot: Int
                if let existing = control.metricsSlots[series] {
                    slot = existing
                } else {
                    slot = control.metricsSlots.count
                    control.metricsSlots[series] = slot
                }
                routed.append(
                    RoutedBackend(
                        address: backend.address, socketAddress: socketAddress, version: backend.version,
                        role: backend.role, weight: backend.weight, metricsSlot: slot,
                        versionHeader: backend.version.description, fault: backend.fault))
            }
            return RoutingTable(generation: control.generation, backends: routed, candidateRelease: candidateRelease)
        }
    }

    func publish(_ table: RoutingTable) async throws {
        let futures = loopStates.map { state in state.eventLoop.submit { state.install(table) } }
        for future in futures { try await future.get() }
    }

    func closeListeners() async {
        let channels = control.withLockedValue { control -> [any Channel] in
            let channels = [control.front, control.preview].compactMap { $0 }
            control.front = nil
            control.preview = nil
            return channels
        }
        for channel in channels { try? await channel.close() }
    }

    /// Closes the listeners, drains the client connections (bounded), closes everything.
    func shutdown(drainTimeout: TimeAmount) async {
        await closeListeners()
        for state in loopStates { try? await state.eventLoop.submit { state.beginDraining() }.get() }
        let deadline = NIODeadline.now() + drainTimeout
        while NIODeadline.now() < deadline {
            var open = 0
            for state in loopStates { open += (try? await state.eventLoop.submit { state.openClientCount }.get()) ?? 0 }
            if open == 0 { break }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        for state in loopStates { try? await state.eventLoop.submit { state.closeAll() }.get() }
    }
}

/// Whose requests a metrics slot counts.
struct MetricsSeries: Hashable {
    var version: SemanticVersion
    var role: InstanceRole
}
