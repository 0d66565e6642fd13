/// A version Ripcord rolled back for a reason that says the version itself is bad: deploying it again
/// is refused until someone forces it or clears the mark, so a pipeline that retries (or re-applies its
/// desired state) cannot ship it once traffic happens to be quiet.
public struct Rejection: Sendable, Codable, Equatable {
    public var service: String
    public var version: SemanticVersion
    public var rolloutID: Int64
    public var trigger: TriggerKind
    public var message: String
    public var at: Moment

    public init(service: String, version: SemanticVersion, rolloutID: Int64, trigger: TriggerKind, message: String, at: Moment) {
        self.service = service
        self.version = version
        self.rolloutID = rolloutID
        self.trigger = trigger
        self.message = message
        self.at = at
    }
}

extension TriggerKind {
    /// Whether a rollback for this reason marks the candidate version rejected. A human's abort says
    /// nothing about the version; a release partner's failure is the partner's (which is rejected itself).
    public var rejectsVersion: Bool {
        switch self {
        case .abort, .releasePartnerFailed: false
        default: true
        }
    }
}

extension Rollout {
    /// The rejection this rollout's outcome records, if any.
    public var rejection: Rejection? {
        // A failed reconfiguration says the configuration is bad, not the version (still stable); a drill
        // that rolls back did its job.
        guard phase == .rolledBack, kind != .reconfigure, kind != .drill, let trigger, trigger.kind.rejectsVersion, let finishedAt else { return nil }
        return Rejection(service: service, version: candidateVersion, rolloutID: id, trigger: trigger.kind, message: trigger.message, at: finishedAt)
    }
}
