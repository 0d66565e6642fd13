import RipcordCore

/// One rollout's life as its events tell it: when it began, when users first got the candidate, how it
/// ended and when traffic was back. Metrics, reports and post-mortems all read rollouts through this, so
/// "time to detect" means the same thing everywhere.
public struct RolloutTimeline: Sendable, Equatable {
    public enum Outcome: String, Sendable, Codable, Equatable {
        case inProgress, promoted, rolledBack
    }

    public var rolloutID: Int64
    public var service: String
    /// deploy, undo, reconfigure (what `rollout.started` recorded).
    public var kind: String
    public var candidate: String?
    public var stable: String?
    public var startedAt: Moment?
    /// When the candidate first got users' traffic (a weight step above 0, or a blue-green switch); nil if never.
    public var exposedAt: Moment?
    public var outcome: Outcome = .inProgress
    /// When it was promoted or the rollback was decided.
    public var finishedAt: Moment?
    /// When every router had moved the traffic back after a rollback.
    public var restoredAt: Moment?
    public var trigger: String?
    /// Which measurement decided a rollback: a provider metric's name, else the router judge.
    public var metric: String?
    /// A rollback drill (`ripcord drill`) rather than a real change, and its verdict once judged.
    public var isDrill = false
    public var drillPassed: Bool?
    public var release: Int64?
    public var flagsTurnedOff: [String] = []
    public var migrationsUndone: [String] = []
    public var actors: [String] = []

    /// - Parameter events: one rollout's events, oldest first.
    public init(rolloutID: Int64, service: String, events: [Event]) {
        self.rolloutID = rolloutID
        self.service = service
        kind = "deploy"
        for event in events { apply(event) }
    }

    public mutating func apply(_ event: Event) {
        if let actor = event.actor, !actors.contains(actor) { actors.append(actor) }
        switch event.kind {
        case .rolloutStarted:
            startedAt = event.at
            candidate = event.evidence["candidate"]
            stable = event.evidence["stable"].flatMap { $0 == "none" ? nil : $0 }
            kind = event.evidence["kind"] ?? kind
            isDrill = event.evidence["drill"] != nil
        case .stepSetWeight where Int(event.evidence["weight"] ?? "") ?? 0 > 0, .bluegreenSwitched:
            if exposedAt == nil { exposedAt = event.at }
        case .rolloutPromoted:
            outcome = .promoted
            finishedAt = event.at
            if exposedAt == nil { exposedAt = event.at }
        case .rolloutRolledBack:
            outcome = .rolledBack
            finishedAt = event.at
            trigger = event.evidence["trigger"]
            metric = event.evidence["metric"] ?? event.evidence["judge"]
        case .trafficRestored:
            restoredAt = event.at
        case .drillPassed, .drillFailed:
            drillPassed = event.kind == .drillPassed
        case .releaseStarted:
            release = event.evidence["release"].flatMap { Int64($0) }
        case .flagDisabled:
            if let flag = event.evidence["flag"] { flagsTurnedOff.append(flag) }
        case .migrationUndone:
            migrationsUndone.append(event.evidence["script"] ?? event.message)
        default:
            break
        }
    }

    /// A human's abort is a rollback, but not a failure the analysis caught.
    public var wasAborted: Bool { outcome == .rolledBack && trigger == TriggerKind.abort.rawValue }
    /// A change that failed in production (DORA's change failure): rolled back for a reason other than a human's abort.
    public var failed: Bool { outcome == .rolledBack && !wasAborted }

    /// From users' first request to the candidate until the rollback decision; nil if users never had it.
    public var timeToDetect: TimeSpan? {
        guard outcome == .rolledBack, let exposedAt, let finishedAt else { return nil }
        return finishedAt - exposedAt
    }

    /// From the rollback decision until the traffic was back on the stable version.
    public var timeToMoveBack: TimeSpan? {
        guard outcome == .rolledBack, let finishedAt, let restoredAt, exposedAt != nil else { return nil }
        return restoredAt - finishedAt
    }

    /// From users' first request to the candidate until the traffic was back (DORA's time to restore).
    public var timeToRestore: TimeSpan? {
        guard outcome == .rolledBack, let exposedAt, let restoredAt else { return nil }
        return restoredAt - exposedAt
    }

    public var duration: TimeSpan? {
        guard let startedAt, let finishedAt else { return nil }
        return finishedAt - startedAt
    }
}
