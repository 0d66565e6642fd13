/// Where Ripcord keeps its state, by role: a controller part asks only for the role it needs, and an
/// in-memory store (RipcordTesting) stands in for SQLite in the controller's tests.
public typealias StateStore = RevisionStore & RolloutStore & InstanceStore & ReleaseStore & DrillScheduleStore

/// A service's revisions (version and configuration) and which one is stable.
public protocol RevisionStore: Sendable {
    func appendRevision(service: String, version: SemanticVersion, spec: ServiceSpec, note: String, at: Moment) async throws -> Revision
    func revisions(service: String) async throws -> [Revision]
    func stableRevision(service: String) async throws -> Revision?
}

/// Rollouts, their events and the rejections their rollbacks leave. `save(_:events:at:)` must be atomic:
/// the rollout's new state, its events and (on promotion) the new stable revision, (on a rollback that
/// blames the version) its rejection land together or not at all.
public protocol RolloutStore: Sendable {
    /// Creates a rollout with a fresh id, records its first events, and returns it.
    func createRollout(at: Moment, events: [EventDraft], _ make: @Sendable (Int64) -> Rollout) async throws -> Rollout
    /// Persists a rollout's state with the events of the same transition.
    @discardableResult
    func save(_ rollout: Rollout, events: [EventDraft], at: Moment) async throws -> [Event]
    func rollout(id: Int64) async throws -> Rollout?
    func rollouts(service: String, limit: Int) async throws -> [Rollout]
    func activeRollouts() async throws -> [Rollout]

    @discardableResult
    func record(service: String, rolloutID: Int64?, events: [EventDraft], at: Moment) async throws -> [Event]
    func events(service: String?, rolloutID: Int64?, afterID: Int64, limit: Int) async throws -> [Event]
    /// Events of `kinds` stored at or after `since` (of one service, or all), oldest first, at most `limit`.
    func events(kinds: Set<EventKind>, since: Moment, service: String?, limit: Int) async throws -> [Event]
    /// The newest event's id (0 with none): where a stream that starts now begins.
    func lastEventID() async throws -> Int64
    /// Where the events of each committed write are published, once, after the commit.
    var eventFeed: EventFeed { get }

    /// The version's rejection for the service, if it has one (recorded by `save` with the rollback).
    func rejection(service: String, version: SemanticVersion) async throws -> Rejection?
    func rejections(service: String) async throws -> [Rejection]
    /// Clears a rejection; false when there was none.
    func removeRejection(service: String, version: SemanticVersion) async throws -> Bool
}

/// The instances the controller runs, so a restarted controller can adopt them.
public protocol InstanceStore: Sendable {
    func saveInstance(_ instance: InstanceRecord) async throws
    func removeInstance(id: String) async throws
    func instances(service: String) async throws -> [InstanceRecord]
}

/// Releases: several services' rollouts that succeed or fail together.
public protocol ReleaseStore: Sendable {
    /// Creates a release with a fresh id; `saveRelease` then records each change (a finished one stays finished).
    func createRelease(at: Moment, _ make: @Sendable (Int64) -> Release) async throws -> Release
    func saveRelease(_ release: Release, at: Moment) async throws
    func release(id: Int64) async throws -> Release?
    func releases(limit: Int) async throws -> [Release]
    func activeReleases() async throws -> [Release]
}

/// The drills that run by themselves, one schedule per service.
public protocol DrillScheduleStore: Sendable {
    /// Creates or replaces the service's schedule.
    func saveDrillSchedule(_ schedule: DrillSchedule) async throws
    /// False when the service had none.
    func removeDrillSchedule(service: String) async throws -> Bool
    func drillSchedules() async throws -> [DrillSchedule]
}

/// Runs and stops instances of a version (local processes, or the user's own scripts).
///
/// Asking about an instance is async: for the command driver it runs the user's check script (on
/// another host, maybe). A cache refreshed in the background would keep these synchronous but answer
/// from the past, and a restarted controller must know which instances are alive before it adopts them.
public protocol InstanceDriver: Sendable {
    /// Starts `planned` (saved, `starting`, with its id, version and a free local port to listen on) and
    /// returns it as started: same id, its pid or handle, its address (a command driver's script may report
    /// another), no longer `starting`. The instance is told its id, so it can be found without its pid.
    func start(_ planned: InstanceRecord, service: ServiceSpec) async throws -> InstanceRecord
    /// Stops the instance: a polite signal first, then force after `grace`. For a record still `starting`
    /// (the controller died mid-start) it stops whatever that start may have left running, found by its id.
    func stop(_ instance: InstanceRecord, grace: TimeSpan) async
    /// Whether the instance still runs (also for instances adopted after a restart).
    func isRunning(_ instance: InstanceRecord) async -> Bool
    /// How the instance ended ("exited with status 1"), once it has; `nil` while it runs.
    func exitStatus(of instance: InstanceRecord) async -> String?
    /// Those of `instances` that still run, asked about all at once: the stable supervisor asks about a
    /// batch of services at each look, and each driver answers it its cheapest way (the command driver
    /// runs the due checks as one batch and answers the rest from what it knows).
    func running(_ instances: [InstanceRecord]) async -> [InstanceRecord]
    /// A port for a new instance to listen on (RipcordDrivers: a free local port).
    func freePort() throws -> Int
}

/// A backend the traffic manager may send requests to, with its share of the service's traffic.
public struct Backend: Sendable, Hashable, Codable {
    public var address: HostPort
    public var version: SemanticVersion
    public var role: InstanceRole
    public var weight: Int
    /// A drill's fault, which the router applies to the requests it sends this backend.
    public var fault: InjectedFault?

