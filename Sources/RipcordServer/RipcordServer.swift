import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RipcordAPI
import RipcordConfig
import RipcordController
import RipcordCore
import RipcordDrivers
import RipcordHooks
import RipcordMigrations
import RipcordFlagService
import RipcordPostgresStore
import RipcordRouter
import RipcordStore
import RipcordTrafficManagers
import RipcordWire

extension ExternalRouters: RouterFleet {}

/// Everything Ripcord keeps: services' revisions, rollouts and their history, flags, tokens, guarded flag rollouts.
public typealias RipcordStateStore = StateStore & FlagStore & FlagRolloutStore

/// Ripcord on its embedded defaults, assembled from a configuration: SQLite state, the built-in
/// router (or the HAProxy or nginx that `traffic:` names), local processes (or the user's scripts),
/// and the HTTP API. `ripcord serve`, the demo and the tests all use this.
///
/// With `store.postgres` several of these share one database: each stands by until the leader election
/// (`LeaderElection`) makes it the leader, then starts as a restarted controller does.
public final class RipcordServer: Sendable {
    public let config: RipcordConfiguration
    public let store: any RipcordStateStore
    /// The shared store, when the configuration names one (the same object as `store`).
    let sharedStore: PostgresStateStore?
    /// The election among the controllers sharing `sharedStore`; nil with SQLite.
    let election: LeaderElection?
    private let electionTask = NIOLockedValueBox<Task<Void, Never>?>(nil)
    /// What a controller that lost its lease does last (`serve` exits with status 75 so its supervisor starts it again, standing by).
    private let afterSteppingDown: @Sendable (String) -> Void
    public let router: RipcordRouter.Router
    /// What splits the traffic: `router` unless the configuration names an external load balancer or
    /// standalone routers (`fleet`).
    public let traffic: any TrafficManager
    /// The standalone routers of `router.mode: external`, which follow this controller's routes.
    public let fleet: ExternalRouters?
    public let controller: Controller
    public let flags: FlagService
    public let flagRollouts: FlagRolloutRunner
    public let authenticator: TokenAuthenticator?
    public let tokenFile: String
    /// The file `reload` re-reads; nil when the configuration did not come from one.
    public let configFile: String?
    /// Held from before the store opens until the controller has stopped.
    private let lock: ControllerLock
    private let notifier: WebhookNotifier?
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger

