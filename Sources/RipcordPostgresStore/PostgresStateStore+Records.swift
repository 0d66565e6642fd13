import PostgresNIO
import RipcordCore

// Releases, rejections and drill schedules: each as SQLiteStore keeps them (its +Releases,
// +Rejections and +DrillSchedules extensions), in PostgreSQL.

// MARK: Releases (one row each: the release as JSON plus the columns queries need)

extension PostgresStateStore {
    public func createRelease(at: Moment, _ make: @Sendable (Int64) -> Release) async throws -> Release {
        try await write { connection in
            let id = try await connection.first(
                "INSERT INTO release (name, phase, terminal, state, updated_at) VALUES ('', '', FALSE, '', \(at.millisecondsSinceEpoch)) RETURNING id",
                as: Int64.self)
            let release = make(try PostgresStateStoreError.require(id, "INSERT INTO release returned no id"))
            try await Self.update(connection, release, at: at)
            return release
        }
    }

    public func saveRelease(_ release: Release, at: Moment) async throws {
        try await write { connection in try await Self.update(connection, release, at: at) }
    }

    private static func update(_ connection: PostgresConnection, _ release: Release, at: Moment) async throws {
        let state = try JSONCoding.encode(release)
        // A finished release is history: nothing may turn it back into a running one.
        try await connection.run(
            """
            UPDATE release SET name = \(release.name), phase = \(release.phase.rawValue), terminal = \(release.phase.isTerminal), state = \(state),
                updated_at = \(at.millisecondsSinceEpoch)
            WHERE id = \(release.id) AND NOT terminal
            """)
    }

    public func release(id: Int64) async throws -> Release? {
        try await rows("SELECT state FROM release WHERE id = \(id)") { try JSONCoding.decode(Release.self, try $0.decode(String.self)) }.first
    }

    public func releases(limit: Int) async throws -> [Release] {
        try await rows("SELECT state FROM release ORDER BY id DESC LIMIT \(Int64(limit))") { try JSONCoding.decode(Release.self, try $0.decode(String.self)) }
    }

    public func activeReleases() async throws -> [Release] {
        try await rows("SELECT state FROM release WHERE NOT terminal ORDER BY id") { try JSONCoding.decode(Release.self, try $0.decode(String.self)) }
    }
}

// MARK: Rejections (one row per rejected service and version: the latest rollback that rejected it)

extension PostgresStateStore {
    static func insert(_ connection: PostgresConnection, _ rejection: Rejection) async throws {
        try await connection.run(
            """
            INSERT INTO rejected_version (service, version, rollout_id, trigger, message, at)
            VALUES (\(rejection.service), \(rejection.version.description), \(rejection.rolloutID), \(rejection.trigger.rawValue), \(rejection.message),
                \(rejection.at.millisecondsSinceEpoch))
            ON CONFLICT (service, version) DO UPDATE SET rollout_id = excluded.rollout_id, trigger = excluded.trigger, message = excluded.message,
                at = excluded.at
            """)
    }

    public func rejection(service: String, version: SemanticVersion) async throws -> Rejection? {
        try await rows(
            "SELECT service, version, rollout_id, trigger, message, at FROM rejected_version WHERE service = \(service) AND version = \(version.description)",
            Self.rejection
        ).first
    }

    public func rejections(service: String) async throws -> [Rejection] {
        try await rows("SELECT service, version, rollout_id, trigger, message, at FROM rejected_version WHERE service = \(service) ORDER BY at", Self.rejection)
    }

    public func removeRejection(service: String, version: SemanticVersion) async throws -> Bool {
        try await write { connection in
            try await connection.first(
                "DELETE FROM rejected_version WHERE service = \(service) AND version = \(version.description) RETURNING 1", as: Int32.self) != nil
        }
    }

    /// A row that does not read back (edited by hand) is skipped rather than trusted.
    private static func rejection(_ row: PostgresRow) throws -> Rejection? {
        let (service, versionText, rolloutID, triggerText, message, at) = try row.decode((String, String, Int64, String, String, Int64).self)
        guard let version = try? SemanticVersion(parsing: versionText), let trigger = TriggerKind(rawValue: triggerText) else { return nil }
        return Rejection(service: service, version: version, rolloutID: rolloutID, trigger: trigger, message: message, at: Moment(millisecondsSinceEpoch: at))
    }
}

// MARK: Drill schedules (one row per service whose drill runs by itself)

extension PostgresStateStore {
    public func saveDrillSchedule(_ schedule: DrillSchedule) async throws {
        try await write { connection in
            try await connection.run(
                """
                INSERT INTO drill_schedule (service, every_ms, fault, next_at)
                VALUES (\(schedule.service), \(Int64(schedule.every.milliseconds)), \(schedule.fault?.description), \(schedule.nextAt.millisecondsSinceEpoch))
                ON CONFLICT (service) DO UPDATE SET every_ms = excluded.every_ms, fault = excluded.fault, next_at = excluded.next_at
                """)
        }
    }

    public func removeDrillSchedule(service: String) async throws -> Bool {
        try await write { connection in
            try await connection.first("DELETE FROM drill_schedule WHERE service = \(service) RETURNING 1", as: Int32.self) != nil
        }
    }

    /// A row that does not read back (edited by hand) is skipped rather than trusted.
    public func drillSchedules() async throws -> [DrillSchedule] {
        // COLLATE "C": ordered by bytes, as SQLite orders them, whatever the database's locale.
        try await rows("SELECT service, every_ms, fault, next_at FROM drill_schedule ORDER BY service COLLATE \"C\"") { row in
            let (service, every, faultText, nextAt) = try row.decode((String, Int64, String?, Int64).self)
            let fault: InjectedFault?
            if let faultText {
                guard let parsed = try? InjectedFault(parsing: faultText) else { return nil }
                fault = parsed
            } else {
                fault = nil
            }
            return DrillSchedule(service: service, every: TimeSpan(milliseconds: every), fault: fault, nextAt: Moment(millisecondsSinceEpoch: nextAt))
        }
    }
}
