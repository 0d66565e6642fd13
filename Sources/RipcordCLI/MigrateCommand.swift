import ArgumentParser
import Foundation
import RipcordMigrations

/// `ripcord migrate …`: the migration engine on its own, like Flyway, against one database.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply, undo, check and lint a folder of schema migrations (SQLite or PostgreSQL).",
        subcommands: [
            MigrateStatus.self, MigratePlan.self, MigrateUp.self, MigrateDown.self, MigrateValidate.self, MigrateRepair.self, MigrateLint.self,
            MigrateBaseline.self, MigrateImportFlyway.self,
        ])
}

struct MigrationOptions: ParsableArguments {
    @Option(help: "A SQLite database file.") var sqlite: String?
    @Option(
        help: ArgumentHelp(
            "A PostgreSQL database: postgres://user@host[:port]/database[?sslmode=…&sslrootcert=…].",
            discussion: "The password comes from --password-file, PGPASSWORD or ~/.pgpass (PGPASSFILE): one in the URL shows in ps."))
    var postgres: String?
    @Option(help: "A file holding the PostgreSQL password.") var passwordFile: String?
    @Option(help: "PostgreSQL TLS: disable, prefer (default), require, verify-ca or verify-full.") var sslmode: String?
    @Option(help: "The CA certificates (PEM) that sign the PostgreSQL server's certificate.") var sslrootcert: String?
    @Option(help: "The migration folder (V…, U… and R__… .sql files).") var folder = "migrations"
    @Option(help: "Seconds to wait for another migrator to finish.") var lockTimeout: Double = 30

    func database() throws -> any MigrationDatabase {
        switch (sqlite, postgres) {
        case let (path?, nil): return SQLiteMigrationDatabase(path: path)
        case let (nil, url?):
            let mode = try sslmode.map { try PostgresMigrationDatabase.sslMode($0, given: "--sslmode") }
            return try PostgresMigrationDatabase(url: url, passwordFile: passwordFile, sslMode: mode, sslRootCert: sslrootcert)
        default: throw MigrationError.badOption("name the database with exactly one of --sqlite PATH or --postgres URL")
        }
    }

    func migrator() throws -> Migrator {
        Migrator(database: try database(), folder: folder, lockTimeout: .milliseconds(Int64(lockTimeout * 1000)))
    }
}

/// Runs a migrate subcommand, printing an engine error on stderr with a non-zero exit.
private func reportingMigrationFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as MigrationError {
        FileHandle.standardError.write(Data("ripcord: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

private func parseVersion(_ text: String) throws -> MigrationVersion {
    guard let version = MigrationVersion(text) else { throw MigrationError.badOption("`\(text)` is not a migration version (e.g. 3 or 1.2)") }
    return version
}

private func printRuns(_ runs: [ScriptRun]) {
    for run in runs { print(run) }
    print(runs.isEmpty ? "nothing to do" : "\(runs.count) script(s) ran")
}

struct MigrateStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show each migration: applied, pending, changed, failed (reads only: no lock, no CREATE rights needed).")
    @OptionGroup var options: MigrationOptions

    func run() async throws {
        try await reportingMigrationFailures {
            for entry in try await options.migrator().status() {
                let applied =
                    entry.applied.map { row in
                        " applied \(ISO8601DateFormatter().string(from: row.appliedAt)) by \(row.appliedBy) in \(row.duration.formattedSeconds)"
                            + (row.release.map { " for \($0)" } ?? "")
                    } ?? ""
                print("\(entry.version?.description ?? "R")\t\(entry.state.rawValue)\t\(entry.script)\(entry.hasUndo ? "" : " (no undo)")\(applied)")
            }
        }
    }
}

struct MigratePlan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Print the SQL that up (or --down) would run, without running it (reads only, like status).")
    @OptionGroup var options: MigrationOptions
    @Flag(help: "Plan an undo down to --to instead of an apply.") var down = false
    @Option(help: "The target version.") var to: String?

    func run() async throws {
        try await reportingMigrationFailures {
            let migrator = try options.migrator()
            let plan: [PlannedScript]
            if down {
                guard let target = try to.map(parseVersion) else { throw MigrationError.badOption("plan --down needs --to VERSION") }
                plan = try await migrator.planUndo(to: target)
            } else {
                plan = try await migrator.planMigrate(to: try to.map(parseVersion))
            }
            for script in plan {
                print("-- \(script.direction.rawValue) \(script.script)\(script.isTransactional ? "" : " (non-transactional)")")
                print(script.sql.trimmingCharacters(in: .whitespacesAndNewlines))
                print()
            }
            if plan.isEmpty { print("-- nothing to do") }
        }
    }
}

struct MigrateUp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up", abstract: "Apply pending migrations (up to --to), then changed repeatable scripts.")
    @OptionGroup var options: MigrationOptions
    @Option(help: "The last version to apply (default: all).") var to: String?
    @Option(help: "The release to record them against: SERVICE@VERSION.") var release: String?

    func run() async throws {
        try await reportingMigrationFailures {
            var recorded: MigrationRelease?
            if let release {
                let parts = release.split(separator: "@", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw MigrationError.badOption("--release takes SERVICE@VERSION, e.g. checkout@1.2.0") }
                recorded = MigrationRelease(service: parts[0], version: parts[1])
            }
            printRuns(try await options.migrator().migrate(to: try to.map(parseVersion), release: recorded))
        }
    }
}

