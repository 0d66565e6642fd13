import GRDB
import RipcordCore

// One row per rejected (service, version): the latest rollback that rejected it.
extension SQLiteStore {
    static func createRejectionTable(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE rejected_version (
                    service TEXT NOT NULL, version TEXT NOT NULL, rollout_id INTEGER NOT NULL, trigger TEXT NOT NULL,
                    message TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (service, version));
                """)
    }

    static func insert(_ db: Database, _ rejection: Rejection) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO rejected_version (service, version, rollout_id, trigger, message, at) VALUES (?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                rejection.service, rejection.version.description, rejection.rolloutID, rejection.trigger.rawValue,
                rejection.message, rejection.at.millisecondsSinceEpoch,
            ])
    }

    public func rejection(service: String, version: SemanticVersion) async throws -> Rejection? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM rejected_version WHERE service = ? AND version = ?",
                arguments: [service, version.description]
            ).flatMap(Self.rejection)
        }
    }

    public func rejections(service: String) async throws -> [Rejection] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rejected_version WHERE service = ? ORDER BY at", arguments: [service]).compactMap(Self.rejection)
        }
    }

    public func removeRejection(service: String, version: SemanticVersion) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM rejected_version WHERE service = ? AND version = ?", arguments: [service, version.description])
            return db.changesCount > 0
        }
    }

    /// A row that does not read back (edited by hand) is skipped rather than trusted.
    private static func rejection(_ row: Row) -> Rejection? {
        guard let service = row["service"] as String?, let text = row["version"] as String?,
            let version = try? SemanticVersion(parsing: text), let rolloutID = row["rollout_id"] as Int64?,
            let trigger = (row["trigger"] as String?).flatMap(TriggerKind.init(rawValue:)),
            let message = row["message"] as String?, let at = row["at"] as Int64?
        else { return nil }
        return Rejection(
            service: service, version: version, rolloutID: rolloutID, trigger: trigger, message: message,
            at: Moment(millisecondsSinceEpoch: at))
    }
}
