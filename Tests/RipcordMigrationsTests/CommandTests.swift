import Foundation
@testable import RipcordMigrations
import PostgresNIO
import RipcordTestSupport
import Testing

/// `ripcord migrate` as a separate process: its output, its errors, and a migrator killed with `kill -9`.
@Suite(.postgresServer, .tags(.integration))
struct CommandTests {
    @Test(arguments: Backend.allCases)
    func aKilledMigratorLeavesNoLockBehind(backend: Backend) async throws {
        let database = try await backend.makeDatabase()
        let slow =
            switch backend {
            case .postgres: "SELECT pg_sleep(60);\n"
            case .sqlite: "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10000000000) SELECT count(*) FROM n;\n"
            }
        let folder = try migrationFolder(["V1__create_users.sql": shopMigrations["V1__create_users.sql"]!, "V2__slow.sql": slow])
        let child = try Child(
            [ripcordBinary, "migrate", "up", "--folder", folder] + Self.databaseArguments(database),
            log: try temporaryDirectory("killed") + "/migrate.log")

        try await waitUntil("the child to be inside the slow migration, holding the lock") {
            guard try await Self.lockIsHeld(database) else { return false }
            // The history table may not exist yet: the child creates it once it has the lock.
            let appliedV1 = try? await database.withConnection { session in
                try await session.query("SELECT count(*) FROM ripcord_schema_history", []).first?.first == .integer(1)
            }
            return appliedV1 == true
        }
        kill(child.pid, SIGKILL)
        #expect(try await child.exitStatus() == 128 + SIGKILL)

        try await waitUntil("the lock to go with the killed process") { try await !Self.lockIsHeld(database) }
        try "SELECT 1;\n".write(toFile: "\(folder)/V2__slow.sql", atomically: true, encoding: .utf8)
        // A loaded machine may take seconds to finish the killed backend; the point is that it ends without help.
        let migrator = Migrator(database: database, folder: folder, lockTimeout: .seconds(30))
        #expect(try await migrator.migrate().map(\.script) == ["V2__slow.sql"])
        #expect(try await migrator.status().map(\.state) == [.applied, .applied])
    }

    @Test
    func planPrintsTheSQLWithoutRunningIt() async throws {
        let path = try temporaryDirectory("plan") + "/service.db"
        let folder = try migrationFolder(shopMigrations)
        let (status, output, _) = try await Self.ripcord(["migrate", "plan", "--to", "1.1", "--sqlite", path, "--folder", folder])
        #expect(status == 0)
        #expect(output.contains("-- apply V1__create_users.sql\nCREATE TABLE users") && output.contains("-- apply V1.1__add_email.sql"))
        #expect(!output.contains("V2__orders.sql"))
        #expect(try await SQLiteMigrationDatabase(path: path).catalog().isEmpty)

        #expect(try await Self.ripcord(["migrate", "up", "--sqlite", path, "--folder", folder, "--release", "shop@1.0.0"]).0 == 0)
        let (_, undoPlan, _) = try await Self.ripcord(["migrate", "plan", "--down", "--to", "2", "--sqlite", path, "--folder", folder])
        #expect(undoPlan.hasPrefix("-- undo U10__order_status.sql\nALTER TABLE orders DROP COLUMN status;"))
        let (_, statusOutput, _) = try await Self.ripcord(["migrate", "status", "--sqlite", path, "--folder", folder])
        #expect(statusOutput.contains("10\tapplied\tV10__order_status.sql") && statusOutput.contains("for shop@1.0.0"))
    }

    @Test
    func baselineAndImportFlywayAreCommands() async throws {
        let path = try temporaryDirectory("baseline") + "/service.db"
        let folder = try migrationFolder(shopMigrations)
        let (status, output, _) = try await Self.ripcord(["migrate", "baseline", "--version", "1.1", "--sqlite", path, "--folder", folder])
        #expect(status == 0 && output.contains("recorded V1.1__add_email.sql as applied (not run)"))
        let (_, statusOutput, _) = try await Self.ripcord(["migrate", "status", "--sqlite", path, "--folder", folder])
        #expect(statusOutput.contains("1.1\tapplied\tV1.1__add_email.sql") && statusOutput.contains("2\tpending\tV2__orders.sql"))

        let (importStatus, _, errors) = try await Self.ripcord(["migrate", "import-flyway", "--sqlite", path, "--folder", folder])
        #expect(importStatus == 1 && errors.contains("import is for a database without Ripcord history"))
    }

    @Test
    func errorsGoToStandardErrorWithANonZeroExit() async throws {
        let folder = try migrationFolder(["V1__ok.sql": "SELECT 1;", "V2-bad.sql": "SELECT 2;"])
        let path = try temporaryDirectory("errors") + "/service.db"
        let (status, output, errors) = try await Self.ripcord(["migrate", "up", "--sqlite", path, "--folder", folder])
        #expect(status == 1 && output.isEmpty)
        #expect(errors.contains("ripcord: V2-bad.sql: not a migration name"))

        let (noDatabase, _, noDatabaseErrors) = try await Self.ripcord(["migrate", "status", "--folder", folder])
        #expect(noDatabase == 1 && noDatabaseErrors.contains("exactly one of --sqlite PATH or --postgres URL"))

        let lintFolder = try migrationFolder(["V1__drop.sql": "DROP TABLE users;"])
        let (lintStatus, findings, _) = try await Self.ripcord(["migrate", "lint", "--folder", lintFolder])
        #expect(lintStatus == 1 && findings.contains("V1__drop.sql:1: drop-table"))
    }

    static func databaseArguments(_ database: any MigrationDatabase) -> [String] {
        switch database {
        case let sqlite as SQLiteMigrationDatabase: ["--sqlite", sqlite.path]
        case let postgres as PostgresMigrationDatabase:
            ["--postgres", "postgres://postgres@127.0.0.1:\(postgres.configuration.port!)/\(postgres.configuration.database!)"]
        default: []
        }
    }

    /// Whether some process holds the migrator lock, asked without taking it.
    static func lockIsHeld(_ database: any MigrationDatabase) async throws -> Bool {
        switch database {
        case let sqlite as SQLiteMigrationDatabase:
            let descriptor = open(sqlite.path + ".migrator-lock", O_RDWR)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return true }
            flock(descriptor, LOCK_UN)
            return false
        default:
            return try await database.withConnection { session in
                try await session.query(
                    """
                    SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
                    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """, []
                ).first?.first != .integer(0)
            }
        }
    }

    /// Runs `ripcord ARGUMENTS` to completion: exit status, standard output, standard error.
    static func ripcord(_ arguments: [String], environment: [String: String] = [:]) async throws -> (Int32, String, String) {
        let directory = try temporaryDirectory("cli")
        // The shell keeps standard error apart: the spawned process writes both streams to one file.
        let child = try Child(
            ["/bin/sh", "-c", "exec \"$0\" \"$@\" 2>\(directory)/stderr", ripcordBinary] + arguments,
            log: "\(directory)/stdout", environment: environment)
        let status = try await child.exitStatus()
        return (status, child.output, (try? String(contentsOfFile: "\(directory)/stderr", encoding: .utf8)) ?? "")
    }
}
