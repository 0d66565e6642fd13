import Foundation
import PostgresNIO
@testable import RipcordMigrations
import RipcordCore
import Testing

/// The password's sources, as libpq has them, and TLS that never falls back to plaintext when told
/// not to — against real PostgreSQL servers.
/// The password of the suite's server.
private let serverPassword = "pw-\(UUID().uuidString.prefix(8))"

@Suite(.postgresServer(password: serverPassword, tls: true))
struct CredentialsTests {

    var server: PostgresServer { PostgresServer.current! }
    var url: String { server.urlWithoutPassword(database: "postgres") }

    /// An environment with no password in it and a home without a .pgpass.
    func bareEnvironment() throws -> [String: String] { ["HOME": try temporaryDirectory("home")] }

    /// Connects and says whether the session is encrypted.
    func connect(_ database: PostgresMigrationDatabase) async throws -> Bool {
        try await database.withConnection { session in
            try await session.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", []).first?.first == .integer(1)
        }
    }

    func connectionError(_ make: () throws -> PostgresMigrationDatabase) async -> String {
        do {
            _ = try await connect(try make())
            return "connected"
        } catch {
            return "\(error)"
        }
    }

    @Test func withoutAPasswordTheErrorSaysWhereToPutOne() async throws {
        let environment = try bareEnvironment()
        let error = await connectionError { try PostgresMigrationDatabase(url: url, sslMode: .disable, environment: environment) }
        #expect(error.contains("wants a password for postgres") && error.contains("PGPASSWORD"), "\(error)")
        let wrong = await connectionError {
            try PostgresMigrationDatabase(url: url, sslMode: .disable, environment: environment.merging(["PGPASSWORD": "wrong"]) { $1 })
        }
        #expect(wrong.contains("password authentication failed"), "\(wrong)")
    }

    @Test func thePasswordComesFromPGPASSWORDOrAPasswordFile() async throws {
        var environment = try bareEnvironment()
        environment["PGPASSWORD"] = serverPassword
        #expect(try await connect(PostgresMigrationDatabase(url: url, sslMode: .disable, environment: environment)) == false)

        let file = try temporaryDirectory("password") + "/pg-password"
        try (serverPassword + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        environment["PGPASSWORD"] = "wrong"
        // passwordFile is named in the configuration, so it wins over the environment.
        #expect(try await connect(PostgresMigrationDatabase(url: url, passwordFile: file, sslMode: .disable, environment: environment)) == false)
    }

    @Test func thePassFileIsUsedOnlyWhenNoOneElseMayReadIt() async throws {
        var environment = try bareEnvironment()
        let passFile = environment["HOME"]! + "/.pgpass"
        try """
        # host:port:database:user:password
        127.0.0.1:\(server.port):other:postgres:wrong
        127.0.0.1:\(server.port):*:postgres:\(serverPassword)
        *:*:*:*:wrong-too

        """.write(toFile: passFile, atomically: true, encoding: .utf8)
        chmod(passFile, 0o644)
        let readable = await connectionError { try PostgresMigrationDatabase(url: url, sslMode: .disable, environment: environment) }
        #expect(readable.contains("group or world access") && readable.contains("chmod 0600 \(passFile)"), "\(readable)")

        chmod(passFile, 0o600)
        #expect(try await connect(PostgresMigrationDatabase(url: url, sslMode: .disable, environment: environment)) == false)

        // PGPASSFILE names another file, as for psql.
        let elsewhere = try temporaryDirectory("pgpassfile") + "/passwords"
        try "*:*:*:*:\(serverPassword)\n".write(toFile: elsewhere, atomically: true, encoding: .utf8)
        chmod(elsewhere, 0o600)
        environment["PGPASSFILE"] = elsewhere
        chmod(passFile, 0o644)
        #expect(try await connect(PostgresMigrationDatabase(url: url, sslMode: .disable, environment: environment)) == false)
    }

    @Test func verifyFullConnectsOverTLSToTheServerItsCAVouchesFor() async throws {
        var environment = try bareEnvironment()
        environment["PGPASSWORD"] = serverPassword
        let certificate = try #require(server.certificate)
        #expect(try await connect(PostgresMigrationDatabase(
            url: url + "?sslmode=verify-full&sslrootcert=\(certificate)", environment: environment)) == true)
        #expect(try await connect(PostgresMigrationDatabase(url: url, sslMode: .require, environment: environment)) == true,
                "require encrypts without checking the certificate")
        #expect(try await connect(PostgresMigrationDatabase(url: url, environment: environment)) == true, "prefer takes TLS when offered")

        let untrusted = await connectionError { try PostgresMigrationDatabase(url: url, sslMode: .verifyFull, environment: environment) }
        #expect(untrusted.contains("cannot connect") && untrusted.lowercased().contains("certificate"), "\(untrusted)")
        let missing = await connectionError {
            try PostgresMigrationDatabase(url: url, sslMode: .verifyFull, sslRootCert: "/nonexistent/ca.pem", environment: environment)
        }
        #expect(missing.contains("cannot read the sslrootcert file /nonexistent/ca.pem"), "\(missing)")
    }

    @Test func theMigrateCommandTakesThePasswordFromTheEnvironmentNotItsArguments() async throws {
        let folder = try migrationFolder(["V1__create_users.sql": "CREATE TABLE users (id INT);\n"])
        let arguments = ["migrate", "status", "--postgres", url, "--sslmode", "verify-full", "--sslrootcert", server.certificate!, "--folder", folder]
        let (status, output, errors) = try await CommandTests.ripcord(arguments, environment: ["PGPASSWORD": serverPassword, "HOME": try temporaryDirectory("home")])
        #expect(status == 0, "\(errors)")
        #expect(output.contains("1\tpending\tV1__create_users.sql"))
        let (refused, _, refusal) = try await CommandTests.ripcord(["migrate", "status", "--postgres", url, "--sslmode", "always", "--folder", folder])
        #expect(refused == 1 && refusal.contains("--sslmode is one of disable, prefer, require, verify-ca, verify-full"))
    }
}

