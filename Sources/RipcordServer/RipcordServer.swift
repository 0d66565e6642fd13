import Foundation
import Hummingbird
import Logging
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
import RipcordRouter
import RipcordStore
import RipcordTrafficManagers
import RipcordWire

extension ExternalRouters: RouterFleet {}

/// Ripcord on its embedded defaults, assembled from a configuration: SQLite state, the built-in
/// router (or the HAProxy or nginx that `traffic:` names), local processes (or the user's scripts),
/// and the HTTP API. `ripcord serve`, the demo and the tests all use this.
public final class RipcordServer: Sendable {
    public let config: RipcordConfiguration
    public let store: SQLiteStore
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
        lockWait: Duration = .seconds(15), configFile: String? = nil, threads: Int? = nil, logger: Logger = Logger(label: "ripcord")
    ) async throws {
        self.config = config
        self.configFile = configFile
        self.logger = logger
        tokenFile = "\(config.stateDirectory)/admin.token"
        lock = try await ControllerLock.acquire(stateDirectory: config.stateDirectory, waitingUpTo: lockWait)
        store = try SQLiteStore.openState(directory: config.stateDirectory, tokenFile: tokenFile)
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads ?? System.coreCount))
        router = RipcordRouter.Router(group: group, limits: config.router)
        fleet = config.routerMode == .external ? ExternalRouters(limits: config.router) : nil
        traffic = fleet ?? TrafficManagers.external(for: config) ?? router
        let driver = SelectingDriver(
            process: ProcessDriver(logDirectory: "\(config.stateDirectory)/logs", logger: logger),
            command: CommandDriver(logger: logger))
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
        countFlagChanges()
        try await controller.start()
        try await flagRollouts.resume()
        await flags.startFlushingEvaluations()
        lock.markServing()
    }

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
            corsAllowedOrigins: config.corsAllowedOrigins, reloader: self, fleet: fleet)
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
        await controller.shutdown(keepInstances: keepInstances)
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

/// The controller's answer to "who owns this service", for a notifier made before the controller.
private actor OwnerDirectory {
    private var controller: Controller?

    func use(_ controller: Controller) { self.controller = controller }

    func owners(of service: String) async -> [ServiceOwner] { await controller?.owners(of: service) ?? [] }
}