    public init(address: HostPort, version: SemanticVersion, role: InstanceRole, weight: Int, fault: InjectedFault? = nil) {
        self.address = address
        self.version = version
        self.role = role
        self.weight = weight
        self.fault = fault
    }

    /// Splits traffic into integer weights whose ratio is exact: `candidateWeight` percent across the
    /// candidate's instances, the same share (as far as it fits) across the baseline's, and the rest
    /// across the stable ones.
    public static func split(
        stable: [HostPort], stableVersion: SemanticVersion?, candidate: [HostPort],
        candidateVersion: SemanticVersion?, candidateWeight: Int, baseline: [HostPort] = []
    ) -> [Backend] {
        let candidateShare = candidate.isEmpty ? 0 : (stable.isEmpty && baseline.isEmpty ? 100 : candidateWeight)
        let baselineShare =
            baseline.isEmpty || candidateShare == 0
            ? 0
            : (stable.isEmpty ? 100 - candidateShare : min(candidateShare, 100 - candidateShare))
        let stableShare = 100 - candidateShare - baselineShare
        // Each instance's weight is its group's share times (product of group sizes / its group's size).
        let groups: [(addresses: [HostPort], version: SemanticVersion?, role: InstanceRole, share: Int)] = [
            (stable, stableVersion, .stable, stableShare), (candidate, candidateVersion, .candidate, candidateShare),
            (baseline, stableVersion, .baseline, baselineShare),
        ]
        let product = groups.reduce(1) { $1.addresses.isEmpty ? $0 : $0 * $1.addresses.count }
        return groups.flatMap { group -> [Backend] in
            guard let version = group.version else { return [] }
            return group.addresses.map {
                Backend(address: $0, version: version, role: group.role, weight: group.share * (product / group.addresses.count))
            }
        }
    }
}

/// Splits a service's traffic between backends and measures each version.
public protocol TrafficManager: Sendable {
    /// Opens the service's front door (and a preview door that reaches only the candidate).
    /// Returns the bound front-door address (port 0 binds an ephemeral port).
    @discardableResult
    func addService(name: String, listen: HostPort, previewListen: HostPort?) async throws -> HostPort
    /// Replaces the service's backends. Requests in flight finish; removed backends get no new ones.
    func setBackends(service: String, _ backends: [Backend]) async throws
    /// As `setBackends(service:_:)`, telling which release the candidate belongs to, so a request pinned
    /// to that release reaches the candidate (and one pinned to another release the stable version).
    func setBackends(service: String, _ backends: [Backend], release: Int64?) async throws
    /// Cumulative measurements of one version of a service in one role (a baseline runs the stable
    /// version but is measured apart from it).
    func metrics(service: String, version: SemanticVersion, role: InstanceRole) async -> VersionMetrics
    /// Stops routing the service: its door closes (where the manager owns it) once requests in flight finish.
    func removeService(name: String) async throws
    /// Routers whose measurements are missing now (standalone routers that stopped reporting): while any
    /// is, the numbers above are incomplete and nothing is judged on them.
    func silentRouters() async -> [String]
    /// The controller has published every service's routes after starting: a manager that hands routes
    /// on to others may do so from now (before, it would hand out an incomplete table).
    func routesComplete() async
    /// Whether it applies a backend's `fault` (Ripcord's routers do; HAProxy and nginx cannot), so a
    /// drill can corrupt the candidate's traffic.
    var injectsFaults: Bool { get }
}

extension TrafficManager {
    /// A load balancer whose configuration owns the door keeps it, with no backends behind it.
    public func removeService(name: String) async throws {
        try await setBackends(service: name, [])
    }

    /// A manager that routes everything itself misses no measurement.
    public func silentRouters() async -> [String] { [] }

    public func routesComplete() async {}

    public var injectsFaults: Bool { false }

    /// Traffic managers without release pins route as usual.
    public func setBackends(service: String, _ backends: [Backend], release: Int64?) async throws {
        try await setBackends(service: service, backends)
    }
}

/// Turns feature flags off and sets their rollout percentage for the controller (a rollback's declared
/// flags, a guarded flag rollout), recorded in the flag's history with `reason`.
public protocol FlagSwitch: Sendable {
    /// Turns the flag off. Returns false when it already was (nothing recorded); throws when it does not exist.
    @discardableResult
    func disable(flag: String, environment: String, reason: String) async throws -> Bool
    /// Turns the flag on. Safe to repeat.
    func enable(flag: String, environment: String, reason: String) async throws
    /// Sets the percentage of the flag's gradual rollout. Safe to repeat.
    func setRolloutPercentage(_ percentage: Int, flag: String, environment: String, reason: String) async throws
}

/// Where guarded flag rollouts (`FlagRollout.swift`) and their events are kept. `save` must be atomic:
/// the state (with its pending effects) and the transition's events land together or not at all.
/// Their events are `Event`s whose `service` is the flag's name and `rolloutID` the flag rollout's id.
public protocol FlagRolloutStore: Sendable {
    func createFlagRollout(at: Moment, _ make: @Sendable (Int64) -> FlagRollout) async throws -> FlagRollout
    @discardableResult
    func save(_ rollout: FlagRollout, events: [EventDraft], at: Moment) async throws -> [Event]
    func flagRollout(id: Int64) async throws -> FlagRollout?
    /// The flag's guarded rollouts in one environment, newest first.
    func flagRollouts(flag: String, environment: String) async throws -> [FlagRollout]
    /// Running ones, and finished ones whose last effects were not confirmed carried out.
    func unsettledFlagRollouts() async throws -> [FlagRollout]
    @discardableResult
    func recordFlagRolloutEvents(_ events: [EventDraft], rolloutID: Int64, at: Moment) async throws -> [Event]
    func flagRolloutEvents(rolloutID: Int64) async throws -> [Event]
}
