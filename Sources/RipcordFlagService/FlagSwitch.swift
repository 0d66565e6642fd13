import RipcordCore
import RipcordFlags

/// The controller's hold on flags: its changes are recorded as made by "ripcord", with the
/// rollout or guarded rollout that made them as the reason, and reach streaming SDKs at once.
extension FlagService: FlagSwitch {
    public static let controllerActor = "ripcord"

    @discardableResult
    public func disable(flag: String, environment: String, reason: String) async throws -> Bool {
        let changes = try await change(environment: environment, actor: Self.controllerActor, reason: reason) { snapshot in
            guard var feature = snapshot.evaluator.definition(of: flag) else { throw Self.notFound(flag, environment) }
            feature.enabled = false
            return [.putFlag(feature)]
        }
        return !changes.isEmpty
    }

    public func enable(flag: String, environment: String, reason: String) async throws {
        try await setEnabled(true, flag: flag, environment: environment, actor: Self.controllerActor, reason: reason)
    }

    public func setRolloutPercentage(_ percentage: Int, flag: String, environment: String, reason: String) async throws {
        try await setRollout(
            Double(percentage), stickiness: nil, groupId: nil, flag: flag, environment: environment,
            actor: Self.controllerActor, reason: reason)
    }
}
