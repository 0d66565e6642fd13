/// Where people hear about rollouts: a webhook that gets a JSON description of each chosen event,
/// as Ripcord's own shape or as a Slack-compatible message.
public struct NotificationSpec: Sendable, Equatable, Codable {
    public enum Format: String, Sendable, Codable, CaseIterable {
        /// `{event, service, rolloutID, at, message, evidence}`.
        case json
        /// `{text}`: what Slack's (and Mattermost's, Rocket.Chat's …) incoming webhooks take.
        case slack
    }

    /// The outcomes, every pause that needs a human (an indefinite pause, a confirm step, a rollout
    /// held or paused for lack of evidence), and a failed rollback drill.
    public static let defaultEvents: [EventKind] = [
        .rolloutStarted, .rolloutPromoted, .rolloutRolledBack, .rolloutPaused,
        .stepPauseUntilPromoted, .stepConfirm, .rolloutHeld, .drillFailed,
    ]

    public var name: String
    /// May hold a secret (Slack's webhook URLs do): never written to logs or events.
    public var url: String
    public var format: Format
    public var events: [EventKind]
    /// Sent with every request; values may be secret references (resolved at each delivery) and are never logged.
    public var headers: [String: SecretValue]
    public var timeout: TimeSpan

    public init(
        name: String, url: String, format: Format = .json, events: [EventKind] = NotificationSpec.defaultEvents,
        headers: [String: SecretValue] = [:], timeout: TimeSpan = .seconds(5)
    ) {
        self.name = name
        self.url = url
        self.format = format
        self.events = events
        self.headers = headers
        self.timeout = timeout
    }
}

/// Told about recorded events; passes on those it cares about (webhooks, chat). Must not block:
/// the reconciler calls it right after a transition is saved.
public protocol EventSink: Sendable {
    func deliver(_ events: [Event]) async
}
