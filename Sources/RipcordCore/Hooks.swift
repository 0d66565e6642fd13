/// Where in a rollout a lifecycle hook runs (the points users know from CodeDeploy and Flagger).
public enum HookPoint: String, Sendable, Codable, CaseIterable {
    /// Before the candidate's instances start.
    case beforeDeploy
    /// The candidate's instances are healthy; no traffic yet (smoke tests through the pin header or the preview door).
    case afterStart
    /// Canary: before the first step; blue-green: before the switch.
    case beforeTraffic
    /// After each canary step.
    case afterStep
    case afterPromotion
    case onRollback

    /// Hooks before promotion hold the rollout until they pass, and a failure rolls it back; the
    /// others are told what happened and cannot change it.
    public var gatesRollout: Bool { self != .afterPromotion && self != .onRollback }
}

public enum HookAction: Sendable, Equatable, Codable {
    /// A command (split like a shell would), told about the rollout in `RIPCORD_*` environment variables.
    case command(String)
    /// A POST of a JSON description of the rollout; any 2xx passes. Header values may be secret references.
    case http(url: String, headers: [String: SecretValue])
}

public struct HookSpec: Sendable, Equatable, Codable {
    public var name: String
    public var point: HookPoint
    public var action: HookAction
    public var timeout: TimeSpan

    public static let defaultTimeout = TimeSpan.seconds(60)

    public init(name: String, point: HookPoint, action: HookAction, timeout: TimeSpan = defaultTimeout) {
        self.name = name
        self.point = point
        self.action = action
        self.timeout = timeout
    }
}
