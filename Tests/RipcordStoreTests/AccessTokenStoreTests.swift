import Foundation
import RipcordCore
import RipcordFlagService
import RipcordStore
import RipcordTestSupport
import Testing

/// Tokens in the SQLite store's older files; what every store does with tokens is checked on SQLite and
/// PostgreSQL alike in FlagStoreContractTests.
@Suite(.tags(.integration)) struct AccessTokenStoreTests {
    let directory = temporaryPath("tokens")
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func open() throws -> SQLiteStore {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try SQLiteStore(path: "\(directory)/state.sqlite")
    }

    @Test func aDatabaseFromBeforeTokenLifecyclesKeepsItsAdminTokenAndGetsUniqueNames() async throws {
        _ = try open()
        // Back to the tables as they were: the bootstrap token apart, names not unique.
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: try SystemProgram.require("sqlite3", package: "sqlite3"))
        sqlite.arguments = [
            "\(directory)/state.sqlite",
            """
            DROP INDEX access_token_name;
            ALTER TABLE access_token DROP COLUMN expires_at;
            ALTER TABLE access_token DROP COLUMN revoked_at;
            ALTER TABLE access_token DROP COLUMN bootstrap;
            ALTER TABLE access_token DROP COLUMN changed;
            ALTER TABLE access_token DROP COLUMN created_by;
            ALTER TABLE access_token DROP COLUMN revoked_by;
            ALTER TABLE access_token DROP COLUMN rotated_at;
            ALTER TABLE access_token DROP COLUMN rotated_by;
            CREATE TABLE token (name TEXT NOT NULL, hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
            INSERT INTO token VALUES ('admin', 'hash-bootstrap', 1000);
            INSERT INTO access_token (hash, name, kind, environment, created_at) VALUES
                ('hash-1', 'client-default', 'client', 'default', 2000),
                ('hash-2', 'client-default', 'client', 'default', 3000),
                ('hash-3', 'admin', 'admin', NULL, 4000);
            DELETE FROM grdb_migrations WHERE identifier = 'tokens-v2-lifecycle';
            """,
        ]
        try sqlite.run()
        sqlite.waitUntilExit()
        #expect(sqlite.terminationStatus == 0)

        let tokens = try await open().accessTokens()
        #expect(tokens.records.map(\.name) == ["admin", "client-default", "client-default-2", "admin-2"])
        #expect(tokens.records.map(\.hash) == ["hash-bootstrap", "hash-1", "hash-2", "hash-3"], "every secret still works")
        #expect(tokens.named("admin")?.bootstrap == true && tokens.named("admin")?.kind == .admin)
        #expect(tokens.records.allSatisfy { $0.state(at: now) == .active })
    }
}
