import CRipcordSpawn
import Foundation
import RipcordDrivers
import Testing

/// A real PostgreSQL server on a free loopback port in a temporary folder, for one suite.
public final class PostgresServer: Sendable {
    @TaskLocal public static var current: PostgresServer?

    public let port: Int
    public let directory: String
    /// The superuser's password (scram-sha-256 on TCP), or nil for a server that trusts every connection.
    public let password: String?
    /// The certificate (self-signed, for 127.0.0.1) of a server with TLS, which is also its CA.
    public let certificate: String?

    private init(port: Int, directory: String, password: String?, certificate: String?) {
        self.port = port
        self.directory = directory
        self.password = password
        self.certificate = certificate
    }

    public static func start(password: String? = nil, tls: Bool = false) async throws -> PostgresServer {
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

    public func stop() async {
        try? await Self.runAsPostgres([try SystemProgram.postgres("pg_ctl"), "-D", "\(directory)/data", "-m", "immediate", "-w", "stop"], log: "\(directory)/pg_ctl.log")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Creates an empty database (over the server's socket, as the postgres user).
    public func createDatabase(_ name: String) async throws {
        try await Self.runAsPostgres(
            [try SystemProgram.postgres("createdb"), "-h", directory, "-p", String(port), "-U", "postgres", name], log: "\(directory)/createdb.log")
    }

    public func url(database: String) -> String { "postgres://postgres\(password.map { ":\($0)" } ?? "")@127.0.0.1:\(port)/\(database)" }

    /// The URL without the password, as configurations write it.
    public func urlWithoutPassword(database: String) -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)" }

    /// The server reads its key and password file as the postgres user, the key only if no one else may.
    private static func owned(byPostgres path: String) throws {
        var attributes: [FileAttributeKey: Any] = [.posixPermissions: 0o600]
        if geteuid() == 0 { attributes[.ownerAccountName] = "postgres" }
        try FileManager.default.setAttributes(attributes, ofItemAtPath: path)
    }

    /// In the server's folder: the postgres user may not enter the test's working directory.
    private static func runAsPostgres(_ arguments: [String], log: String) async throws {
        let command = geteuid() == 0 ? [try SystemProgram.require("runuser", package: "util-linux"), "-u", "postgres", "--"] + arguments : arguments
        try await Child.run(command, log: log, directory: URL(fileURLWithPath: log).deletingLastPathComponent().path)
    }
}

/// Starts one PostgreSQL server for the suite it is attached to, and stops it afterwards: its tests
/// share it, each on a database of its own.
public struct PostgresServerTrait: SuiteTrait, TestScoping {
    var password: String?
    var tls = false

    public init(password: String? = nil, tls: Bool = false) {
        self.password = password
        self.tls = tls
    }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
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
    public static var postgresServer: Self { Self() }

    /// A server that wants `password` over TCP (scram-sha-256), with TLS if asked.
    public static func postgresServer(password: String, tls: Bool) -> Self { Self(password: password, tls: tls) }
}

/// A child process started with `ripcord_spawn` (its own session, output appended to a file, no
/// inherited descriptors), waited for without blocking a thread of the test runner.
public struct Child: Sendable {
    public let pid: pid_t
    public let logPath: String

    /// - Parameter environment: added to (or replacing in) the test process's environment.
    public init(_ arguments: [String], log: String, directory: String? = nil, environment: [String: String] = [:]) throws {
        logPath = log
        let argv = arguments.map { strdup($0) } + [nil]
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = ripcord_spawn(&pid, arguments[0], directory, log, argv, envp)
        guard result == 0 else { throw ChildProcessError(description: "cannot start \(arguments[0]): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    /// Its exit status (128 + n after signal n), waiting at most `seconds`.
    public func exitStatus(within seconds: Double = 60) async throws -> Int32 {
        var status: Int32 = 0
        try await waitUntil("\(pid) to exit", within: seconds) { waitpid(pid, &status, WNOHANG) == pid }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    public var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Runs a command to completion; throws with its output unless it exits 0.
    public static func run(_ arguments: [String], log: String, directory: String? = nil) async throws {
        let child = try Child(arguments, log: log, directory: directory)
        let status = try await child.exitStatus()
        guard status == 0 else { throw ChildProcessError(description: "\(arguments.joined(separator: " ")) exited \(status): \(child.output)") }
    }
}

/// A child process that could not start, or ended badly, with what it printed.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
}

/// Waits for a condition with a deadline instead of sleeping a fixed time.
public func waitUntil(_ description: String, within seconds: Double = 20, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("timed out after \(seconds) s waiting for \(description)")
    throw CancellationError()
}