struct MigrateDown: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down", abstract: "Undo migrations newer than --to with their stored undo scripts (repeatable scripts' objects dropped first).")
    @OptionGroup var options: MigrationOptions
    @Option(help: "The version to go back to (0: undo everything).") var to: String

    func run() async throws {
        try await reportingMigrationFailures {
            printRuns(try await options.migrator().undo(to: try parseVersion(to)))
        }
    }
}

struct MigrateValidate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "Check that applied scripts are unchanged on disk.")
    @OptionGroup var options: MigrationOptions

    func run() async throws {
        try await reportingMigrationFailures {
            try await options.migrator().validate()
            print("valid")
        }
    }
}

struct MigrateRepair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "repair", abstract: "Accept edited applied scripts and forget unfinished runs.")
    @OptionGroup var options: MigrationOptions

    func run() async throws {
        try await reportingMigrationFailures {
            let changes = try await options.migrator().repair()
            for change in changes { print(change) }
            if changes.isEmpty { print("nothing to repair") }
        }
    }
}

struct MigrateBaseline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline",
        abstract: "Record the folder's migrations up to --version as applied without running them (a database made before Ripcord).")
    @OptionGroup var options: MigrationOptions
    @Option(help: "The version the existing schema is at.") var version: String

    func run() async throws {
        try await reportingMigrationFailures {
            for line in try await options.migrator().baseline(version: try parseVersion(version)) { print(line) }
        }
    }
}

struct MigrateImportFlyway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-flyway",
        abstract: "Read Flyway's history table into Ripcord's, checking each applied file against Flyway's checksum.")
    @OptionGroup var options: MigrationOptions
    @Option(help: "Flyway's history table.") var table = "flyway_schema_history"

    func run() async throws {
        try await reportingMigrationFailures {
            for line in try await options.migrator().importFlywayHistory(table: table) { print(line) }
        }
    }
}

struct MigrateLint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lint", abstract: "Flag migrations that break the version still running (exit 1 on findings). Needs no database.")
    @Option(help: "The migration folder.") var folder = "migrations"
    @Option(help: "The SQL dialect: sqlite or postgres.") var dialect: String = "postgres"

    func run() async throws {
        try await reportingMigrationFailures {
            guard let dialect = SQLDialect(rawValue: dialect) else { throw MigrationError.badOption("--dialect is sqlite or postgres") }
            let findings = MigrationLint.findings(in: try MigrationFolder(path: folder), dialect: dialect)
            for finding in findings { print(finding) }
            guard findings.isEmpty else { throw ExitCode(1) }
            print("no findings")
        }
    }
}