/// `sslmode=require` against a server that has no TLS: a clear failure, never a quiet downgrade.
@Suite(.postgresServer)
struct PlaintextServerTests {
    @Test func requireFailsAgainstAServerWithoutTLSWhilePreferFallsBack() async throws {
        let server = try #require(PostgresServer.current)
        let url = server.url(database: "postgres")
        for mode in ["require", "verify-ca", "verify-full"] {
            do {
                try await PostgresMigrationDatabase(url: url + "?sslmode=\(mode)").withConnection { _ in }
                Issue.record("sslmode=\(mode) connected without TLS")
            } catch {
                #expect("\(error)".contains("the server does not offer TLS, and sslmode=\(mode) refuses a plaintext connection"), "\(error)")
            }
        }
        let answer = try await PostgresMigrationDatabase(url: url + "?sslmode=prefer").withConnection { session in
            try await session.query("SELECT 1", [])
        }
        #expect(answer == [[.integer(1)]])
    }
}

/// The ~/.pgpass format and matching, as libpq reads it.
@Suite struct PassFileTests {
    @Test func theFirstMatchingLineWinsWithWildcardsAndEscapes() {
        let text = """
        # a comment:*:*:*:no
        db.internal:5432:app:app:first
        *:5433:*:app:second
        db\\:weird:*:*:app:pa\\:ss\\\\word
        *:*:*:*:fallback:with:colons
        """
        #expect(PostgresPassword.passFileMatch(text, host: "db.internal", port: 5432, database: "app", user: "app") == "first")
        #expect(PostgresPassword.passFileMatch(text, host: "db.internal", port: 5433, database: "app", user: "app") == "second")
        #expect(PostgresPassword.passFileMatch(text, host: "db:weird", port: 5432, database: "x", user: "app") == "pa:ss\\word")
        #expect(PostgresPassword.passFileMatch(text, host: "other", port: 1, database: "x", user: "y") == "fallback:with:colons")
        #expect(PostgresPassword.passFileMatch("h:1:d:u\n", host: "h", port: 1, database: "d", user: "u") == nil, "a line needs five fields")
    }
}
