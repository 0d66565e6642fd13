import RipcordCore

/// Tests name event kinds as users read them (`"rollout.rolledBack"`), which also pins the wire
/// spelling; product code uses the `EventKind` constants.
extension EventKind: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(rawValue: value) }
}
