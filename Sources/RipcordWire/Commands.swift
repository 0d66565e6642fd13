import RipcordCore

// What clients send to the API, and the short answers to commands.

public struct DeployRequest: Codable, Sendable {
    public var version: String
    /// Deploy although some migrations have no undo script (a rollback would restore the code only).
    public var acceptAppOnlyRollback: Bool?
    /// Deploy a rejected version (recorded in the events).
    public var force: Bool?
    /// The stable version again with the service's current configuration.
    public var configChanged: Bool?
    public init(version: String, acceptAppOnlyRollback: Bool? = nil, force: Bool? = nil, configChanged: Bool? = nil) {
        self.version = version
        self.acceptAppOnlyRollback = acceptAppOnlyRollback
        self.force = force
        self.configChanged = configChanged
    }
}

public struct PromoteRequest: Codable, Sendable {
    public var full: Bool?
    public init(full: Bool?) { self.full = full }
}

public struct AbortRequest: Codable, Sendable {
    public var reason: String?
    public init(reason: String?) { self.reason = reason }
}

public struct UndoRequest: Codable, Sendable {
    public var toRevision: Int?
    /// All traffic at once instead of through the strategy's steps and analysis.
    public var instant: Bool?
    /// Return to a revision that was never promoted, or whose version is rejected.
    public var force: Bool?
    public init(toRevision: Int?, instant: Bool? = nil, force: Bool? = nil) {
        self.toRevision = toRevision
        self.instant = instant
        self.force = force
    }
}

/// The answer to a command the controller carries out in the background (promote, abort, pause …).
public struct Accepted: Codable, Sendable {
    public var accepted: Bool
    public var message: String

    public init(accepted: Bool, message: String) {
        self.accepted = accepted
        self.message = message
    }
}

/// What `ripcord reload` applied: services by name, and top-level settings that wait for a restart.
public struct ReloadSummary: Codable, Sendable, Equatable {
    public var added: [String]
    public var removed: [String]
    public var changed: [String]
    public var needsRestart: [String]

    public init(added: [String], removed: [String], changed: [String], needsRestart: [String]) {
        self.added = added
        self.removed = removed
        self.changed = changed
        self.needsRestart = needsRestart
    }
}

public struct ReleaseRequest: Codable, Sendable {
    public var manifest: ReleaseManifest
    /// Release although some migrations have no undo script (a rollback would restore the code only).
    public var acceptAppOnlyRollback: Bool?
    public init(manifest: ReleaseManifest, acceptAppOnlyRollback: Bool? = nil) {
        self.manifest = manifest
        self.acceptAppOnlyRollback = acceptAppOnlyRollback
    }
}

/// `POST /api/v1/flags/:name/guarded-rollouts`: raise the flag's percentage in `steps`, each held for
/// `stepDuration`, while `service`'s traffic is analysed (`analysis`, by default the service's own).
public struct GuardedRolloutRequest: Codable, Sendable {
    public var service: String
    public var steps: [Int]
    public var stepDuration: TimeSpan
    public var analysis: AnalysisSpec?
    public var progressDeadline: TimeSpan?

    public init(service: String, steps: [Int], stepDuration: TimeSpan, analysis: AnalysisSpec? = nil, progressDeadline: TimeSpan? = nil) {
        self.service = service
        self.steps = steps
        self.stepDuration = stepDuration
        self.analysis = analysis
        self.progressDeadline = progressDeadline
    }
}

/// A guarded flag rollout as the API shows it, with its events when asked for one.
public struct GuardedRolloutView: Codable, Sendable {
    public var id: Int64
    public var flag: String
    public var environment: String
    public var service: String
    public var phase: String
    public var percentage: Int
    public var step: Int
    public var steps: [FlagRolloutStep]
    public var startedAt: String
    public var finishedAt: String?
    public var trigger: Trigger?
    public var events: [EventView]?

    public init(_ rollout: FlagRollout, events: [Event]? = nil) {
        id = rollout.id
        flag = rollout.plan.flag
        environment = rollout.plan.environment
        service = rollout.plan.service
        phase = rollout.phase.rawValue
        percentage = rollout.percentage
        step = rollout.stepIndex + 1
        steps = rollout.plan.steps
        startedAt = rollout.startedAt.description
        finishedAt = rollout.finishedAt?.description
        trigger = rollout.trigger
        self.events = events?.map(EventView.init)
    }
}

/// What the controller did with an alert.
public struct AlertOutcome: Sendable, Codable, Equatable {
    public enum Action: String, Sendable, Codable {
        /// The service's rollout in progress is rolling back.
        case rollingBack
        /// The release was promoted within its guard window: an undo to the previous revision started.
        case undoing
        /// Nothing to do (resolved, no such service, nothing in progress or in a guard window).
        case none
    }

    public var alert: String
    public var service: String?
    public var action: Action
    public var detail: String

    public init(alert: String, service: String?, action: Action, detail: String) {
        self.alert = alert
        self.service = service
        self.action = action
        self.detail = detail
    }
}

/// `POST /api/v1/services/{name}/drill`: the fault to inject (default: the service's `drill.fault`).
public struct DrillRequest: Sendable, Codable, Equatable {
    public var fault: String?

    public init(fault: String?) { self.fault = fault }
}

/// `PUT /api/v1/services/{name}/drill-schedule`: a drill every `every` (e.g. `7d`), with `fault` or the service's own.
public struct DrillScheduleRequest: Sendable, Codable, Equatable {
    public var every: String
    public var fault: String?

    public init(every: String, fault: String?) {
        self.every = every
        self.fault = fault
    }
}
