import Foundation
import Logging
import PostgresNIO
import RipcordCore

/// A PostgreSQL database. The one-migrator lock is a session-level advisory lock: the server drops
/// it with the session, so a killed migrator leaves no lock row behind.
public struct PostgresMigrationDatabase: MigrationDatabase {
    public let configuration: PostgresConnection.Configuration
    public var dialect: SQLDialect { .postgres }
    public var displayName: String
    public var user: String { configuration.username }
    /// Kept to explain a refused connection: with `require` and stronger, never plaintext.
    public let sslMode: PostgresSSLMode
    /// The CA certificates the server's certificate is checked against (`clientConfiguration()` needs them again).
    let sslRootCert: String?
    /// The advisory lock's key: one per database (advisory locks are scoped to the database).
    static let lockKey: Int64 = 0x5249_5043_4F52_44  // "RIPCORD"

    public init(configuration: PostgresConnection.Configuration, sslMode: PostgresSSLMode? = nil, sslRootCert: String? = nil) {
        self.configuration = configuration
        self.sslMode = sslMode ?? (configuration.tls.isEnforced ? .require : configuration.tls.isAllowed ? .prefer : .disable)
        self.sslRootCert = sslRootCert
        displayName = "postgres \(configuration.host ?? "?"):\(configuration.port ?? 5432)/\(configuration.database ?? configuration.username)"
    }

    /// `postgres://user[:password]@host[:port]/database[?sslmode=…&sslrootcert=…]`. The password is
    /// looked for as libpq does: in the URL, then `passwordFile`, `PGPASSWORD`, and the password file
    /// (`PGPASSFILE`, else `~/.pgpass`). `sslMode` and `sslRootCert` override the URL's; the default is `prefer`.
    /// `text` as an sslmode, or an error naming where it was given (`--sslmode`, the URL's `sslmode`).
    public static func sslMode(_ text: String, given place: String) throws -> PostgresSSLMode {
        guard let mode = PostgresSSLMode(rawValue: text) else {
            throw MigrationError.badOption("\(place) is one of \(PostgresSSLMode.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
        }
        return mode
    }

    public init(
        url: String, passwordFile: String? = nil, sslMode: PostgresSSLMode? = nil, sslRootCert: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty, let user = components.user
        else {
            throw MigrationError.badOption("not a PostgreSQL URL: expected postgres://user[:password]@host[:port]/database")
        }
        var parameters: [String: String] = [:]
        for item in components.queryItems ?? [] {
            guard ["sslmode", "sslrootcert"].contains(item.name), let value = item.value else {
                throw MigrationError.badOption("unknown PostgreSQL URL parameter '\(item.name)' (known: sslmode, sslrootcert)")
            }
            parameters[item.name] = value
        }
        let mode = try sslMode ?? parameters["sslmode"].map { try Self.sslMode($0, given: "the URL's sslmode") } ?? .prefer
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : ""
        let database = path.isEmpty ? nil : path
        let port = components.port ?? 5432
        let password =
            try components.password.flatMap { $0.isEmpty ? nil : $0 }
            ?? passwordFile.map(PostgresPassword.read(passwordFile:))
            ?? environment["PGPASSWORD"]
            ?? PostgresPassword.fromPassFile(environment: environment, host: host, port: port, database: database ?? user, user: user)
        let rootCertificate = sslRootCert ?? parameters["sslrootcert"]
        self.init(
            configuration: PostgresConnection.Configuration(
                host: host, port: port, username: user, password: password, database: database,
                tls: try PostgresPassword.tls(mode, rootCertificate: rootCertificate)), sslMode: mode, sslRootCert: rootCertificate)
    }

    /// The same server, user, password, database and TLS for postgres-nio's pool (`PostgresClient`, what a
    /// long-running store connects with), which takes TLS settings where one connection takes a context.
    public func clientConfiguration() throws -> PostgresClient.Configuration {
        guard let host = configuration.host, let port = configuration.port else {
            throw MigrationError.badOption("\(displayName): a pool connects over TCP only, not through a socket file")
        }
        return PostgresClient.Configuration(
            host: host, port: port, username: configuration.username, password: configuration.password, database: configuration.database,
            tls: try PostgresPassword.clientTLS(sslMode, rootCertificate: sslRootCert))
    }

    public func withMigratorLock<Result: Sendable>(timeout: Duration, _ body: (any MigrationSession) async throws -> Result) async throws -> Result {
        try await withConnection { session in
            let deadline = ContinuousClock.now + timeout
            while try await session.query("SELECT pg_try_advisory_lock($1)", [.integer(Self.lockKey)]).first?.first != .integer(1) {
                guard ContinuousClock.now < deadline else { throw MigrationError.lockTimeout(database: displayName, waited: timeout) }
                try await Task.sleep(for: .milliseconds(50))
            }
            // Closing the connection afterwards releases the lock (and rolls back a transaction left open).
            return try await body(session)
        }
    }

    public func withConnection<Result: Sendable>(_ body: (any MigrationSession) async throws -> Result) async throws -> Result {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: Self.logger)
        } catch let error as PSQLError where error.code == .sslUnsupported {
            throw MigrationError.database("cannot connect to \(displayName): the server does not offer TLS, and sslmode=\(sslMode.rawValue) refuses a plaintext connection")
        } catch let error as PSQLError where error.code == .authMechanismRequiresPassword {
            throw MigrationError.database(
                "cannot connect to \(displayName): the server wants a password for \(user); "
                    + "give it with passwordFile, PGPASSWORD, ~/.pgpass or a URL kept in a secret")
        } catch {
            throw MigrationError.database("cannot connect to \(displayName): \(Self.message(error))")
        }
        do {
            let result = try await body(Session(connection: connection))
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static let logger = Logger(label: "ripcord.migrations.postgres")

    /// The server's own words: postgres-nio hides them from `description` on purpose.
    static func message(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        guard let server = error.serverInfo, let message = server[.message] else { return String(reflecting: error) }
        return [message, server[.detail], server[.hint].map { "hint: \($0)" }].compactMap { $0 }.joined(separator: "; ")
    }

    private struct Session: MigrationSession {
        let connection: PostgresConnection

        func execute(_ sql: String, _ values: [SQLValue]) async throws {
            _ = try await query(sql, values)
        }

        func query(_ sql: String, _ values: [SQLValue]) async throws -> [[SQLValue]] {
            var bindings = PostgresBindings()
            for value in values {
                switch value {
                case let .text(text): bindings.append(text)
                case let .integer(number): bindings.append(number)
                case .null: bindings.appendNull()
                }
            }
            do {
                var rows: [[SQLValue]] = []
                for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: PostgresMigrationDatabase.logger) {
                    rows.append(try row.map(Self.value))
                }
                return rows
            } catch {
                throw MigrationError.database(PostgresMigrationDatabase.message(error))
            }
        }

        private static func value(_ cell: PostgresCell) throws -> SQLValue {
            guard cell.bytes != nil else { return .null }
            switch cell.dataType {
            case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
            case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
            default: return .text(try cell.decode(String.self))
            }
        }
    }
}
