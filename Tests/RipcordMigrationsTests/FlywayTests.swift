import Foundation
@testable import RipcordMigrations
import RipcordTestSupport
import Testing

/// What a Flyway (or sqitch) user brings along: an existing database, Flyway's history table,
/// callbacks, verify scripts.
@Suite(.postgresServer, .tags(.integration))
struct FlywayTests {
    @Test(arguments: Backend.allCases)
    func baselineRecordsAnExistingSchemaWithoutRunningIt(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        // The schema of versions 1 and 1.1, made by hand before Ripcord.
        try await database.withConnection { session in
            try await session.execute(shopMigrations["V1__create_users.sql"]!, [])
            try await session.execute(shopMigrations["V1.1__add_email.sql"]!, [])
        }
        let migrator = Migrator(database: database, folder: try migrationFolder(shopMigrations))
        #expect(try await migrator.baseline(version: MigrationVersion("1.1")!).count == 2)
        #expect(try await migrator.status().map(\.state) == [.applied, .applied, .pending, .pending])
        #expect(try await migrator.migrate().map(\.script) == ["V2__orders.sql", "V10__order_status.sql"], "nothing at or below 1.1 ran again")
        await #expect(throws: MigrationError.self, "a second baseline is refused") { try await migrator.baseline(version: MigrationVersion("2")!) }

        // A baseline between versions: marked, and `down` stops there (it has no undo).
        let other = try await backend.makeDatabase()
        try await other.withConnection { session in try await session.execute(shopMigrations["V1__create_users.sql"]!, []) }
        let between = Migrator(database: other, folder: try migrationFolder(shopMigrations))
        #expect(try await between.baseline(version: MigrationVersion("1.0.5")!) == ["recorded V1__create_users.sql as applied (not run)", "recorded the baseline 1.0.5"])
        #expect(try await between.planMigrate().first?.script == "V1.1__add_email.sql")
        await #expect(throws: MigrationError.noUndo(["<< baseline 1.0.5 >>"])) { try await between.undo(to: MigrationVersion("0")!) }
    }

    /// Flyway's DDL for its history table (as it creates it on PostgreSQL; SQLite takes the same).
    static let flywayTable = """
        CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL PRIMARY KEY, version VARCHAR(50), description VARCHAR(200) NOT NULL,
          type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INT, installed_by VARCHAR(100) NOT NULL,
          installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_time INT NOT NULL, success BOOLEAN NOT NULL)
        """

    @Test(arguments: Backend.allCases)
    func flywaysHistoryIsImportedWithItsChecksumsChecked(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        // Checksums as Flyway computes them (CRC-32 of the lines, computed here with Python's zlib).
        try await database.withConnection { session in
            try await session.execute(shopMigrations["V1__create_users.sql"]!, [])
            try await session.execute(shopMigrations["V1.1__add_email.sql"]!, [])
            try await session.execute(Self.flywayTable, [])
            try await session.execute(
                """
                INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
                VALUES (1, '1', 'create users', 'SQL', 'V1__create_users.sql', 51675886, 'ops', 5, TRUE),
                       (2, '1.1', 'add email', 'SQL', 'V1.1__add_email.sql', 273465196, 'ops', 3, TRUE),
                       (3, '2', 'orders', 'SQL', 'V2__orders.sql', 1, 'ops', 3, FALSE)
                """, [])
        }
        let migrator = Migrator(database: database, folder: try migrationFolder(shopMigrations))
        let notes = try await migrator.importFlywayHistory()
        #expect(notes.contains("skipped the failed Flyway run of V2__orders.sql") && notes.contains("recorded V1.1__add_email.sql as applied by ops"))
        let status = try await migrator.status()
        #expect(status.map(\.state) == [.applied, .applied, .pending, .pending])
        #expect(status.first?.applied?.appliedBy == "ops" && status.first?.hasUndo == true)
        _ = try await migrator.migrate()
        _ = try await migrator.undo(to: MigrationVersion("0")!)
        #expect(try await database.catalog().allSatisfy { $0.contains("flyway_schema_history") }, "the undo scripts imported with the history ran")

        // A file edited since Flyway applied it: refused, naming it, nothing imported.
        let edited = try await backend.makeDatabase()
        try await edited.withConnection { session in
            try await session.execute(Self.flywayTable, [])
            try await session.execute(
                """
                INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
                VALUES (1, '1', 'create users', 'SQL', 'V1__create_users.sql', 12345, 'ops', 5, TRUE)
                """, [])
        }
        let refused = Migrator(database: edited, folder: migrator.folderPath)
        let error = await #expect(throws: MigrationError.self) { try await refused.importFlywayHistory() }
        #expect(error?.description.contains("V1__create_users.sql") == true)
        #expect(try await refused.status().allSatisfy { $0.state == .pending })
    }

    @Test(arguments: Backend.allCases)
    func flywaysBaselineCoversTheMigrationsBelowIt(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        try await database.withConnection { session in
            for script in ["V1__create_users.sql", "V1.1__add_email.sql", "V2__orders.sql"] {
                for statement in SQLText.statements(shopMigrations[script]!) { try await session.execute(statement.text, []) }
            }
            try await session.execute(Self.flywayTable, [])
            try await session.execute(
                """
                INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
                VALUES (1, '3', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'ops', 0, TRUE)
                """, [])
        }
        let migrator = Migrator(database: database, folder: try migrationFolder(shopMigrations))
        _ = try await migrator.importFlywayHistory()
        #expect(try await migrator.status().map(\.state) == [.applied, .applied, .applied, .appliedNotInFolder, .pending])
        #expect(try await migrator.migrate().map(\.script) == ["V10__order_status.sql"])
        await #expect(throws: MigrationError.noUndo(["<< Flyway Baseline >>"])) { try await migrator.undo(to: MigrationVersion("0")!) }
    }

