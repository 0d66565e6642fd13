import CRipcordSpawn
import Foundation
import RipcordDrivers
import RipcordMigrations
import RipcordTestSupport
import Testing

/// A real PostgreSQL server on a free loopback port in a temporary folder, for one suite.
final class PostgresServer: Sendable {
    @TaskLocal static var current: PostgresServer?

    let port: Int
    let directory: String
    /// The superuser's password (scram-sha-256 on TCP), or nil for a server that trusts every connection.
    let password: String?
    /// The certificate (self-signed, for 127.0.0.1) of a server with TLS, which is also its CA.
    let certificate: String?

    private init(port: Int, directory: String, password: String?, certificate: String?) {
        self.port = port
        self.directory = directory
        self.password = password
        self.certificate = certificate
    }

    static func start(password: String? = nil, tls: Bool = false) async throws -> PostgresServer {
        let directory = try temporaryDirectory("postgres")
        // initdb refuses to run as root: the server runs as the postgres user, in a folder it owns.
        if geteuid() == 0 { try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: directory) }
        var initdb = [try SystemProgram.postgres("initdb"), "-D", "\(directory)/data", "-U", "postgres", "-E", "UTF8", "--no-sync"]
        if let password {
            try password.write(toFile: "\(directory)/pwfile", atomically: true, encoding: .utf8)
            try owned(byPostgres: "\(directory)/pwfile")
            initdb += ["--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=\(directory)/pwfile"]
        } else {
            initdb += ["-A", "trust"]
        }
        try await runAsPostgres(initdb, log: "\(directory)/initdb.log")
        var certificate: String?
        var tlsOptions = ""
        if tls {
            try await Child.run(
                [
                    try SystemProgram.require("openssl", package: "openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", "\(directory)/server.key", "-out", "\(directory)/server.crt",
                ], log: "\(directory)/openssl.log")
            try owned(byPostgres: "\(directory)/server.key")
            try owned(byPostgres: "\(directory)/server.crt")
            certificate = "\(directory)/server.crt"
            tlsOptions = " -c ssl=on -c ssl_cert_file=\(directory)/server.crt -c ssl_key_file=\(directory)/server.key"
        }
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try FreePort.allocate()
            // A backend notices a vanished client within 100 ms even mid-statement (pg_sleep), as production settings should.
            let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c client_connection_check_interval=100ms" + tlsOptions
            do {
                try await runAsPostgres(
                    [
                        try SystemProgram.postgres("pg_ctl"), "-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60",
                        "-o", options, "start",
                    ], log: "\(directory)/pg_ctl.log")
                return PostgresServer(port: port, directory: directory, password: password, certificate: certificate)
            } catch {
                lastError = error
            }
        }
        throw lastError!
    }

    func stop() async {
        try? await Self.runAsPostgres([try SystemProgram.postgres("pg_ctl"), "-D", "\(directory)/data", "-m", "immediate", "-w", "stop"], log: "\(directory)/pg_ctl.log")
        try? FileManager.default.removeItem(atPath: directory)
    }

    func url(database: String) -> String { "postgres://postgres\(password.map { ":\($0)" } ?? "")@127.0.0.1:\(port)/\(database)" }

    /// The URL without the password, as configurations write it.
    func urlWithoutPassword(database: String) -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)" }

    /// The server reads its key and password file as the postgres user, the key only if no one else may.
    private static func owned(byPostgres path: String) throws {
        var attributes: [FileAttributeKey: Any] = [.posixPermissions: 0o600]
        if geteuid() == 0 { attributes[.ownerAccountName] = "postgres" }
        try FileManager.default.setAttributes(attributes, ofItemAtPath: path)
    }

    /// A new, empty database of its own, so tests run side by side.
    func createDatabase() async throws -> PostgresMigrationDatabase {
        let name = "test_\(UUID().uuidString.prefix(8).lowercased())"
        try await PostgresMigrationDatabase(url: url(database: "postgres")).withConnection { session in
            try await session.execute("CREATE DATABASE \(name)", [])
        }
        return try PostgresMigrationDatabase(url: url(database: name))
    }

    /// In the server's folder: the postgres user may not enter the test's working directory.
    private static func runAsPostgres(_ arguments: [String], log: String) async throws {
        let command = geteuid() == 0 ? [try SystemProgram.require("runuser", package: "util-linux"), "-u", "postgres", "--"] + arguments : arguments
        try await Child.run(command, log: log, directory: URL(fileURLWithPath: log).deletingLastPathComponent().path)
    }
}

/// Starts one PostgreSQL server for the suite it is attached to, and stops it afterwards.
struct PostgresServerTrait: SuiteTrait, TestScoping {
    var password: String?
    var tls = false

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try await PostgresServer.start(password: password, tls: tls)
        do {
            try await PostgresServer.$current.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

extension Trait where Self == PostgresServerTrait {
    static var postgresServer: Self { Self() }

    /// A server that wants `password` over TCP (scram-sha-256), with TLS if asked.
    static func postgresServer(password: String, tls: Bool) -> Self { Self(password: password, tls: tls) }
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
        let sql =
            switch dialect {
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
                UNION ALL SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'
                UNION ALL SELECT 'function ' || oid::regprocedure::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace
                ORDER BY 1
                """
            }
        return try await withConnection { session in try await session.query(sql, []).map { $0.map(\.description).joined() } }
    }
}

/// A migration folder holding `files` (name → SQL).
func migrationFolder(_ files: [String: String]) throws -> String {
    let folder = try temporaryDirectory("migrations")
    for (name, sql) in files { try sql.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8) }
    return folder
}

/// A child process started with `ripcord_spawn` (its own session, output appended to a file, no
/// inherited descriptors), waited for without blocking a thread of the test runner.
struct Child {
    let pid: pid_t
    let logPath: String

    /// - Parameter environment: added to (or replacing in) the test process's environment.
    init(_ arguments: [String], log: String, directory: String? = nil, environment: [String: String] = [:]) throws {
        logPath = log
        let argv = arguments.map { strdup($0) } + [nil]
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = ripcord_spawn(&pid, arguments[0], directory, log, argv, envp)
        guard result == 0 else { throw MigrationError.database("cannot start \(arguments[0]): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    /// Its exit status (128 + n after signal n), waiting at most `seconds`.
    func exitStatus(within seconds: Double = 60) async throws -> Int32 {
        var status: Int32 = 0
        try await waitUntil("\(pid) to exit", within: seconds) { waitpid(pid, &status, WNOHANG) == pid }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Runs a command to completion; throws with its output unless it exits 0.
    static func run(_ arguments: [String], log: String, directory: String? = nil) async throws {
        let child = try Child(arguments, log: log, directory: directory)
        let status = try await child.exitStatus()
        guard status == 0 else { throw MigrationError.database("\(arguments.joined(separator: " ")) exited \(status): \(child.output)") }
    }
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
