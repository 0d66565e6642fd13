import PostgresNIO
import RipcordCore

// Guarded flag rollouts as SQLiteStore keeps them (its +FlagRollouts extension): the machine's state
// as JSON (with the effects not yet confirmed) and an append-only event log per rollout, apart from
// the deployment events (their ids are the log's own, and the event feed does not carry them). A
// flag rollout acts on traffic as a deployment rollout does, so its writes pass the same fence (`write`).
extension PostgresStateStore: FlagRolloutStore {
    public func createFlagRollout(at: Moment, _ make: @Sendable (Int64) -> FlagRollout) async throws -> FlagRollout {
        try await write { connection in
            let id = try await connection.first(
                "INSERT INTO flag_rollout (flag, environment, settled, state, updated_at) VALUES ('', '', FALSE, '', \(at.millisecondsSinceEpoch)) RETURNING id",
                as: Int64.self)
            let rollout = make(try PostgresStateStoreError.require(id, "INSERT INTO flag_rollout returned no id"))
            try await Self.update(connection, rollout, at: at)
            return rollout
        }
    }

    @discardableResult
    public func save(_ rollout: FlagRollout, events: [EventDraft], at: Moment) async throws -> [Event] {
        try await write { connection in
            try await Self.update(connection, rollout, at: at)
            return try await Self.insertFlagRolloutEvents(connection, events, rolloutID: rollout.id, flag: rollout.plan.flag, at: at)
        }
    }

    private static func update(_ connection: PostgresConnection, _ rollout: FlagRollout, at: Moment) async throws {
        let state = try JSONCoding.encode(rollout)
        // A settled rollout is history: nothing may bring it back.
        try await connection.run(
            """
            UPDATE flag_rollout SET flag = \(rollout.plan.flag), environment = \(rollout.plan.environment), settled = \(rollout.isSettled), state = \(state),
                updated_at = \(at.millisecondsSinceEpoch)
            WHERE id = \(rollout.id) AND NOT settled
            """)
    }

    public func flagRollout(id: Int64) async throws -> FlagRollout? {
        try await rows("SELECT state FROM flag_rollout WHERE id = \(id)") { try JSONCoding.decode(FlagRollout.self, try $0.decode(String.self)) }.first
    }

    public func flagRollouts(flag: String, environment: String) async throws -> [FlagRollout] {
        try await rows("SELECT state FROM flag_rollout WHERE environment = \(environment) AND flag = \(flag) ORDER BY id DESC") {
            try JSONCoding.decode(FlagRollout.self, try $0.decode(String.self))
        }
    }

    public func unsettledFlagRollouts() async throws -> [FlagRollout] {
        try await rows("SELECT state FROM flag_rollout WHERE NOT settled AND state <> '' ORDER BY id") {
            try JSONCoding.decode(FlagRollout.self, try $0.decode(String.self))
        }
    }

    @discardableResult
    public func recordFlagRolloutEvents(_ events: [EventDraft], rolloutID: Int64, at: Moment) async throws -> [Event] {
        try await write { connection in
            let flag = try await connection.first("SELECT flag FROM flag_rollout WHERE id = \(rolloutID)", as: String.self) ?? ""
            return try await Self.insertFlagRolloutEvents(connection, events, rolloutID: rolloutID, flag: flag, at: at)
        }
    }

    private static func insertFlagRolloutEvents(
        _ connection: PostgresConnection, _ events: [EventDraft], rolloutID: Int64, flag: String, at: Moment
    ) async throws -> [Event] {
        var stored: [Event] = []
        for draft in events {
            let id = try await connection.first(
                """
                INSERT INTO flag_rollout_event (rollout_id, flag, at, kind, message, evidence, actor)
                VALUES (\(rolloutID), \(flag), \(at.millisecondsSinceEpoch), \(draft.kind.rawValue), \(draft.message), \(try JSONCoding.encode(draft.evidence)),
                    \(draft.actor))
                RETURNING id
                """, as: Int64.self)
            stored.append(
                Event(
                    id: try PostgresStateStoreError.require(id, "INSERT INTO flag_rollout_event returned no id"), at: at, service: flag, rolloutID: rolloutID,
                    kind: draft.kind, message: draft.message, evidence: draft.evidence, actor: draft.actor))
        }
        return stored
    }

    public func flagRolloutEvents(rolloutID: Int64) async throws -> [Event] {
        try await rows(
            "SELECT id, at, flag, rollout_id, kind, message, evidence, actor FROM flag_rollout_event WHERE rollout_id = \(rolloutID) ORDER BY id"
        ) { row in
            let (id, at, flag, rolloutID, kind, message, evidence, actor) = try row.decode((Int64, Int64, String, Int64, String, String, String, String?).self)
            return Event(
                id: id, at: Moment(millisecondsSinceEpoch: at), service: flag, rolloutID: rolloutID, kind: EventKind(rawValue: kind), message: message,
                evidence: try JSONCoding.decode([String: String].self, evidence), actor: actor)
        }
    }
}
