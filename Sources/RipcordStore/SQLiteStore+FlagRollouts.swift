import Foundation
import GRDB
import RipcordCore

// Guarded flag rollouts: the machine's state as JSON (with the effects not yet confirmed) and an
// append-only event log per rollout, beside the deployment rollouts in the same file.
extension SQLiteStore: FlagRolloutStore {
    static func createFlagRolloutTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE flag_rollout (id INTEGER PRIMARY KEY AUTOINCREMENT, flag TEXT NOT NULL, environment TEXT NOT NULL,
                    settled INTEGER NOT NULL, state TEXT NOT NULL, updated_at INTEGER NOT NULL);
                CREATE INDEX flag_rollout_flag ON flag_rollout(environment, flag, id);
                CREATE INDEX flag_rollout_unsettled ON flag_rollout(settled);
                CREATE TABLE flag_rollout_event (id INTEGER PRIMARY KEY AUTOINCREMENT, rollout_id INTEGER NOT NULL, flag TEXT NOT NULL,
                    at INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL, evidence TEXT NOT NULL);
                CREATE INDEX flag_rollout_event_rollout ON flag_rollout_event(rollout_id, id);
                """)
    }

    static func addFlagRolloutEventActor(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE flag_rollout_event ADD COLUMN actor TEXT")
    }

    public func createFlagRollout(at: Moment, _ make: @Sendable (Int64) -> FlagRollout) async throws -> FlagRollout {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO flag_rollout (flag, environment, settled, state, updated_at) VALUES ('', '', 0, '', ?)",
                arguments: [at.millisecondsSinceEpoch])
            let rollout = make(db.lastInsertedRowID)
            try Self.update(db, rollout, at: at)
            return rollout
        }
    }

    @discardableResult
    public func save(_ rollout: FlagRollout, events: [EventDraft], at: Moment) async throws -> [Event] {
        try await pool.write { db in
            try Self.update(db, rollout, at: at)
            return try Self.insert(db, events: events, rollout: rollout.id, flag: rollout.plan.flag, at: at)
        }
    }

    private static func update(_ db: Database, _ rollout: FlagRollout, at: Moment) throws {
        // A settled rollout is history: nothing may bring it back.
        try db.execute(
            sql: "UPDATE flag_rollout SET flag = ?, environment = ?, settled = ?, state = ?, updated_at = ? WHERE id = ? AND settled = 0",
            arguments: [
                rollout.plan.flag, rollout.plan.environment, rollout.isSettled, try JSONCoding.encode(rollout),
                at.millisecondsSinceEpoch, rollout.id,
            ])
    }

    public func flagRollout(id: Int64) async throws -> FlagRollout? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT state FROM flag_rollout WHERE id = ?", arguments: [id]).map { try JSONCoding.decode(FlagRollout.self, $0) }
        }
    }

    public func flagRollouts(flag: String, environment: String) async throws -> [FlagRollout] {
        try await pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT state FROM flag_rollout WHERE environment = ? AND flag = ? ORDER BY id DESC",
                arguments: [environment, flag]
            ).map { try JSONCoding.decode(FlagRollout.self, $0) }
        }
    }

    public func unsettledFlagRollouts() async throws -> [FlagRollout] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM flag_rollout WHERE settled = 0 AND state != '' ORDER BY id")
                .map { try JSONCoding.decode(FlagRollout.self, $0) }
        }
    }

    @discardableResult
    public func recordFlagRolloutEvents(_ events: [EventDraft], rolloutID: Int64, at: Moment) async throws -> [Event] {
        try await pool.write { db in
            let flag = try String.fetchOne(db, sql: "SELECT flag FROM flag_rollout WHERE id = ?", arguments: [rolloutID]) ?? ""
            return try Self.insert(db, events: events, rollout: rolloutID, flag: flag, at: at)
        }
    }

    private static func insert(_ db: Database, events: [EventDraft], rollout: Int64, flag: String, at: Moment) throws -> [Event] {
        try events.map { draft in
            try db.execute(
                sql: "INSERT INTO flag_rollout_event (rollout_id, flag, at, kind, message, evidence, actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    rollout, flag, at.millisecondsSinceEpoch, draft.kind.rawValue, draft.message, try JSONCoding.encode(draft.evidence),
                    draft.actor,
                ])
            return Event(
                id: db.lastInsertedRowID, at: at, service: flag, rolloutID: rollout, kind: draft.kind, message: draft.message,
                evidence: draft.evidence, actor: draft.actor)
        }
    }

    public func flagRolloutEvents(rolloutID: Int64) async throws -> [Event] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM flag_rollout_event WHERE rollout_id = ? ORDER BY id", arguments: [rolloutID]).map { row in
                Event(
                    id: row["id"], at: Moment(millisecondsSinceEpoch: row["at"]), service: row["flag"], rolloutID: row["rollout_id"],
                    kind: EventKind(rawValue: row["kind"]), message: row["message"], evidence: try JSONCoding.decode([String: String].self, row["evidence"]),
                    actor: row["actor"])
            }
        }
    }
}
