import Foundation
import GRDB
import RipcordCore
import RipcordStore
import RipcordTestSupport
import Testing

/// What only the SQLite store does (its file, its migrations' names); what every store does is checked
/// on SQLite and PostgreSQL alike in StateStoreContractTests and FlagStoreContractTests.
@Suite(.tags(.integration)) struct SQLiteStoreTests {
    let directory = temporaryPath("store")

    func open() throws -> SQLiteStore {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try SQLiteStore(path: "\(directory)/state.sqlite")
    }

    /// Databases record the migrations they applied by name: the names and their order never change.
    @Test func aNewDatabaseAppliesEveryMigrationByItsLastingNameInOrder() throws {
        let store = try open()
        let applied = try DatabaseQueue(path: store.path).read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
        #expect(
            applied == [
                "v1", "instance-role", "instance-driver", "flags-v1", "flags-v2-change-reason", "flag-rollouts-v1",
                "flag-rollout-event-actor", "flags-v3-exposure-last-seen", "releases-v1", "rejected-versions",
                "event-actor", "tokens-v2-lifecycle", "instance-starting", "drill-schedules",
            ])
    }

    @Test func instancesFromBeforeDriversWereRecordedAreLocalProcesses() async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/state.sqlite"
        // The instance table as the store left it before drivers were recorded, with one running instance.
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: try SystemProgram.require("sqlite3", package: "sqlite3"))
        sqlite.arguments = [
            path,
            """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1'), ('instance-role');
            CREATE TABLE instance (id TEXT PRIMARY KEY, service TEXT NOT NULL, version TEXT NOT NULL, host TEXT NOT NULL,
                port INTEGER NOT NULL, pid INTEGER NOT NULL, started_at INTEGER NOT NULL, role TEXT NOT NULL DEFAULT 'stable');
            INSERT INTO instance VALUES ('old', 'checkout', '1.0.0', '127.0.0.1', 4000, 42, 1800000000000, 'stable');
            CREATE TABLE event (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, service TEXT NOT NULL,
                rollout_id INTEGER, kind TEXT NOT NULL, message TEXT NOT NULL, evidence TEXT NOT NULL);
            CREATE TABLE token (name TEXT NOT NULL, hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
            """,
        ]
        try sqlite.run()
        sqlite.waitUntilExit()
        #expect(sqlite.terminationStatus == 0)

        let store = try SQLiteStore(path: path)
        let old = try #require(try await store.instances(service: "checkout").first)
        #expect(old.driver == .process && old.handle == nil && old.pid == 42 && !old.starting)
        #expect(try await store.instances(service: "checkout").count == 1)
    }
}
