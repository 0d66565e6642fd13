import Foundation
import PostgresNIO
import RipcordDrivers
@testable import RipcordMigrations
import RipcordCore
import RipcordTestSupport
import Testing

/// The password's sources, as libpq has them, and TLS that never falls back to plaintext when told
/// not to — against real PostgreSQL servers.
/// The password of the suite's server.
private let serverPassword = "pw-\(UUID().uuidString.prefix(8))"

@Suite(.postgresServer(password: serverPassword, tls: true), .tags(.integration))
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
        #expect(
            try await connect(
                PostgresMigrationDatabase(
                    url: url + "?sslmode=verify-full&sslrootcert=\(certificate)", environment: environment)) == true)
        #expect(
            try await connect(PostgresMigrationDatabase(url: url, sslMode: .require, environment: environment)) == true,
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

    /// A real `ripcord serve` whose service migrates through `${…}`: the rollout reaches the
    /// database over verified TLS, and the state database holds the reference, not the password.
    @Test func aRolloutMigratesThroughAReferencedURLAndTheStateHoldsNoPassword() async throws {
        let database = try await server.createDatabase()
        let name = try #require(database.configuration.database)
        let directory = try temporaryDirectory("serve-postgres")
        let folder = try migrationFolder([
            "V1__create_users.sql": shopMigrations["V1__create_users.sql"]!, "U1__create_users.sql": "-- ripcord:allow undo-drops-created\nDROP TABLE users;\n",
        ])
        let apiPort = try FreePort.allocate()
        let config = "\(directory)/ripcord.yaml"
        try """
        api: { listen: 127.0.0.1:\(apiPort) }
        services:
          checkout:
            listen: 127.0.0.1:0
            run: { command: "'\(ripcordBinary)' sample-service --name checkout --port {port} --version {version}" }
            migrations:
              folder: \(folder)
              postgres: { url: "${RIPCORD_TEST_DATABASE_URL}", sslmode: verify-full, sslrootcert: \(server.certificate!) }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let serve = try Child(
            [ripcordBinary, "serve", "--config", config], log: "\(directory)/serve.log",
            environment: ["RIPCORD_TEST_DATABASE_URL": server.url(database: name)])
        defer { kill(serve.pid, SIGKILL) }
        try await waitUntil("the API to answer", within: 30) { try await CommandTests.ripcord(["status", "--config", config]).0 == 0 }
        let (status, output, errors) = try await CommandTests.ripcord(["deploy", "checkout", "1.0.0", "--wait", "--config", config])
        #expect(status == 0 && output.contains("promoted"), "\(output)\(errors)\(serve.output)")
        #expect(try await Migrator(database: database, folder: folder).status().map(\.state) == [.applied])
        kill(serve.pid, SIGTERM)
        #expect(try await serve.exitStatus() == 0)

        let state = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/.ripcord").filter { $0.hasPrefix("ripcord.sqlite") }
            .map { try Data(contentsOf: URL(fileURLWithPath: "\(directory)/.ripcord/\($0)")) }.reduce(Data(), +)
        #expect(state.range(of: Data("${RIPCORD_TEST_DATABASE_URL}".utf8)) != nil, "the revision keeps the reference")
        #expect(state.range(of: Data(serverPassword.utf8)) == nil, "the password is not stored")
        #expect(!serve.output.contains(serverPassword), "nor logged")
    }
}

/// `sslmode=require` against a server that has no TLS: a clear failure, never a quiet downgrade.
@Suite(.postgresServer, .tags(.integration))
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
@Suite(.tags(.unit)) struct PassFileTests {
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
