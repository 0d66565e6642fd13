/// What an event records. The names are the vocabulary of the API, `ripcord history` and the
/// notifications, so they are constants: a renamed kind is a compile error wherever it is used.
/// A struct rather than an enum so that a client decodes kinds newer than itself and a stored event
/// keeps the kind it was written with.
public struct EventKind: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    public static func < (lhs: EventKind, rhs: EventKind) -> Bool { lhs.rawValue < rhs.rawValue }

    // A rollout's life.
    public static let rolloutStarted = EventKind(rawValue: "rollout.started")
    public static let rolloutPromoted = EventKind(rawValue: "rollout.promoted")
    public static let rolloutRolledBack = EventKind(rawValue: "rollout.rolledBack")
    /// Held by `ripcord pause`, and let go by `ripcord resume`.
    public static let rolloutPaused = EventKind(rawValue: "rollout.paused")
    public static let rolloutResumed = EventKind(rawValue: "rollout.resumed")
    /// Held at a release's barrier, and let go when every member reached it.
    public static let rolloutHeld = EventKind(rawValue: "rollout.held")
    public static let rolloutUnheld = EventKind(rawValue: "rollout.unheld")
    public static let candidateReady = EventKind(rawValue: "candidate.ready")
    /// After a rollback: every router sends the stable version all the traffic again.
    public static let trafficRestored = EventKind(rawValue: "traffic.restored")
    public static let deployForced = EventKind(rawValue: "deploy.forced")
    public static let undoForced = EventKind(rawValue: "undo.forced")
    public static let versionUnrejected = EventKind(rawValue: "version.unrejected")
    public static let controllerRestarted = EventKind(rawValue: "controller.restarted")
    /// A rollback drill's verdict (`ripcord drill`), with its reason.
    public static let drillPassed = EventKind(rawValue: "drill.passed")
    public static let drillFailed = EventKind(rawValue: "drill.failed")
    /// Someone made a service's drills run by themselves, or stopped them (`ripcord drill --schedule`).
    public static let drillScheduled = EventKind(rawValue: "drill.scheduled")
    public static let drillUnscheduled = EventKind(rawValue: "drill.unscheduled")

    // Strategy steps.
    public static let stepSetWeight = EventKind(rawValue: "step.setWeight")
    public static let stepPause = EventKind(rawValue: "step.pause")
    /// An indefinite pause: someone has to `ripcord promote`.
    public static let stepPauseUntilPromoted = EventKind(rawValue: "step.pauseUntilPromoted")
    public static let stepConfirm = EventKind(rawValue: "step.confirm")
    public static let stepAnalysis = EventKind(rawValue: "step.analysis")
    public static let stepPromoted = EventKind(rawValue: "step.promoted")
    public static let bluegreenPreview = EventKind(rawValue: "bluegreen.preview")
    public static let bluegreenSwitched = EventKind(rawValue: "bluegreen.switched")

    // Analysis and the evidence it waits for.
    public static let analysisMeasurement = EventKind(rawValue: "analysis.measurement")
    public static let analysisMetric = EventKind(rawValue: "analysis.metric")
    public static let analysisMetricComplete = EventKind(rawValue: "analysis.metricComplete")
    public static let evidenceWaiting = EventKind(rawValue: "evidence.waiting")
    public static let evidenceReceived = EventKind(rawValue: "evidence.received")
    public static let syntheticStarted = EventKind(rawValue: "synthetic.started")
    public static let syntheticStopped = EventKind(rawValue: "synthetic.stopped")
    /// Standalone routers stopped reporting (analysis holds), and all of them report again.
    public static let routersSilent = EventKind(rawValue: "routers.silent")
    public static let routersReporting = EventKind(rawValue: "routers.reporting")
    public static let alertReceived = EventKind(rawValue: "alert.received")
    public static let alertResolved = EventKind(rawValue: "alert.resolved")

    // Instances.
    public static let instanceStarted = EventKind(rawValue: "instance.started")
    public static let instanceExited = EventKind(rawValue: "instance.exited")
    public static let instancesAdopted = EventKind(rawValue: "instances.adopted")
    /// A configuration reload added, removed or changed a service.
    public static let serviceAdded = EventKind(rawValue: "service.added")
    public static let serviceRemoved = EventKind(rawValue: "service.removed")
    public static let serviceReconfigured = EventKind(rawValue: "service.reconfigured")
    /// A restart found an instance saved mid-start and stopped whatever that start left running.
    public static let instanceStartInterrupted = EventKind(rawValue: "instance.startInterrupted")
    public static let restartStarted = EventKind(rawValue: "restart.started")
    public static let restartFinished = EventKind(rawValue: "restart.finished")
    public static let restartFailed = EventKind(rawValue: "restart.failed")

    // Hooks, schema and notifications.
    public static let hookPassed = EventKind(rawValue: "hook.passed")
    public static let hookFailed = EventKind(rawValue: "hook.failed")
    public static let migrationApplied = EventKind(rawValue: "migration.applied")
    public static let migrationUndone = EventKind(rawValue: "migration.undone")
    public static let migrationFailed = EventKind(rawValue: "migration.failed")
    public static let notificationFailed = EventKind(rawValue: "notification.failed")

    // Releases.
    public static let releaseStarted = EventKind(rawValue: "release.started")
    public static let releaseWaiting = EventKind(rawValue: "release.waiting")
    public static let releaseProceeding = EventKind(rawValue: "release.proceeding")
    public static let releasePromoted = EventKind(rawValue: "release.promoted")
    public static let releaseRolledBack = EventKind(rawValue: "release.rolledBack")

    // Flags a rollout declares, guarded flag rollouts and the guard window after a flag change.
    public static let flagDisabled = EventKind(rawValue: "flag.disabled")
    public static let flagDisableFailed = EventKind(rawValue: "flag.disableFailed")
    public static let flagRolloutStarted = EventKind(rawValue: "flagRollout.started")
    public static let flagRolloutStep = EventKind(rawValue: "flagRollout.step")
    public static let flagRolloutMeasurement = EventKind(rawValue: "flagRollout.measurement")
    public static let flagRolloutResumed = EventKind(rawValue: "flagRollout.resumed")
    public static let flagRolloutCompleted = EventKind(rawValue: "flagRollout.completed")
    public static let flagRolloutDisabled = EventKind(rawValue: "flagRollout.disabled")
    public static let flagRolloutEffectFailed = EventKind(rawValue: "flagRollout.effectFailed")
    public static let guardStarted = EventKind(rawValue: "guard.started")
    public static let guardMeasurement = EventKind(rawValue: "guard.measurement")
    public static let guardPassed = EventKind(rawValue: "guard.passed")
    public static let guardTriggered = EventKind(rawValue: "guard.triggered")
    public static let guardUndoFailed = EventKind(rawValue: "guard.undoFailed")

    /// Every kind Ripcord records: what a notification may subscribe to.
    public static let all: Set<EventKind> = [
        .rolloutStarted, .rolloutPromoted, .rolloutRolledBack, .rolloutPaused, .rolloutResumed, .rolloutHeld, .rolloutUnheld,
        .candidateReady, .trafficRestored, .drillPassed, .drillFailed, .drillScheduled, .drillUnscheduled, .deployForced, .undoForced, .versionUnrejected, .controllerRestarted,
        .stepSetWeight, .stepPause, .stepPauseUntilPromoted, .stepConfirm, .stepAnalysis, .stepPromoted, .bluegreenPreview, .bluegreenSwitched,
        .analysisMeasurement, .analysisMetric, .analysisMetricComplete, .evidenceWaiting, .evidenceReceived, .syntheticStarted,
        .syntheticStopped, .alertReceived, .alertResolved, .routersSilent, .routersReporting,
        .instanceStarted, .instanceExited, .instancesAdopted, .instanceStartInterrupted, .serviceAdded, .serviceRemoved, .serviceReconfigured, .restartStarted, .restartFinished,
        .restartFailed,
        .hookPassed, .hookFailed, .migrationApplied, .migrationUndone, .migrationFailed, .notificationFailed,
        .releaseStarted, .releaseWaiting, .releaseProceeding, .releasePromoted, .releaseRolledBack,
        .flagDisabled, .flagDisableFailed, .flagRolloutStarted, .flagRolloutStep, .flagRolloutMeasurement, .flagRolloutResumed,
        .flagRolloutCompleted, .flagRolloutDisabled, .flagRolloutEffectFailed,
        .guardStarted, .guardMeasurement, .guardPassed, .guardTriggered, .guardUndoFailed,
    ]
}
