import RipcordCore
import RipcordInsights
import RipcordWire

/// What the service, rollout, release and alert routes ask of the rollout controller. The routes
/// take this rather than the concrete `Controller`, so the API does not link the controller (and the
/// CLI, which shares the API's wire types, neither); `RipcordServer` makes the controller conform.
public protocol RolloutOperations: Sendable {
    func statuses() async throws -> [ServiceStatus]
    func status(service: String) async throws -> ServiceStatus
    func history(service: String) async throws -> ServiceHistory
    func versions(service: String) async throws -> [VersionOutcome]
    func measurements(service: String) async throws -> RouterMeasurements
    func rollout(id: Int64) async throws -> Rollout
    func events(service: String?, rolloutID: Int64?, afterID: Int64, limit: Int) async throws -> [Event]
    func lastEventID() async throws -> Int64
    /// Tells the event stream when events are stored.
    var eventFeed: EventFeed { get }

    func deploy(
        service: String, version: SemanticVersion, acceptAppOnlyRollback: Bool, force: Bool, configChanged: Bool, actor: String?
    ) async throws -> Rollout
    func promote(service: String, full: Bool, actor: String?) async throws -> String
    func abort(service: String, reason: String, actor: String?) async throws
    func hold(service: String, reason: String, actor: String?) async throws
    func unhold(service: String, actor: String?) async throws
    func restart(service: String, actor: String?) async throws -> String
    func retry(service: String, actor: String?) async throws -> Rollout
    func undo(service: String, toRevision: Int?, note: String?, instant: Bool, force: Bool, actor: String?) async throws -> Rollout
    func unreject(service: String, version: SemanticVersion, actor: String?) async throws

    func applyRelease(_ manifest: ReleaseManifest, acceptAppOnlyRollback: Bool, actor: String?) async throws -> Release
    func releaseDetail(id: Int64) async throws -> ReleaseDetail
    func releaseHistory(limit: Int) async throws -> [ReleaseSummary]
    func undoRelease(id: Int64?, actor: String?) async throws -> Release
    func promoteRelease(id: Int64, actor: String?) async throws
    func abortRelease(id: Int64, reason: String, actor: String?) async throws

    func receive(_ alert: Alert, serviceLabel: String, actor: String?) async throws -> AlertOutcome
    func metricsExposition() async -> String
    func report(period: TimeSpan, service: String?) async throws -> DeploymentReport
    func postmortem(rollout: Int64) async throws -> Postmortem
    func postmortem(release: Int64) async throws -> Postmortem
    func runbook(service: String) async throws -> Runbook
    func drill(service: String, fault: InjectedFault?, actor: String?) async throws -> Rollout
    func drillHistory(service: String?) async throws -> [Event]
    func scheduleDrill(service: String, every: TimeSpan, fault: InjectedFault?, actor: String?) async throws -> DrillSchedule
    func unscheduleDrill(service: String, actor: String?) async throws -> Bool
    func drillSchedules() async -> [DrillSchedule]
}

/// Re-reads the configuration file `serve` runs from and applies its services (`POST /api/v1/reload`).
public protocol ConfigurationReloading: Sendable {
    func reload(actor: String?) async throws -> ReloadSummary
}

/// What the guarded flag rollout routes ask of the runner that drives them.
public protocol GuardedFlagRollouts: Sendable {
    func start(_ plan: FlagRolloutPlan, actor: String?) async throws -> FlagRollout
    func abort(id: Int64, reason: String, actor: String?) async throws
    func rollout(id: Int64) async throws -> FlagRollout
    func rollouts(flag: String, environment: String) async throws -> [FlagRollout]
    func events(id: Int64) async throws -> [Event]
    /// The analysis `service` is configured with (nil: no such service, or it has none).
    func configuredAnalysis(service: String) async -> AnalysisSpec?
}

/// The controller's side of standalone routers (`router.mode: external`): their routes streams, their
/// reports and what it knows of each.
public protocol RouterFleet: Sendable {
    func watch(router: String, heartbeat: Duration) async throws -> AsyncStream<RouteStreamMessage>
    func record(_ report: RouterReport, from router: String) async throws
    func routerViews() async -> [RouterView]
    func forget(router: String) async -> Bool
    func finishStreams() async
}