    /// - Parameter requireToken: false only for the loopback-only demo.
    /// - Parameter lockWait: how long to wait for a `serve` that is stopping to let go of the state directory.
    public init(
        config: RipcordConfiguration, settings: Controller.Settings = Controller.Settings(), requireToken: Bool = true,
        lockWait: Duration = .seconds(15), configFile: String? = nil, threads: Int? = nil, logger: Logger = Logger(label: "ripcord"),
        afterSteppingDown: @escaping @Sendable (String) -> Void = { _ in exit(75) }
    ) async throws {
        self.config = config
        self.configFile = configFile
        self.logger = logger
        self.afterSteppingDown = afterSteppingDown
        tokenFile = "\(config.stateDirectory)/admin.token"
        lock = try await ControllerLock.acquire(stateDirectory: config.stateDirectory, waitingUpTo: lockWait)
        let gate = LeadershipGate()
        switch (config.store, config.highAvailability) {
        case let (.postgres(connection), .some(ha)):
            let shared = try await PostgresStateStore.open(
                url: try connection.url.resolve(), passwordFile: connection.passwordFile, sslMode: connection.sslMode, sslRootCert: connection.sslRootCert)
            shared.fence = .standingBy
            try await shared.followOtherWriters()
            sharedStore = shared
            store = shared
            election = LeaderElection(leases: shared, spec: ha, gate: gate, logger: logger)
        default:
            store = try SQLiteStore.openState(directory: config.stateDirectory, tokenFile: tokenFile)
            sharedStore = nil
            election = nil
        }
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads ?? System.coreCount))
        router = RipcordRouter.Router(group: group, limits: config.router)
        fleet = config.routerMode == .external ? ExternalRouters(limits: config.router) : nil
        let steered: any TrafficManager = fleet ?? TrafficManagers.external(for: config) ?? router
        let local = SelectingDriver(
            process: ProcessDriver(logDirectory: "\(config.stateDirectory)/logs", logger: logger),
            command: CommandDriver(logger: logger))
        // Sharing the store, nothing moves unless this controller leads at that moment.
        traffic = election == nil ? steered : FencedTrafficManager(inner: steered, gate: gate)
        let driver: any InstanceDriver = election == nil ? local : FencedDriver(inner: local, gate: gate)
        // Notifications name the owners as the controller knows them now (a reload may change them).
        let owners = OwnerDirectory()
        notifier =
            config.notifications.isEmpty
            ? nil
            : WebhookNotifier(config.notifications, store: store, owners: { await owners.owners(of: $0) }, logger: logger)
        flags = FlagService(store: store)
        controller = Controller(
            config: config, store: store, driver: driver, traffic: traffic, schema: DatabaseSchemaMigrator(),
            notifier: notifier, flags: flags, settings: settings, logger: logger)
        await owners.use(controller)
        flagRollouts = FlagRolloutRunner(store: store, flags: flags, controller: controller, tickInterval: settings.tickInterval, logger: logger)
        authenticator =
            requireToken
            ? try await TokenAuthenticator.bootstrap(store: store, tokenFile: tokenFile, at: Date())
            : nil
    }

    /// Opens the front doors, recovers instances and rollouts (guarded flag rollouts too) from the store;
    /// then a predecessor still serving its last routes may close its doors.
    public func start() async throws {
        guard let election else {
            try await act()
            return
        }
        await controller.standBy()
        await flags.startFlushingEvaluations()
        followTheLeadersChanges()
        let task = Task {
            await election.run(lead: { lease in await self.lead(lease) }, stepDown: { reason in await self.stepDown(reason) })
        }
        electionTask.withLockedValue { $0 = task }
    }

    /// Starts acting on rollouts: at once with a store of its own, once elected with a shared one.
    private func act() async throws {
        countFlagChanges()
        try await controller.start()
        try await flagRollouts.resume()
        if election == nil { await flags.startFlushingEvaluations() }
        lock.markServing()
    }

    /// Elected: writes carry the new term from now, then the controller starts as a restarted one would
    /// (adopting instances, publishing routes, resuming rollouts where the last leader left them).
    private func lead(_ lease: Lease) async {
        sharedStore?.fence = .leader(holder: lease.holder, term: lease.term)
        do {
            try await act()
            logger.notice("leading", metadata: ["term": "\(lease.term)"])
        } catch {
            await stepDown("could not start leading in term \(lease.term): \(error)")
        }
    }

    /// The lease is gone or could not be renewed in time: act on nothing more. The process then ends
    /// (`afterSteppingDown`) and starts again standing by; instances and routers go on serving.
    private func stepDown(_ reason: String) async {
        sharedStore?.fence = .standingBy
        logger.critical("stepping down: \(reason)")
        await fleet?.finishStreams()
        afterSteppingDown(reason)
    }

    /// Which controller leads, as this one knows it.
    public func leadership() async -> LeadershipView {
        guard let election else { return .single }
        return await election.status
    }

    /// A standing-by controller re-reads the tokens and flags as soon as the store hears that a controller
    /// changed them (`PostgresStateStore.tokensOrFlagsChanged`), and every `leadersChangesFallback` in
    /// case a notification was lost, so it authenticates and serves SDKs as the leader would.
    private func followTheLeadersChanges() {
        guard let sharedStore else { return }
        let (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        Task { [store, election, authenticator, flags, logger] in
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in sharedStore.tokensOrFlagsChanged { wake.yield() }
                    wake.finish()  // the store closed
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: Self.leadersChangesFallback)
                        wake.yield()
                    }
                }
                for await _ in wakeUps {
                    if election?.gate.mayAct == true { continue }
                    do {
                        authenticator?.update(try await store.accessTokens())
                        try await flags.catchUp()
                    } catch {
                        logger.debug("cannot read the leader's changes: \(error)")
                    }
                }
                group.cancelAll()
            }
        }
    }

    static let leadersChangesFallback = Duration.seconds(30)

    /// Every flag change counts in the controller's metrics (`ripcord_flag_changes_total`).
    private func countFlagChanges() {
        let changes = flags.subscribe(environment: nil, heartbeat: .seconds(3600))
        Task { [controller] in
            for await message in changes {
                guard case let .update(update) = message else { continue }
                for event in update.events {
                    switch event {
                    case .featureUpdated: await controller.countFlagChange(environment: update.environment, change: "updated")
                    case .featureRemoved: await controller.countFlagChange(environment: update.environment, change: "removed")
                    default: continue
                    }
                }
            }
        }
    }

    /// Every route of the API (the application's, and what the OpenAPI test compares with the description).
    public func apiRouter() -> Hummingbird.Router<BasicRequestContext> {
        RipcordAPI.router(
            controller: controller, authenticator: authenticator, flags: flags, flagRollouts: flagRollouts,
            corsAllowedOrigins: config.corsAllowedOrigins, reloader: self, fleet: fleet, leadership: election == nil ? nil : self)
    }

    /// The HTTP API application, listening on the configured address.
    public func application(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> some ApplicationProtocol {
        let handlers: @Sendable () -> [any RemovableChannelHandler] = { [flags, authenticator] in
            RipcordAPI.channelHandlers(flags: flags, authenticator: authenticator)
        }
        return Application(
            router: apiRouter(),
            server: .http1(configuration: .init(additionalChannelHandlers: handlers())),
            configuration: .init(address: .hostname(config.api.host, port: config.api.port), serverName: "ripcord"),
            onServerRunning: onServerRunning, eventLoopGroupProvider: .shared(group), logger: logger)
    }

    /// Re-reads the configuration file and applies its services without a restart (`Controller.reload`); a file
    /// that does not load is refused with its problem and the running configuration stays.
    public func reload(actor: String?) async throws -> ReloadSummary {
        guard let configFile else { throw Refusal(.conflict, "no_config_file", "this server was not started from a configuration file") }
        let new: RipcordConfiguration
        do { new = try ConfigLoader.load(file: configFile) } catch let error as ConfigError {
            throw Refusal(.invalid, "invalid_config", "\(error); the running configuration stays")
        }
        return try await controller.reload(new, actor: actor)
    }

    /// Stops reconcilers (rollouts resume on the next start), instances unless kept, and the router.
    /// - Parameter handOver: with kept instances, how long the front doors go on serving the last routes
    ///   for a restarted `serve` to take them over (`ControllerLock`); they close as soon as it serves.
    public func shutdown(keepInstances: Bool, handOver: Duration? = nil) async {
        await flags.stopFlushingEvaluations()
        await flagRollouts.shutdown()
        electionTask.withLockedValue { $0 }?.cancel()
        await controller.shutdown(keepInstances: keepInstances)
        // After the reconcilers stopped: a follower takes over within a renewal instead of a whole lease.
        await election?.resign()
        await sharedStore?.close()
        await notifier?.shutdown()
        lock.release()
        if keepInstances, let handOver {
            let taken = await ControllerLock.waitForSuccessor(stateDirectory: config.stateDirectory, upTo: handOver)
            logger.info(taken ? "a restarted serve took over the front doors: draining" : "no restarted serve within \(handOver): closing the front doors")
        }
        await fleet?.finishStreams()
        await router.shutdown()
        try? await group.shutdownGracefully()
    }
}

extension RipcordServer: LeadershipReporting {}

/// The controller's answer to "who owns this service", for a notifier made before the controller.
private actor OwnerDirectory {
    private var controller: Controller?

    func use(_ controller: Controller) { self.controller = controller }

    func owners(of service: String) async -> [ServiceOwner] { await controller?.owners(of: service) ?? [] }
}
