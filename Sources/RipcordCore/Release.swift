/// Several services at new versions, rolled out as one unit: they go forward in lockstep and come
/// back together. Each service still runs its own `Rollout`; the release holds each of them at the
/// same barriers (`ReleaseBarrier`) and lets them pass only together.
public struct ReleaseManifest: Sendable, Codable, Equatable {
    public var name: String?
    public var services: [ReleaseTarget]
    /// Flags the release introduces: every member declares them, so rolling the release back turns them off.
    public var flags: [DeclaredFlag]?

    public init(name: String? = nil, services: [ReleaseTarget], flags: [DeclaredFlag] = []) {
        self.name = name
        self.services = services
        self.flags = flags.isEmpty ? nil : flags
    }
}

/// One service of a release manifest.
public struct ReleaseTarget: Sendable, Codable, Equatable {
    public var service: String
    public var version: SemanticVersion
    /// Replaces the service's configured strategy for this release.
    public var strategy: Strategy?
    /// What this version needs of other services, by service name.
    public var requires: [String: VersionRange]

    public init(service: String, version: SemanticVersion, strategy: Strategy? = nil, requires: [String: VersionRange] = [:]) {
        self.service = service
        self.version = version
        self.strategy = strategy
        self.requires = requires
    }
}

/// Where a rollout of a release waits for the release's other services. Ordered: a release
/// lets through the earliest barrier once every unfinished service waits at one.
public enum ReleaseBarrier: Sendable, Codable, Hashable, CustomStringConvertible {
    /// Candidates are healthy (and their pre-traffic hooks passed); no traffic has moved yet.
    case traffic
    /// The canary step with this index is next (every earlier step passed).
    case step(Int)
    /// Every step passed; next comes the switch of all traffic.
    case promotion

    public var rank: Int {
        switch self {
        case .traffic: 0
        case let .step(index): index
        case .promotion: Int.max
        }
    }

    public var description: String {
        switch self {
        case .traffic: "before traffic"
        case let .step(index): "before step \(index + 1)"
        case .promotion: "before promotion"
        }
    }
}

public enum ReleaseKind: String, Sendable, Codable, Equatable {
    case apply
    /// Returns every service of an earlier release to the revision it had before that release.
    case undo
}

public enum ReleasePhase: String, Sendable, Codable, Equatable {
    case running
    case promoted
    case rolledBack

    public var isTerminal: Bool { self != .running }
}

/// A service's part in a release: its rollout, and what undoing the release returns it to.
public struct ReleaseMember: Sendable, Codable, Equatable {
    public var service: String
    public var rolloutID: Int64
    public var version: SemanticVersion
    /// The stable revision before the release (nil for a service's first version).
    public var previousRevision: Int?
    public var previousVersion: SemanticVersion?

    public init(service: String, rolloutID: Int64, version: SemanticVersion, previousRevision: Int?, previousVersion: SemanticVersion?) {
        self.service = service
        self.rolloutID = rolloutID
        self.version = version
        self.previousRevision = previousRevision
        self.previousVersion = previousVersion
    }
}

/// Which service brought a release down, and why.
public struct ReleaseCause: Sendable, Codable, Equatable {
    public var service: String
    public var trigger: Trigger

    public init(service: String, trigger: Trigger) {
        self.service = service
        self.trigger = trigger
    }
}

public struct Release: Sendable, Codable, Equatable {
    public var id: Int64
    public var name: String
    public var kind: ReleaseKind
    public var phase: ReleasePhase
    public var manifest: ReleaseManifest
    public var members: [ReleaseMember]
    public var createdAt: Moment
    public var finishedAt: Moment?
    public var cause: ReleaseCause?
    /// For an undo: the release it undoes.
    public var undoes: Int64?

    public init(
        id: Int64, name: String, kind: ReleaseKind, manifest: ReleaseManifest, members: [ReleaseMember] = [],
        createdAt: Moment, undoes: Int64? = nil
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.phase = .running
        self.manifest = manifest
        self.members = members
        self.createdAt = createdAt
        self.undoes = undoes
    }

    public func member(_ service: String) -> ReleaseMember? { members.first { $0.service == service } }
}

/// What the controller does next for a release, decided from its members' rollouts.
public enum ReleaseAction: Sendable, Equatable {
    /// Let a held rollout through the barrier.
    case proceed(service: String, ReleaseBarrier)
    /// Roll a member back because another member failed.
    case rollBack(service: String, Trigger)
    /// A member was already promoted when another failed: return it to its previous revision.
    case undo(service: String, toRevision: Int)
    case finish(ReleasePhase, cause: ReleaseCause?)
}

