import RipcordCore

// The API's answers about services, rollouts, releases and events: what the CLI, the web UI and
// any other client decode. Each is built from the core's records; none holds a server type.

/// What `ripcord status` shows for a service.
public struct ServiceStatus: Sendable, Codable, Equatable {
    public var name: String
    public var listen: String
    public var previewListen: String?
    public var stableRevision: Int?
    public var stableVersion: String?
    public var stableInstances: [InstanceStatus]
    public var candidateVersion: String?
    public var candidateInstances: [InstanceStatus]
    /// Fresh stable-version instances the candidate is compared with (empty without a baseline).
    public var baselineInstances: [InstanceStatus]
    public var rollout: RolloutSummary?

    public init(
        name: String, listen: String, previewListen: String?, stableRevision: Int?, stableVersion: String?, stableInstances: [InstanceStatus],
        candidateVersion: String?, candidateInstances: [InstanceStatus], baselineInstances: [InstanceStatus], rollout: RolloutSummary?
    ) {
        self.name = name
        self.listen = listen
        self.previewListen = previewListen
        self.stableRevision = stableRevision
        self.stableVersion = stableVersion
        self.stableInstances = stableInstances
        self.candidateVersion = candidateVersion
        self.candidateInstances = candidateInstances
        self.baselineInstances = baselineInstances
        self.rollout = rollout
    }
}

public struct InstanceStatus: Sendable, Codable, Equatable {
    public var id: String
    public var address: String
    public var pid: Int32
    public var version: String

    public init(_ instance: InstanceRecord) {
        id = instance.id
        address = instance.address.description
        pid = instance.pid
        version = instance.version.description
    }
}

public struct RolloutSummary: Sendable, Codable, Equatable {
    public var id: Int64
    public var service: String
    public var kind: RolloutKind
    public var revision: Int
    public var stableVersion: String?
    public var candidateVersion: String
    public var strategy: String
    public var phase: RolloutPhase
    public var step: Int?
    public var steps: Int?
    public var currentStep: String?
    public var candidateWeight: Int
    public var startedAt: String
    public var finishedAt: String?
    public var trigger: TriggerKind?
    public var reason: String?
    /// The release the rollout belongs to, and the barrier where it waits for the release's other services.
    public var release: Int64?
    public var waitingFor: String?
    /// While the rollout waits for evidence before leaving its weight: how much it has.
    public var evidence: String?
    /// Synthetic requests Ripcord sent to the candidate in this rollout (status only).
    public var syntheticRequests: UInt64?

    public init(_ rollout: Rollout) {
        id = rollout.id
        service = rollout.service
        kind = rollout.kind
        revision = rollout.revision
        stableVersion = rollout.stableVersion?.description
        candidateVersion = rollout.candidateVersion.description
        strategy = rollout.strategyDescription
        phase = rollout.phase
        if case let .canary(canary) = rollout.strategy, !canary.steps.isEmpty {
            step = min(rollout.stepIndex + 1, canary.steps.count)
            steps = canary.steps.count
        }
        currentStep = rollout.isTerminal ? nil : rollout.currentStep?.description
        candidateWeight = rollout.candidateWeight
        startedAt = rollout.startedAt.description
        finishedAt = rollout.finishedAt?.description
        trigger = rollout.trigger?.kind
        reason = rollout.trigger?.message
        release = rollout.release
        waitingFor = rollout.heldAt.map { "release \(rollout.release ?? 0): \($0)" }
        evidence = rollout.awaitingEvidenceSince == nil || rollout.isTerminal ? nil : "waiting for evidence: \(rollout.evidenceProgress)"
    }
}

/// A release as `ripcord release history` lists it.
public struct ReleaseSummary: Sendable, Codable, Equatable {
    public var id: Int64
    public var name: String
    public var kind: ReleaseKind
    public var phase: ReleasePhase
    public var services: [String]
    public var createdAt: String
    public var finishedAt: String?
    /// The service whose failure rolled the release back, and why.
    public var causeService: String?
    public var causeTrigger: TriggerKind?
    public var reason: String?
    public var undoes: Int64?

    public init(_ release: Release) {
        id = release.id
        name = release.name
        kind = release.kind
        phase = release.phase
        services = release.manifest.services.map { "\($0.service) \($0.version)" }
        createdAt = release.createdAt.description
        finishedAt = release.finishedAt?.description
        causeService = release.cause?.service
        causeTrigger = release.cause?.trigger.kind
        reason = release.cause?.trigger.message
        undoes = release.undoes
    }
}

public struct ReleaseMemberStatus: Sendable, Codable, Equatable {
    public var service: String
    public var version: String
    public var previousVersion: String?
    public var rollout: RolloutSummary?

    public init(_ member: ReleaseMember, rollout: Rollout?) {
        service = member.service
        version = member.version.description
        previousVersion = member.previousVersion?.description
        self.rollout = rollout.map(RolloutSummary.init)
    }
}

