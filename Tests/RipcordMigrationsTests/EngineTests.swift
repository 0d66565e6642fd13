import Foundation
@testable import RipcordMigrations
import PostgresNIO
import RipcordTestSupport
import Testing

/// Versions 1, 1.1, 2, 10: applied numerically (10 after 2), each with its undo.
let shopMigrations = [
    "V1__create_users.sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
    "U1__create_users.sql": "DROP TABLE users;\n",
    "V1.1__add_email.sql": "ALTER TABLE users ADD COLUMN email TEXT;\n",
    "U1.1__add_email.sql": "ALTER TABLE users DROP COLUMN email;\n",
    "V2__orders.sql": """
    -- orders, with an index on their user
    CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, total INTEGER DEFAULT 0);
    CREATE INDEX orders_user ON orders (user_id);
    INSERT INTO users (id, name) VALUES (1, 'semicolon; inside a string');
    """,
    "U2__orders.sql": "DROP TABLE orders;\nDELETE FROM users WHERE id = 1;\n",
    "V10__order_status.sql": "ALTER TABLE orders ADD COLUMN status TEXT DEFAULT 'new';\n",
    "U10__order_status.sql": "ALTER TABLE orders DROP COLUMN status;\n",
]

@Suite(.postgresServer, .tags(.integration))
struct EngineTests {
    @Test(arguments: Backend.allCases)
    func applyUndoAndReapplyGiveTheSameSchemaAsOneApply(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        let migrator = Migrator(database: database, folder: try migrationFolder(shopMigrations))
        let empty = try await database.catalog()

        let applied = try await migrator.migrate(release: MigrationRelease(service: "shop", version: "1.2.0"))
        #expect(applied.map(\.script) == ["V1__create_users.sql", "V1.1__add_email.sql", "V2__orders.sql", "V10__order_status.sql"])
        let full = try await database.catalog()
        #expect(full != empty)
        #expect(try await migrator.status().allSatisfy { $0.state == .applied && $0.applied?.release == MigrationRelease(service: "shop", version: "1.2.0") })
        #expect(try await migrator.migrate().isEmpty)

        let undone = try await migrator.undo(to: MigrationVersion("1.1")!)
        #expect(undone.map(\.script) == ["U10__order_status.sql", "U2__orders.sql"])
        let partial = try await database.catalog()
        let fresh = try await backend.makeDatabase()
        _ = try await Migrator(database: fresh, folder: migrator.folderPath).migrate(to: MigrationVersion("1.1")!)
        #expect(partial == (try await fresh.catalog()))

        _ = try await migrator.undo(to: MigrationVersion("0")!)
        #expect(try await database.catalog() == empty)
        _ = try await migrator.migrate()
        #expect(try await database.catalog() == full)
    }

    @Test(arguments: Backend.allCases)
    func aFailingMigrationLeavesThePreviousVersionIntact(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        let folder = try migrationFolder([
            "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!,
            "V2__broken.sql": "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
        ])
        let migrator = Migrator(database: database, folder: folder)
        let error = await #expect(throws: MigrationError.self) { try await migrator.migrate() }
        guard case let .scriptFailed(file, line, _, completed)? = error else {
            Issue.record("unexpected \(String(describing: error))")
            return
        }
        #expect(file == "V2__broken.sql" && line == 2)
        #expect(completed.map(\.script) == ["V1__create_users.sql"])
        let afterV1 = try await backend.makeDatabase()
        _ = try await Migrator(database: afterV1, folder: folder).migrate(to: MigrationVersion("1")!)
        #expect(try await database.catalog() == (try await afterV1.catalog()), "V2's table was rolled back with it")
        #expect(try await migrator.status().map(\.state) == [.applied, .pending])

        try "CREATE TABLE half_done (x INTEGER);\n".write(toFile: "\(folder)/V2__broken.sql", atomically: true, encoding: .utf8)
        #expect(try await migrator.migrate().map(\.script) == ["V2__broken.sql"])
    }

