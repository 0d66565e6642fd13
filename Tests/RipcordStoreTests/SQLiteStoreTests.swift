import Foundation
import GRDB
import RipcordCore
import RipcordFlagService
import RipcordStore
import RipcordTestSupport
import Testing

/// What only the SQLite store does (its file, its migrations' names, flags and tokens); what every
/// `StateStore` does is checked on SQLite and PostgreSQL alike in StateStoreContractTests.
@Suite(.tags(.integration)) struct SQLiteStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ripcord-store-\(UUID().uuidString)").path
    let now = Moment(millisecondsSinceEpoch: 1_800_000_000_000)

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

    /// Events, rollouts and instances surviving a reopen: StateStoreContractTests. Tokens are SQLite's alone.
    @Test func tokensSurviveReopeningTheFile() async throws {
        do {
            let store = try open()
            try await store.addAccessToken(AccessTokenRecord(name: "admin", hash: "abc", kind: .admin, environment: nil, createdAt: Date()))
        }
        #expect(try await open().accessTokens().records.map(\.hash) == ["abc"])
    }

    @Test func aGuardedFlagRolloutStaysUnsettledUntilItsLastEffectsAreConfirmed() async throws {
        let plan = FlagRolloutPlan(
            flag: "new-checkout", environment: "production",
            steps: [FlagRolloutStep(percentage: 10, duration: .seconds(1)), FlagRolloutStep(percentage: 100, duration: .seconds(1))],
            service: "checkout")
        var rollout = try await open().createFlagRollout(at: now) { FlagRollout(id: $0, plan: plan, at: self.now) }
        let effects = rollout.start()
        try await open().save(rollout, events: effects.compactMap(\.event), at: now)
        _ = rollout.handle(.abort(reason: "stop"), at: now)
        try await open().save(rollout, events: [], at: now)
        // Reopened (a restart): finished, but the kill switch was not confirmed, so it is still unsettled.
        let reopened = try open()
        #expect(try await reopened.unsettledFlagRollouts() == [rollout])
        rollout.effectsApplied()
        try await reopened.save(rollout, events: [EventDraft("x", "after")], at: now)
        #expect(try await reopened.unsettledFlagRollouts().isEmpty)
        #expect(try await reopened.flagRollouts(flag: "new-checkout", environment: "production").map(\.phase) == [.disabled])
        #expect(try await reopened.flagRollouts(flag: "new-checkout", environment: "default").isEmpty)
        try await reopened.recordFlagRolloutEvents([EventDraft("y", "later")], rolloutID: rollout.id, at: now)
        let events = try await reopened.flagRolloutEvents(rolloutID: rollout.id)
        #expect(events.map(\.kind) == ["flagRollout.started", "flagRollout.step", "x", "y"] && events.allSatisfy { $0.service == "new-checkout" })
    }
}
