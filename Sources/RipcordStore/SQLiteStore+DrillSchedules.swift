import GRDB
import RipcordCore

// One row per service whose drill runs by itself.
extension SQLiteStore {
    static func createDrillScheduleTable(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE drill_schedule (
                    service TEXT PRIMARY KEY, every_ms INTEGER NOT NULL, fault TEXT, next_at INTEGER NOT NULL);
                """)
    }

    public func saveDrillSchedule(_ schedule: DrillSchedule) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO drill_schedule (service, every_ms, fault, next_at) VALUES (?, ?, ?, ?)",
                arguments: [schedule.service, schedule.every.milliseconds, schedule.fault?.description, schedule.nextAt.millisecondsSinceEpoch])
        }
    }

    public func removeDrillSchedule(service: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM drill_schedule WHERE service = ?", arguments: [service])
            return db.changesCount > 0
        }
    }

    /// A row that does not read back (edited by hand) is skipped rather than trusted.
    public func drillSchedules() async throws -> [DrillSchedule] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM drill_schedule ORDER BY service").compactMap { row in
                let fault: InjectedFault?
                if let text = row["fault"] as String? {
                    guard let parsed = try? InjectedFault(parsing: text) else { return nil }
                    fault = parsed
                } else {
                    fault = nil
                }
                return DrillSchedule(
                    service: row["service"], every: TimeSpan(milliseconds: row["every_ms"]), fault: fault,
                    nextAt: Moment(millisecondsSinceEpoch: row["next_at"]))
            }
        }
    }
}