    @Test(arguments: Backend.allCases)
    func anEditedAppliedScriptIsCaughtUntilRepaired(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        let folder = try migrationFolder(shopMigrations)
        let migrator = Migrator(database: database, folder: folder)
        _ = try await migrator.migrate(to: MigrationVersion("1.1")!)
        try "ALTER TABLE users ADD COLUMN email TEXT; -- edited\n".write(toFile: "\(folder)/V1.1__add_email.sql", atomically: true, encoding: .utf8)
        try "-- edited\nALTER TABLE users DROP COLUMN email;\n".write(toFile: "\(folder)/U1.1__add_email.sql", atomically: true, encoding: .utf8)
        let expected = MigrationError.checksumMismatch(["V1.1__add_email.sql", "U1.1__add_email.sql"])
        await #expect(throws: expected) { try await migrator.migrate() }
        await #expect(throws: expected) { try await migrator.validate() }
        #expect(try await migrator.status().first { $0.version == MigrationVersion("1.1") }?.state == .changed)

        #expect(try await migrator.repair() == ["accepted the current text of V1.1__add_email.sql and U1.1__add_email.sql"])
        try await migrator.validate()
        #expect(try await migrator.planUndo(to: MigrationVersion("1")!).first?.sql.hasPrefix("-- edited") == true, "repair stored the new undo")
        #expect(try await migrator.migrate().count == 2)
    }

    @Test(arguments: Backend.allCases)
    func undoRunsTheStoredScriptsWhenTheFolderNoLongerHasThem(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        _ = try await Migrator(database: database, folder: try migrationFolder(shopMigrations)).migrate()
        // The older release's folder: it never shipped versions 1.1, 2 and 10, nor their undo files.
        let olderRelease = Migrator(
            database: database,
            folder: try migrationFolder([
                "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!, "U1__create_users.sql": shopMigrations["U1__create_users.sql"]!,
            ]))
        #expect(try await olderRelease.status().map(\.state) == [.applied, .appliedNotInFolder, .appliedNotInFolder, .appliedNotInFolder])
        let plan = try await olderRelease.planUndo(to: MigrationVersion("1")!)
        #expect(plan.map(\.script) == ["U10__order_status.sql", "U2__orders.sql", "U1.1__add_email.sql"])

        let undone = try await olderRelease.undo(to: MigrationVersion("1")!)
        #expect(undone.map(\.script) == plan.map(\.script))
        #expect(undone.allSatisfy { $0.direction == .undo && $0.duration > .zero })
        let onlyV1 = try await backend.makeDatabase()
        _ = try await olderRelease.migrate()
        _ = try await Migrator(database: onlyV1, folder: olderRelease.folderPath).migrate()
        #expect(try await database.catalog() == (try await onlyV1.catalog()))
    }

