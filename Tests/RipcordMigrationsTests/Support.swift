import Foundation
import RipcordDrivers
import RipcordMigrations
import Testing

/// A real PostgreSQL server on a free loopback port in a temporary folder, for one suite.
final class PostgresServer: Sendable {
    @TaskLocal static var current: PostgresServer?

    static let binaries = "/usr/lib/postgresql/15/bin"
    let port: Int
    let directory: String

    private init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    static func start() throws -> PostgresServer {
        try #require(FileManager.default.isExecutableFile(atPath: "\(binaries)/initdb"),
                     "PostgreSQL 15 is missing: install the Debian package postgresql (scripts/test.sh does)")
        let directory = try temporaryDirectory("postgres")
        // initdb refuses to run as root: the server runs as the postgres user, in a folder it owns.
        if geteuid() == 0 { try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: directory) }
        try runAsPostgres(["\(binaries)/initdb", "-D", "\(directory)/data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
                          log: "\(directory)/initdb.log")
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try FreePort.allocate()
            // A backend notices a vanished client within 100 ms even mid-statement (pg_sleep), as production settings should.
            let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c client_connection_check_interval=100ms"
            do {
                try runAsPostgres(["\(binaries)/pg_ctl", "-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60",
                                   "-o", options, "start"], log: "\(directory)/pg_ctl.log")
                return PostgresServer(port: port, directory: directory)
            } catch {
                lastError = error
            }
        }
        throw lastError!
    }

    func stop() {
        try? Self.runAsPostgres(["\(Self.binaries)/pg_ctl", "-D", "\(directory)/data", "-m", "immediate", "-w", "stop"], log: "\(directory)/pg_ctl.log")
        try? FileManager.default.removeItem(atPath: directory)
    }

    func url(database: String) -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)" }

    /// A new, empty database of its own, so tests run side by side.
    func createDatabase() async throws -> PostgresMigrationDatabase {
        let name = "test_\(UUID().uuidString.prefix(8).lowercased())"
        try await PostgresMigrationDatabase(url: url(database: "postgres")).withConnection { session in
            try await session.execute("CREATE DATABASE \(name)", [])
        }
        return try PostgresMigrationDatabase(url: url(database: name))
    }

    private static func runAsPostgres(_ arguments: [String], log: String) throws {
        let command = geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + arguments : arguments
        let status = try runProcess(command, outputPath: log)
        guard status == 0 else {
            throw MigrationError.database("\(arguments[0]) exited \(status): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
    }
}

/// Starts one PostgreSQL server for the suite it is attached to, and stops it afterwards.
struct PostgresServerTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try PostgresServer.start()
        defer { server.stop() }
        try await PostgresServer.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == PostgresServerTrait {
    static var postgresServer: Self { Self() }
}

/// The two engines every engine test runs on.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    func makeDatabase() async throws -> any MigrationDatabase {
        switch self {
        case .sqlite:
            return SQLiteMigrationDatabase(path: try temporaryDirectory("sqlite") + "/service.db")
        case .postgres:
            let server = try #require(PostgresServer.current, "the suite needs the .postgresServer trait")
            return try await server.createDatabase()
        }
    }
}

extension MigrationDatabase {
    /// The schema as the catalog describes it, minus the history table: equal catalogs, equal schemas.
    func catalog() async throws -> [String] {
        let sql = switch dialect {
        case .sqlite:
            """
            SELECT type || ' ' || name || ' ' || tbl_name || ' ' || coalesce(sql, '') FROM sqlite_master
            WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> 'ripcord_schema_history' ORDER BY 1
            """
        case .postgres:
            """
            SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
              FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'ripcord_schema_history'
            UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'ripcord_schema_history'
            UNION ALL SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint
              WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'ripcord_schema_history'
            ORDER BY 1
            """
        }
        return try await withConnection { session in try await session.query(sql, []).map { $0.map(\.description).joined() } }
    }
}

func temporaryDirectory(_ label: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("ripcord-\(label)-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A migration folder holding `files` (name → SQL).
func migrationFolder(_ files: [String: String]) throws -> String {
    let folder = try temporaryDirectory("migrations")
    for (name, sql) in files { try sql.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8) }
    return folder
}

/// Runs a command to completion with its output in a file (a pipe would stay open in a daemon it starts).
@discardableResult
func runProcess(_ arguments: [String], outputPath: String) throws -> Int32 {
    FileManager.default.createFile(atPath: outputPath, contents: nil)
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    defer { try? output.close() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    process.standardOutput = output
    process.standardError = output
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

/// The `ripcord` binary built beside the test bundle.
let ripcordBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ripcord").path

/// Waits for a condition with a deadline instead of sleeping a fixed time.
func waitUntil(_ description: String, within seconds: Double = 20, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("timed out after \(seconds) s waiting for \(description)")
    throw CancellationError()
}
