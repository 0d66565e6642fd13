import GRDB

extension SQLiteStore {
    /// Every schema migration of the state database, in the order they apply; the SQL of each lives
    /// beside the queries of its tables. A database records the names it has applied, so a name
    /// never changes and a new migration goes at the end.
    static let migrations: [(name: String, migrate: @Sendable (Database) throws -> Void)] = [
        ("v1", createRolloutTables),
        ("instance-role", addInstanceRole),
        ("instance-driver", addInstanceDriver),
        ("flags-v1", createFlagTables),
        ("flags-v2-change-reason", addFlagChangeReason),
        ("flag-rollouts-v1", createFlagRolloutTables),
        ("flag-rollout-event-actor", addFlagRolloutEventActor),
        ("flags-v3-exposure-last-seen", addExposureLastSeen),
        ("releases-v1", createReleaseTable),
        ("rejected-versions", createRejectionTable),
        ("event-actor", addEventActor),
        ("tokens-v2-lifecycle", addTokenLifecycle),
        ("instance-starting", addInstanceStarting),
        ("drill-schedules", createDrillScheduleTable),
    ]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for (name, migrate) in migrations { migrator.registerMigration(name, migrate: migrate) }
        return migrator
    }
}
