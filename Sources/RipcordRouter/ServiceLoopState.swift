import NIOCore
import NIOPosix
import RipcordCore

/// Tunables of the data plane. Defaults suit production; tests shorten the timeouts.
struct RouterConfiguration: Sendable {
    var connectTimeout: TimeAmount = .seconds(1)
    /// No response byte for this long on a request in flight → 504 (or the response is cut).
    var responseTimeout: TimeAmount = .seconds(30)
    /// Pooled upstream connections idle this long are closed.
    var upstreamIdleTimeout: TimeAmount = .seconds(60)
    /// Retries after the first attempt (connect failures; dead pooled connections for idempotent methods).
    var maxRetries: Int = 2
    var maxIdlePerBackend: Int = 256
    /// How long shutdown waits for requests in flight.
    var drainTimeout: TimeAmount = .seconds(5)
    /// While draining, a keep-alive connection idle this long is closed; a busier client's next request
    /// is answered with `connection: close` instead, so no request races the close.
    var drainingIdleGrace: TimeAmount = .seconds(1)
    /// Request bodies up to this size are held and sent with their head, so the request can be
    /// retried on another backend; longer ones stream (and are held only this much while connecting).
    var heldBodyLimit = 64 * 1024

    // The client side, from ripcord.yaml's `router:` (see `RouterLimits`).
    var headerTimeout: TimeAmount = .seconds(60)
    var clientIdleTimeout: TimeAmount = .seconds(75)
    var bodyTimeout: TimeAmount = .seconds(60)
    var maxConnections = 10_000
    var maxRequestBody = 64 * 1024 * 1024

    init() {}

    init(limits: RouterLimits) {
        headerTimeout = .milliseconds(limits.headerTimeout.milliseconds)
        clientIdleTimeout = .milliseconds(limits.idleTimeout.milliseconds)
        bodyTimeout = .milliseconds(limits.bodyTimeout.milliseconds)
        maxConnections = limits.maxConnections
        maxRequestBody = limits.maxBodyBytes
    }
}

/// The keep-alive pool of one backend address on one event loop, for one service.
/// Confined to its event loop.
final class BackendPool {
    let address: HostPort
    let socketAddress: SocketAddress?
    var state: UpstreamPoolStateMachine<UpstreamConnectionHandler>
    /// Set when the backend left the routing table: released connections are closed.
    private(set) var isRetired = false

    init(address: HostPort, socketAddress: SocketAddress?, maxIdle: Int) {
        self.address = address
        self.socketAddress = socketAddress
        self.state = UpstreamPoolStateMachine(maxIdle: maxIdle)
    }

    /// Gives a connection back after an exchange; closes it unless it is parked.
    func release(_ connection: UpstreamConnectionHandler, reusable: Bool) {
        switch state.release(connection, reusable: reusable && connection.isActive) {
        case .parked: connection.parked()
        case .close: connection.close()
        }
    }

    /// The backend is gone from the table (or the service is shutting down): close idle connections.
    func retire() {
        isRetired = true
        for connection in state.close() { connection.close() }
    }

    /// Opens a new upstream connection on `eventLoop`, if the process has a descriptor to spare.
    func connect(on eventLoop: any EventLoop, configuration: RouterConfiguration, budget: SocketBudget) -> EventLoopFuture<any Channel> {
        guard budget.acquireUpstream() else { return eventLoop.makeFailedFuture(SocketBudget.Exhausted()) }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.maxMessagesPerRead, value: 16)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        UpstreamConnectionHandler(
                            responseTimeout: configuration.responseTimeout,
                            idleTimeout: configuration.upstreamIdleTimeout))
                }
            }
        let connected = socketAddress.map { bootstrap.connect(to: $0) } ?? bootstrap.connect(host: address.host, port: address.port)
        connected.whenComplete { result in
            switch result {
            case .success(let channel): channel.closeFuture.whenComplete { _ in budget.release() }
            case .failure: budget.release()
            }
        }
        return connected
    }
}