    @Test(arguments: Backend.allCases)
    func aMigrationWithoutUndoCannotBeUndoneAndBlocksAutomaticRollback(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        let folder = try migrationFolder([
            "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!, "U1__create_users.sql": shopMigrations["U1__create_users.sql"]!,
            "V2__drop_name.sql": "ALTER TABLE users DROP COLUMN name;\n",
            "V3__rename_id.sql": "-- ripcord:allow rename-column\nALTER TABLE users RENAME COLUMN id TO user_id;\n",
        ])
        let migrator = Migrator(database: database, folder: folder)
        let safety = try await migrator.rollbackSafety()
        #expect(safety.pending.map(\.script) == ["V1__create_users.sql", "V2__drop_name.sql", "V3__rename_id.sql"])
        #expect(safety.withoutUndo == ["V2__drop_name.sql", "V3__rename_id.sql"])
        #expect(safety.findings.map(\.rule) == [.dropColumn], "V3's finding is allowed by its header, U1 drops what V1 created")
        #expect(safety.refusal(acceptingAppOnlyRollback: true)?.contains("V2__drop_name.sql:1: drop-column") == true)
        #expect(try await migrator.rollbackSafety(to: MigrationVersion("0")!) == RollbackSafety(pending: [], withoutUndo: [], findings: []))

        _ = try await migrator.migrate()
        await #expect(throws: MigrationError.noUndo(["V3__rename_id.sql", "V2__drop_name.sql"])) {
            try await migrator.undo(to: MigrationVersion("0")!)
        }
        #expect(try await migrator.status().map(\.state) == [.applied, .applied, .applied], "a refused undo changes nothing")
    }

    @Test(arguments: Backend.allCases)
    func twoMigratorsNeverRunAtOnce(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        let folder = try migrationFolder(shopMigrations)
        let (acquired, acquiredSignal) = AsyncStream<Void>.makeStream()
        let (release, releaseSignal) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await database.withMigratorLock(timeout: .seconds(10)) { _ in
                acquiredSignal.yield()
                for await _ in release { break }
            }
        }
        for await _ in acquired { break }
        let impatient = Migrator(database: database, folder: folder, lockTimeout: .milliseconds(300))
        await #expect(throws: MigrationError.lockTimeout(database: database.displayName, waited: .milliseconds(300))) {
            try await impatient.migrate()
        }
        #expect(try await database.catalog().isEmpty, "the waiting migrator ran nothing")
        releaseSignal.yield()
        try await holder.value

        // Two migrators on two connections at once: one applies everything, the other finds nothing to do.
        async let first = Migrator(database: database, folder: folder).migrate()
        async let second = Migrator(database: database, folder: folder).migrate()
        let runs = try await [first.count, second.count].sorted()
        #expect(runs == [0, 4])
    }

    @Test
    func aFailedNonTransactionalMigrationIsRecordedAsUnfinished() async throws {
        let database = try await Backend.postgres.makeDatabase()
        let folder = try migrationFolder([
            "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!,
            "V2__index.sql": "-- ripcord:nontransactional\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
        ])
        let migrator = Migrator(database: database, folder: folder)
        await #expect(throws: MigrationError.self) { try await migrator.migrate() }
        #expect(try await migrator.status().map(\.state) == [.applied, .failed])

        try "-- ripcord:nontransactional\nCREATE INDEX CONCURRENTLY users_name ON users (name);\n"
            .write(toFile: "\(folder)/V2__index.sql", atomically: true, encoding: .utf8)
        #expect(try await migrator.migrate().map(\.script) == ["V2__index.sql"], "the next run retries it")
        #expect(try await migrator.status().map(\.state) == [.applied, .applied])
        #expect(try await database.catalog().contains { $0.contains("users_name") })
    }

    @Test(arguments: Backend.allCases)
    func repeatableScriptsRunAgainWhenTheyChange(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        let folder = try migrationFolder([
            "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!,
            "R__user_names.sql": "DROP VIEW IF EXISTS user_names;\nCREATE VIEW user_names AS SELECT name FROM users;\n",
        ])
        let migrator = Migrator(database: database, folder: folder)
        #expect(try await migrator.migrate().map(\.direction) == [.apply, .repeatable])
        #expect(try await migrator.migrate().isEmpty)
        try "DROP VIEW IF EXISTS user_names;\nCREATE VIEW user_names AS SELECT id, name FROM users;\n"
            .write(toFile: "\(folder)/R__user_names.sql", atomically: true, encoding: .utf8)
        #expect(try await migrator.status().last?.state == .outdated)
        #expect(try await migrator.migrate().map(\.script) == ["R__user_names.sql"])
    }

    /// A view over a column an undo drops: the repeatable script Flyway users write beside their migrations.
    static let viewMigrations = [
        "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!, "U1__create_users.sql": shopMigrations["U1__create_users.sql"]!,
        "V2__add_email.sql": "ALTER TABLE users ADD COLUMN email TEXT;\n", "U2__add_email.sql": "ALTER TABLE users DROP COLUMN email;\n",
        "R__user_emails.sql": "DROP VIEW IF EXISTS user_emails;\nCREATE VIEW user_emails AS SELECT id, email FROM users;\n",
    ]

    @Test(arguments: Backend.allCases)
    func downDropsRepeatableViewsBeforeTheUndoScriptsAndUpCreatesThemAgain(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        let migrator = Migrator(database: database, folder: try migrationFolder(Self.viewMigrations))
        let empty = try await database.catalog()
        _ = try await migrator.migrate()
        let once = try await database.catalog()
        #expect(once.contains { $0.contains("user_emails") })

        let undone = try await migrator.undo(to: MigrationVersion("0")!)
        #expect(undone.map(\.script) == ["R__user_emails.sql", "U2__add_email.sql", "U1__create_users.sql"])
        #expect(try await database.catalog() == empty)
        #expect(try await migrator.status().map(\.state) == [.pending, .pending, .pending], "the view is not reported applied once dropped")

        #expect(try await migrator.migrate().map(\.script) == ["V1__create_users.sql", "V2__add_email.sql", "R__user_emails.sql"])
        #expect(try await database.catalog() == once, "up → down → up gives the schema of one up")
    }

    @Test(arguments: Backend.allCases)
    func aRepeatableRecordedWithoutItsDropIsDroppedByTheFolderFile(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        let migrator = Migrator(database: database, folder: try migrationFolder(Self.viewMigrations))
        _ = try await migrator.migrate()
        // As an earlier release recorded it: no drop statements stored.
        try await database.withConnection { session in
            try await session.execute("UPDATE ripcord_schema_history SET undo_sql = NULL WHERE kind = 'R'", [])
        }
        #expect(try await migrator.planUndo(to: MigrationVersion("0")!).first?.sql == "DROP VIEW IF EXISTS user_emails;\n")
        _ = try await migrator.undo(to: MigrationVersion("0")!)
        #expect(try await database.catalog().isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func aRollbackReappliesTheOlderReleasesRepeatableScriptsOnTheUndoneSchema(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        _ = try await Migrator(database: database, folder: try migrationFolder(Self.viewMigrations)).migrate()
        // The older release's folder: no version 2, and its view has no email column yet.
        let older = [
            "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!, "U1__create_users.sql": shopMigrations["U1__create_users.sql"]!,
            "R__user_emails.sql": "DROP VIEW IF EXISTS user_emails;\nCREATE VIEW user_emails AS SELECT id, name AS email FROM users;\n",
        ]
        let olderRelease = Migrator(database: database, folder: try migrationFolder(older))
        let plan = try await olderRelease.planUndo(to: MigrationVersion("1")!)
        #expect(plan.map(\.script) == ["R__user_emails.sql", "U2__add_email.sql", "R__user_emails.sql"])
        #expect(plan.map(\.direction) == [.undo, .undo, .repeatable])
        #expect(plan.first?.sql == "DROP VIEW IF EXISTS user_emails;\n")
        _ = try await olderRelease.undo(to: MigrationVersion("1")!)

        let fresh = try await backend.makeDatabase()
        _ = try await Migrator(database: fresh, folder: olderRelease.folderPath).migrate()
        #expect(try await database.catalog() == (try await fresh.catalog()))
        #expect(try await olderRelease.status().map(\.state) == [.applied, .applied])
    }

    @Test
    func statusAndPlanReadWithoutTheLockAndWithOnlySelectRights() async throws {
        let server = try #require(PostgresServer.current)
        let database = try #require(try await Backend.postgres.makeDatabase() as? PostgresMigrationDatabase)
        let name = try #require(database.configuration.database)
        let role = "reader_\(name)"
        let folder = try migrationFolder(shopMigrations)
        // PostgreSQL 15 gives PUBLIC no CREATE on the public schema: the role may connect and read only.
        try await database.withConnection { session in try await session.execute("CREATE ROLE \(role) LOGIN", []) }
        let reader = Migrator(
            database: try PostgresMigrationDatabase(url: "postgres://\(role)@127.0.0.1:\(server.port)/\(name)"),
            folder: folder, lockTimeout: .milliseconds(300))
        #expect(try await reader.status().map(\.state) == [.pending, .pending, .pending, .pending], "no history table reads as none")
        #expect(try await reader.planMigrate().count == 4)

        _ = try await Migrator(database: database, folder: folder).migrate(to: MigrationVersion("1.1")!)
        try await database.withConnection { session in
            try await session.execute("GRANT SELECT ON ripcord_schema_history TO \(role)", [])
        }
        let (acquired, acquiredSignal) = AsyncStream<Void>.makeStream()
        let (release, releaseSignal) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await database.withMigratorLock(timeout: .seconds(10)) { _ in
                acquiredSignal.yield()
                for await _ in release { break }
            }
        }
        for await _ in acquired { break }
        #expect(try await reader.status().map(\.state) == [.applied, .applied, .pending, .pending])
        #expect(try await reader.planMigrate().map(\.script) == ["V2__orders.sql", "V10__order_status.sql"])
        #expect(try await reader.planUndo(to: MigrationVersion("0")!).map(\.script) == ["U1.1__add_email.sql", "U1__create_users.sql"])
        try await reader.validate()
        releaseSignal.yield()
        try await holder.value
        await #expect(throws: MigrationError.self, "the role cannot change the schema") { try await reader.migrate() }
    }

    @Test
    func aFailedConcurrentIndexNamesTheInvalidIndexItLeftInsteadOfClaimingARollback() async throws {
        let database = try await Backend.postgres.makeDatabase()
        let folder = try migrationFolder([
            "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!,
            "V2__duplicates.sql": "INSERT INTO users VALUES (1, 'ada'), (2, 'ada');\n",
            "V3__unique_names.sql": "-- ripcord:nontransactional\nCREATE UNIQUE INDEX CONCURRENTLY users_name ON users (name);\n",
        ])
        let migrator = Migrator(database: database, folder: folder)
        let error = await #expect(throws: MigrationError.self) { try await migrator.migrate() }
        guard case let .nonTransactionalScriptFailed(file, line, _, invalidIndexes, completed)? = error else {
            Issue.record("unexpected \(String(describing: error))")
            return
        }
        #expect(file == "V3__unique_names.sql" && line == 2 && invalidIndexes == ["users_name"] && completed.count == 2)
        let message = error?.description ?? ""
        #expect(message.contains("nothing was rolled back") && message.contains("INVALID index(es) users_name") && !message.contains("failed and was rolled back"))
        #expect(try await migrator.status().map(\.state) == [.applied, .applied, .failed])
    }
}