/// `ripcord release status`: the release, each member's rollout, and their events in order.
public struct ReleaseDetail: Sendable, Codable, Equatable {
    public var release: ReleaseSummary
    public var members: [ReleaseMemberStatus]
    public var events: [EventView]

    public init(release: ReleaseSummary, members: [ReleaseMemberStatus], events: [EventView]) {
        self.release = release
        self.members = members
        self.events = events
    }
}

/// `ripcord history`: revisions and rollouts with their outcome and reason.
public struct ServiceHistory: Sendable, Codable, Equatable {
    public var service: String
    public var stableRevision: Int?
    public var revisions: [RevisionSummary]
    public var rollouts: [RolloutSummary]

    public init(service: String, stableRevision: Int?, revisions: [RevisionSummary], rollouts: [RolloutSummary]) {
        self.service = service
        self.stableRevision = stableRevision
        self.revisions = revisions
        self.rollouts = rollouts
    }
}

public struct RevisionSummary: Sendable, Codable, Equatable {
    public var number: Int
    public var version: String
    public var createdAt: String
    public var note: String
    /// How the revision's rollout ended: promoted, rolled back (trigger), aborted, in progress.
    public var outcome: String?

    public init(number: Int, version: String, createdAt: String, note: String, outcome: String?) {
        self.number = number
        self.version = version
        self.createdAt = createdAt
        self.note = note
        self.outcome = outcome
    }
}

/// `ripcord versions`: each version a service has tried, how its last rollout ended, and whether it is rejected.
public struct VersionOutcome: Sendable, Codable, Equatable {
    public var version: String
    public var outcome: String
    public var rolloutID: Int64?
    public var at: String?
    /// Why the version may not be deployed again without --force (nil: it may).
    public var rejected: String?

    public init(version: String, outcome: String, rolloutID: Int64?, at: String?, rejected: String?) {
        self.version = version
        self.outcome = outcome
        self.rolloutID = rolloutID
        self.at = at
        self.rejected = rejected
    }
}

extension Rollout {
    /// The rollout's outcome in words, as history and versions show it.
    public var outcome: String {
        switch phase {
        case .promoted: "promoted"
        case .rolledBack where trigger?.kind == .abort: "aborted"
        case .rolledBack: "rolled back: \(trigger?.kind.rawValue ?? "?")"
        default: "in progress (\(phase.rawValue))"
        }
    }
}

/// An event as the API shows it.
public struct EventView: Sendable, Codable, Equatable {
    public var id: Int64
    public var at: String
    public var service: String
    public var rolloutID: Int64?
    public var kind: EventKind
    public var message: String
    public var evidence: [String: String]
    /// The name of the token whose API call caused the event; absent when Ripcord decided on its own.
    public var actor: String?

    public init(_ event: Event) {
        id = event.id
        at = event.at.description
        service = event.service
        rolloutID = event.rolloutID
        kind = event.kind
        message = event.message
        evidence = event.evidence
        actor = event.actor
    }
}

/// A rollout with its event trail.
public struct RolloutDetail: Sendable, Codable, Equatable {
    public var rollout: RolloutSummary
    public var events: [EventView]

    public init(rollout: RolloutSummary, events: [EventView]) {
        self.rollout = rollout
        self.events = events
    }
}

/// The router's cumulative measurements of one service's versions (since the router started), as the
/// judges read them: `GET /api/v1/services/{name}/measurements`.
public struct RouterMeasurements: Sendable, Codable, Equatable {
    public var service: String
    public var stableVersion: String?
    public var candidateVersion: String?
    public var rolloutID: Int64?
    public var at: String
    public var snapshot: AnalysisSnapshot

    public init(service: String, stableVersion: String?, candidateVersion: String?, rolloutID: Int64?, at: String, snapshot: AnalysisSnapshot) {
        self.service = service
        self.stableVersion = stableVersion
        self.candidateVersion = candidateVersion
        self.rolloutID = rolloutID
        self.at = at
        self.snapshot = snapshot
    }
}

/// Which controller acts on rollouts (`GET /api/v1/leader`, the first line of `ripcord status`).
public struct LeadershipView: Codable, Sendable, Equatable {
    /// The controller that answered.
    public var me: String
    /// `leader`, `follower`, or `single` (a controller that shares its store with no other).
    public var role: String
    public var leader: String?
    public var leaderURL: String?
    public var term: Int64?
    /// When the leader's term began.
    public var since: String?

    /// A controller that shares its store with no other: it always acts.
    public static let single = LeadershipView(me: "ripcord", role: "single", leader: nil, leaderURL: nil, term: nil, since: nil)

    public init(me: String, role: String, leader: String?, leaderURL: String?, term: Int64?, since: String?) {
        self.me = me
        self.role = role
        self.leader = leader
        self.leaderURL = leaderURL
        self.term = term
        self.since = since
    }
}