/// Everything one event loop knows about one service: the current routing table, the SWRR
/// state, the upstream pools and the metrics counters. Only ever touched on `eventLoop`, so the
/// request path takes no lock; the control plane hops onto the loop (`execute`/`submit`) to
/// publish a new table or read the counters.
final class ServiceLoopState: @unchecked Sendable {
    let eventLoop: any EventLoop
    let configuration: RouterConfiguration
    let budget: SocketBudget
    private(set) var table: RoutingTable = .empty
    private var weighted = SmoothWeightedRoundRobin(weights: [])
    private var candidates = SmoothWeightedRoundRobin(weights: [])
    private var stables = SmoothWeightedRoundRobin(weights: [])
    private(set) var pools: [BackendPool] = []
    /// Per-version counters, indexed by `RoutedBackend.metricsSlot`.
    private(set) var metrics: [VersionMetrics] = []
    /// Client connections open on this loop, for draining.
    private var clients: [ObjectIdentifier: ClientConnectionHandler] = [:]
    private(set) var isDraining = false

    init(eventLoop: any EventLoop, configuration: RouterConfiguration, budget: SocketBudget = .unlimited) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.budget = budget
    }

    // MARK: Control plane (called on the loop)

    /// Swaps in a new routing table: resets the SWRR state, keeps the pools of backends that
    /// stay, retires (closes idle connections of) the ones that left.
    func install(_ newTable: RoutingTable) {
        eventLoop.preconditionInEventLoop()
        guard newTable.generation > table.generation else { return }
        var oldPools: [HostPort: [BackendPool]] = [:]
        for pool in pools { oldPools[pool.address, default: []].append(pool) }
        var newPools: [BackendPool] = []
        newPools.reserveCapacity(newTable.backends.count)
        for backend in newTable.backends {
            if var reusable = oldPools[backend.address], let pool = reusable.popLast() {
                oldPools[backend.address] = reusable
                newPools.append(pool)
            } else {
                newPools.append(
                    BackendPool(
                        address: backend.address, socketAddress: backend.socketAddress,
                        maxIdle: configuration.maxIdlePerBackend))
            }
            if backend.metricsSlot >= metrics.count {
                metrics.append(contentsOf: repeatElement(VersionMetrics(), count: backend.metricsSlot + 1 - metrics.count))
            }
        }
        for leftover in oldPools.values.joined() { leftover.retire() }
        table = newTable
        pools = newPools
        weighted = SmoothWeightedRoundRobin(weights: newTable.weightedWeights)
        candidates = SmoothWeightedRoundRobin(weights: newTable.candidateWeights)
        stables = SmoothWeightedRoundRobin(weights: newTable.stableWeights)
    }

    func metrics(slot: Int) -> VersionMetrics {
        slot < metrics.count ? metrics[slot] : VersionMetrics()
    }

    func register(_ client: ClientConnectionHandler) {
        clients[ObjectIdentifier(client)] = client
    }

    func unregister(_ client: ClientConnectionHandler) {
        clients.removeValue(forKey: ObjectIdentifier(client))
    }

    var openClientCount: Int { clients.count }

    /// Stops keep-alive: idle client connections close now, busy ones after their response.
    func beginDraining() {
        isDraining = true
        for client in Array(clients.values) { client.drain() }
    }

    /// Closes everything that is left: client connections and pooled upstream connections.
    func closeAll() {
        isDraining = true
        for client in Array(clients.values) { client.forceClose() }
        for pool in pools { pool.retire() }
    }

    // MARK: Request path

    /// Chooses a backend for a request. Pinned modes fall back to the weighted split when the
    /// service has no backend of that role, except the preview door (`strict`), which never does.
    func pick(_ mode: RouteMode, strict: Bool, excluding excluded: UInt64) -> Int? {
        switch mode {
        case .candidate where table.hasCandidate:
            return candidates.next(excluding: excluded) ?? candidates.next()
        case .stable where table.hasStable:
            return stables.next(excluding: excluded) ?? stables.next()
        case .candidate, .stable:
            if strict { return nil }
            fallthrough
        case .weighted:
            return weighted.next(excluding: excluded) ?? weighted.next()
        }
    }

    @inline(__always)
    func recordResponse(slot: Int, status: Int, microseconds: UInt64) {
        metrics[slot].recordResponse(status: status, microseconds: microseconds)
    }

    @inline(__always)
    func recordConnectionFailure(slot: Int) {
        metrics[slot].recordConnectionFailure()
    }
}
