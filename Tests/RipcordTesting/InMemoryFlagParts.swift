import Foundation
import RipcordCore

/// Guarded flag rollouts and their events, in memory; `save` is atomic as the protocol asks.
public actor InMemoryFlagRolloutStore: FlagRolloutStore {
    private var rolloutsByID: [Int64: FlagRollout] = [:]
    private var eventLog: [Event] = []

    public init() {}

    public func createFlagRollout(at: Moment, _ make: @Sendable (Int64) -> FlagRollout) -> FlagRollout {
        let rollout = make(Int64(rolloutsByID.count + 1))
        rolloutsByID[rollout.id] = rollout
        return rollout
    }

    public func save(_ rollout: FlagRollout, events: [EventDraft], at: Moment) throws -> [Event] {
        try Task.checkCancellation()
        rolloutsByID[rollout.id] = rollout
        return recordFlagRolloutEvents(events, rolloutID: rollout.id, at: at)
    }

    public func flagRollout(id: Int64) -> FlagRollout? { rolloutsByID[id] }

    public func flagRollouts(flag: String, environment: String) -> [FlagRollout] {
        rolloutsByID.values.filter { $0.plan.flag == flag && $0.plan.environment == environment }.sorted { $0.id > $1.id }
    }

    public func unsettledFlagRollouts() -> [FlagRollout] { rolloutsByID.values.filter { !$0.isSettled }.sorted { $0.id < $1.id } }

    @discardableResult
    public func recordFlagRolloutEvents(_ events: [EventDraft], rolloutID: Int64, at: Moment) -> [Event] {
        let flag = rolloutsByID[rolloutID]?.plan.flag ?? ""
        return events.map { draft in
            let event = Event(
                id: Int64(eventLog.count + 1), at: at, service: flag, rolloutID: rolloutID, kind: draft.kind, message: draft.message,
                evidence: draft.evidence, actor: draft.actor)
            eventLog.append(event)
            return event
        }
    }

    public func flagRolloutEvents(rolloutID: Int64) -> [Event] { eventLog.filter { $0.rolloutID == rolloutID } }
}

/// Flags as a guarded rollout switches them: what each flag was last set to, per environment.
public actor RecordingFlagSwitch: FlagSwitch {
    public private(set) var enabled: [String: Bool] = [:]
    public private(set) var percentages: [String: Int] = [:]

    public init() {}

    public func disable(flag: String, environment: String, reason: String) -> Bool {
        defer { enabled["\(environment)/\(flag)"] = false }
        return enabled["\(environment)/\(flag)"] != false
    }

    public func enable(flag: String, environment: String, reason: String) { enabled["\(environment)/\(flag)"] = true }

    public func setRolloutPercentage(_ percentage: Int, flag: String, environment: String, reason: String) {
        percentages["\(environment)/\(flag)"] = percentage
    }
}