extension Release {
    /// The release's next actions given the current rollout of each member (by service). Every
    /// action is safe to repeat: a rollback of a finished rollout and a second undo are refused
    /// harmlessly, so a controller that restarts simply coordinates again.
    public func coordinate(_ rollouts: [String: Rollout]) -> [ReleaseAction] {
        guard phase == .running else { return [] }
        let current = members.compactMap { member in rollouts[member.service].map { (member, $0) } }
        guard current.count == members.count else { return [] }
        let failed = current.filter { $0.1.phase == .rolledBack }
        if !failed.isEmpty {
            // The member whose own trouble began it, not one rolled back on its behalf.
            let culprit =
                failed.filter { $0.1.trigger?.kind != .releasePartnerFailed }.min {
                    ($0.1.finishedAt?.millisecondsSinceEpoch ?? 0) < ($1.1.finishedAt?.millisecondsSinceEpoch ?? 0)
                }
                ?? failed[0]
            let cause = ReleaseCause(service: culprit.0.service, trigger: culprit.1.trigger ?? Trigger(kind: .abort, message: "rolled back"))
            var actions: [ReleaseAction] = []
            for (member, rollout) in current where member.service != culprit.0.service {
                switch rollout.phase {
                case .rolledBack: continue
                case .promoted:
                    if let revision = member.previousRevision { actions.append(.undo(service: member.service, toRevision: revision)) }
                default: actions.append(.rollBack(service: member.service, partnerTrigger(cause)))
                }
            }
            // Undoing a promoted member is a rollout of its own; the release is over once no member is still rolling.
            if actions.allSatisfy({ if case .undo = $0 { true } else { false } }) {
                actions.append(.finish(.rolledBack, cause: cause))
            }
            return actions
        }
        if current.allSatisfy({ $0.1.phase == .promoted }) { return [.finish(.promoted, cause: nil)] }
        let unfinished = current.filter { !$0.1.isTerminal }
        let held = unfinished.compactMap { $0.1.heldAt }
        guard held.count == unfinished.count, let earliest = held.min(by: { $0.rank < $1.rank }) else { return [] }
        return unfinished.filter { $0.1.heldAt == earliest }.map { .proceed(service: $0.0.service, earliest) }
    }

    /// The trigger recorded on a member rolled back because `cause.service` failed.
    public func partnerTrigger(_ cause: ReleaseCause) -> Trigger {
        var evidence = cause.trigger.evidence
        evidence["release"] = String(id)
        evidence["causeService"] = cause.service
        evidence["causeTrigger"] = cause.trigger.kind.rawValue
        return Trigger(
            kind: .releasePartnerFailed,
            message: "release \(id) (\(name)): \(cause.service) rolled back (\(cause.trigger.kind.rawValue): \(cause.trigger.message))",
            evidence: evidence)
    }
}

/// A dependency constraint a release would break, naming both sides.
public struct ConstraintViolation: Sendable, Equatable, CustomStringConvertible {
    /// The service and version that states the requirement, and whether the release brings it or it runs now.
    public var dependent: String
    public var dependentVersion: SemanticVersion
    public var dependentSource: String
    public var required: String
    public var range: VersionRange
    /// The version of `required` there would be after the release (nil: the service has none).
    public var found: SemanticVersion?
    public var foundSource: String

    public var description: String {
        let found = self.found.map { "\(foundSource) \(required) \($0)" } ?? "\(required) has no version (\(foundSource))"
        return "\(dependent) \(dependentVersion) (\(dependentSource)) requires \(required) \(range), but \(found)"
    }
}

public enum ReleaseConstraints {
    /// Checks every requirement against the versions the release leaves in place: the release's for
    /// its services, the running stable version for the others. `running` holds, per service, the stable
    /// version and the requirements it was released with.
    public static func violations(
        of manifest: ReleaseManifest,
        running: [String: (version: SemanticVersion?, requires: [String: VersionRange])]
    ) -> [ConstraintViolation] {
        let brought = Dictionary(manifest.services.map { ($0.service, $0) }, uniquingKeysWith: { first, _ in first })
        func after(_ service: String) -> (SemanticVersion?, String) {
            if let target = brought[service] { return (target.version, "the release brings") }
            return (running[service]?.version, "running is")
        }
        var statements: [(service: String, version: SemanticVersion, source: String, requires: [String: VersionRange])] =
            manifest.services.map { ($0.service, $0.version, "in this release", $0.requires) }
        for (service, state) in running.sorted(by: { $0.key < $1.key }) where brought[service] == nil {
            if let version = state.version, !state.requires.isEmpty { statements.append((service, version, "running", state.requires)) }
        }
        var violations: [ConstraintViolation] = []
        for statement in statements {
            for (required, range) in statement.requires.sorted(by: { $0.key < $1.key }) {
                let (found, source) = after(required)
                if let found, range.admits(found) { continue }
                violations.append(
                    ConstraintViolation(
                        dependent: statement.service, dependentVersion: statement.version,
                        dependentSource: statement.source, required: required, range: range,
                        found: found, foundSource: found == nil ? "not running" : source))
            }
        }
        return violations
    }
}
