import Logging
import PostgresNIO
import RipcordCore
import RipcordMigrations

extension PostgresStateStore {
    /// Connects to `postgres://user@host[:port]/database[?sslmode=…&sslrootcert=…]` as `ripcord migrate`
    /// and libpq do (`PostgresMigrationDatabase`): the password from the URL, `passwordFile`, PGPASSWORD
    /// or ~/.pgpass (PGPASSFILE); `sslMode` and `sslRootCert` override the URL's (default: prefer). Throws
    /// `MigrationError` naming the database when it cannot connect.
    public static func open(
        url: String, passwordFile: String? = nil, sslMode: PostgresSSLMode? = nil, sslRootCert: String? = nil, logger: Logger = logger
    ) async throws -> PostgresStateStore {
        let database = try PostgresMigrationDatabase(url: url, passwordFile: passwordFile, sslMode: sslMode, sslRootCert: sslRootCert)
        // One connection first: a server that is down or refuses the login fails here, saying why, where
        // the pool would keep retrying without a word to the caller.
        try await database.withConnection { _ in }
        return try await open(database: database, logger: logger)
    }
}