    @Test
    func flywaysChecksumIsCRC32OfTheLinesWithoutLineEndings() {
        #expect(Migrator.flywayChecksum("ALTER TABLE users ADD COLUMN email TEXT;\n") == 273465196)
        #expect(Migrator.flywayChecksum("ALTER TABLE users ADD COLUMN email TEXT;\r\n") == 273465196)
        #expect(Migrator.flywayChecksum("CREATE TABLE orders (id INTEGER PRIMARY KEY);\n") == 1959660869)
    }

    /// Each callback appends its event to a log table, numbered in order.
    static func logging(_ event: String) -> String {
        "INSERT INTO callback_log SELECT count(*), '\(event)' FROM callback_log;\n"
    }

    static func callbackLog(_ database: any MigrationDatabase) async throws -> [String] {
        try await database.withConnection { session in
            try await session.query("SELECT event FROM callback_log ORDER BY n", []).compactMap { $0.first?.description }
        }
    }

    @Test(arguments: Backend.allCases)
    func callbacksRunAroundTheCommandAndEachScript(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        var files = [
            "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!, "U1__create_users.sql": shopMigrations["U1__create_users.sql"]!,
            "V1.1__add_email.sql": shopMigrations["V1.1__add_email.sql"]!, "U1.1__add_email.sql": shopMigrations["U1.1__add_email.sql"]!,
            "beforeMigrate.sql": "CREATE TABLE IF NOT EXISTS callback_log (n INTEGER, event TEXT);\n" + Self.logging("beforeMigrate"),
        ]
        for event in [
            "beforeEachMigrate", "afterEachMigrate", "afterMigrate__log", "afterMigrateApplied", "afterEachMigrateError",
            "afterMigrateError", "beforeUndo", "beforeEachUndo", "afterEachUndo", "afterUndo",
        ] {
            files["\(event).sql"] = Self.logging(event)
        }
        let folder = try migrationFolder(files)
        let migrator = Migrator(database: database, folder: folder)
        _ = try await migrator.migrate()
        #expect(
            try await Self.callbackLog(database) == [
                "beforeMigrate", "beforeEachMigrate", "afterEachMigrate", "beforeEachMigrate",
                "afterEachMigrate", "afterMigrateApplied", "afterMigrate__log",
            ])

        try "INSERT INTO no_such_table VALUES (1);\n".write(toFile: "\(folder)/V2__broken.sql", atomically: true, encoding: .utf8)
        await #expect(throws: MigrationError.self) { try await migrator.migrate() }
        #expect(
            try await Self.callbackLog(database).suffix(3) == ["beforeMigrate", "afterEachMigrateError", "afterMigrateError"],
            "beforeEachMigrate rolled back with the failed script")
        try FileManager.default.removeItem(atPath: "\(folder)/V2__broken.sql")

        _ = try await migrator.undo(to: MigrationVersion("1")!)
        #expect(try await Self.callbackLog(database).suffix(4) == ["beforeUndo", "beforeEachUndo", "afterEachUndo", "afterUndo"])
    }

    @Test(arguments: Backend.allCases)
    func aFailingVerifyScriptUndoesItsMigration(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        let folder = try migrationFolder([
            "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!, "U1__create_users.sql": shopMigrations["U1__create_users.sql"]!,
            "V1__create_users.verify.sql": "SELECT id, name FROM users WHERE 1 = 0;\n",
            "V2__add_email.sql": "ALTER TABLE users ADD COLUMN email TEXT;\n",
            "U2__add_email.sql": "ALTER TABLE users DROP COLUMN email;\nALTER TABLE users DROP COLUMN name;\n",
            "V2__add_email.verify.sql": "SELECT email FROM users WHERE 1 = 0;\n",
            "V3__nickname.sql": "ALTER TABLE users ADD COLUMN nickname TEXT;\n",
            "V3__nickname.verify.sql": "-- a typo: the column is nickname\nSELECT nick_name FROM users WHERE 1 = 0;\n",
        ])
        let migrator = Migrator(database: database, folder: folder)
        let error = await #expect(throws: MigrationError.self) { try await migrator.migrate() }
        guard case let .scriptFailed(file, line, _, completed)? = error else {
            Issue.record("unexpected \(String(describing: error))")
            return
        }
        #expect(file == "V3__nickname.verify.sql" && line == 2 && completed.map(\.script) == ["V1__create_users.sql", "V2__add_email.sql"])
        #expect(try await migrator.status().map(\.state) == [.applied, .applied, .pending])
        #expect(try await !database.catalog().contains { $0.contains("nickname") }, "the migration was rolled back with its verify")

        // After an undo, the verify of the version left checks the schema: this undo drops too much.
        try FileManager.default.removeItem(atPath: "\(folder)/V3__nickname.verify.sql")
        try FileManager.default.removeItem(atPath: "\(folder)/V3__nickname.sql")
        let undoError = await #expect(throws: MigrationError.self) { try await migrator.undo(to: MigrationVersion("1")!) }
        guard case let .verifyFailedAfterUndo(verifyFile, _, _, version, _)? = undoError else {
            Issue.record("unexpected \(String(describing: undoError))")
            return
        }
        #expect(verifyFile == "V1__create_users.verify.sql" && version == MigrationVersion("1"))
        #expect(undoError?.description.contains("the schema is not what 1 needs") == true)
    }
}
