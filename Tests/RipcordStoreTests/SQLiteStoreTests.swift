import Foundation
import GRDB
import RipcordCore
import RipcordFlagService
import RipcordStore
import RipcordTestSupport
import Testing

@Suite(.tags(.integration)) struct SQLiteStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ripcord-store-\(UUID().uuidString)").path
    let spec = ServiceSpec(name: "checkout", listen: HostPort(host: "127.0.0.1", port: 8080), run: RunSpec(command: "app {port}"))
    let now = Moment(millisecondsSinceEpoch: 1_800_000_000_000)

    func open() throws -> SQLiteStore {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try SQLiteStore(path: "\(directory)/state.sqlite")
    }

    @Test func revisionsAreNumberedPerService() async throws {
        let store = try open()
        let first = try await store.appendRevision(service: "checkout", version: try SemanticVersion(parsing: "1.0.0"), spec: spec, note: "a", at: now)
        let second = try await store.appendRevision(service: "checkout", version: try SemanticVersion(parsing: "1.1.0"), spec: spec, note: "b", at: now)
        let other = try await store.appendRevision(service: "payments", version: try SemanticVersion(parsing: "3.0.0"), spec: spec, note: "c", at: now)
        let numbers: [Int] = [first.number, second.number, other.number]
        #expect(numbers == [1, 2, 1])
        #expect(try await store.revisions(service: "checkout").map(\.version.description) == ["1.0.0", "1.1.0"])
        #expect(try await store.revisions(service: "checkout").first?.spec == spec)
    }

    @Test func promotionMovesTheStableRevisionWithItsEventsAtomically() async throws {
        let store = try open()
        let revision = try await store.appendRevision(service: "checkout", version: try SemanticVersion(parsing: "1.0.0"), spec: spec, note: "", at: now)
        var rollout = try await store.createRollout(at: now, events: [EventDraft("rollout.started", "go")]) { id in
            Rollout(id: id, service: self.spec, revision: revision.number, stableVersion: nil, candidateVersion: revision.version, at: self.now)
        }
        #expect(try await store.stableRevision(service: "checkout") == nil)
        #expect(try await store.activeRollouts().map(\.id) == [rollout.id])
        let effects = rollout.handle(.candidateReady, at: now)
        try await store.save(rollout, events: effects.compactMap { if case let .record(e) = $0 { e } else { nil } }, at: now)
        #expect(try await store.stableRevision(service: "checkout")?.number == revision.number)
        #expect(try await store.activeRollouts().isEmpty)
        let events = try await store.events(service: "checkout", rolloutID: rollout.id, afterID: 0, limit: 10)
        #expect(events.map(\.kind) == ["rollout.started", "candidate.ready", "rollout.promoted"])
        #expect(try await store.rollout(id: rollout.id) == rollout)
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

    @Test func drillSchedulesAreKeptOnePerServiceAndARowThatDoesNotReadBackIsSkipped() async throws {
        let store = try open()
        let at = Moment(millisecondsSinceEpoch: 1_800_000_000_000)
        try await store.saveDrillSchedule(DrillSchedule(service: "checkout", every: .seconds(604_800), fault: nil, nextAt: at))
        try await store.saveDrillSchedule(DrillSchedule(service: "checkout", every: .seconds(3600), fault: .latency(milliseconds: 300), nextAt: at))
        try await store.saveDrillSchedule(DrillSchedule(service: "cart", every: .seconds(60), fault: .crash, nextAt: at))
        #expect(
            try await store.drillSchedules() == [
                DrillSchedule(service: "cart", every: .seconds(60), fault: .crash, nextAt: at),
                DrillSchedule(service: "checkout", every: .seconds(3600), fault: .latency(milliseconds: 300), nextAt: at),
            ])
        try await DatabaseQueue(path: store.path).write { db in try db.execute(sql: "UPDATE drill_schedule SET fault = 'explode' WHERE service = 'cart'") }
        #expect(try await store.drillSchedules().map(\.service) == ["checkout"])
        #expect(try await store.removeDrillSchedule(service: "checkout"))
        let removedTwice = try await store.removeDrillSchedule(service: "checkout")
        #expect(!removedTwice, "nothing left to remove")
    }

    @Test func instancesRememberTheirDriverAndOldRowsAreLocalProcesses() async throws {
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
        let scripts = DriverSpec.command(CommandDriverSpec(start: "./start.sh", stop: "./stop.sh", check: "./check.sh", workingDirectory: "/srv"))
        try await store.saveInstance(
            InstanceRecord(
                id: "new", service: "checkout", version: try SemanticVersion(parsing: "1.1.0"),
                host: "10.0.0.7", port: 8080, pid: 0, startedAt: now, driver: scripts, handle: "unit-7"))
        let new = try #require(try await SQLiteStore(path: path).instances(service: "checkout").first { $0.id == "new" })
        #expect(new.driver == scripts && new.handle == "unit-7" && new.address == HostPort(host: "10.0.0.7", port: 8080))

        // Saved before its start, then as started: the same row.
        var planned = InstanceRecord(
            id: "planned", service: "checkout", version: try SemanticVersion(parsing: "1.1.0"), host: "127.0.0.1", port: 8081, pid: 0,
            startedAt: now, starting: true)
        try await store.saveInstance(planned)
        #expect(try await store.instances(service: "checkout").first { $0.id == "planned" }?.starting == true)
        (planned.pid, planned.starting) = (77, false)
        try await store.saveInstance(planned)
        let started = try await store.instances(service: "checkout").filter { $0.id == "planned" }
        #expect(started.count == 1 && started[0].pid == 77 && !started[0].starting)
    }

    @Test func stateSurvivesReopeningTheFile() async throws {
        do {
            let store = try open()
            try await store.record(service: "checkout", rolloutID: nil, events: [EventDraft("x", "kept", evidence: ["k": "v"])], at: now)
            try await store.saveInstance(
                InstanceRecord(
                    id: "i1", service: "checkout", version: try SemanticVersion(parsing: "1.0.0"),
                    host: "127.0.0.1", port: 4000, pid: 42, startedAt: now))
            try await store.saveInstance(
                InstanceRecord(
                    id: "i2", service: "checkout", version: try SemanticVersion(parsing: "1.0.0"),
                    host: "127.0.0.1", port: 4001, pid: 43, startedAt: now, role: .baseline))
            try await store.addAccessToken(AccessTokenRecord(name: "admin", hash: "abc", kind: .admin, environment: nil, createdAt: Date()))
        }
        let reopened = try open()
        #expect(try await reopened.events(service: "checkout", rolloutID: nil, afterID: 0, limit: 10).first?.evidence == ["k": "v"])
        #expect(try await reopened.instances(service: "checkout").map(\.pid) == [42, 43])
        #expect(try await reopened.instances(service: "checkout").map(\.role) == [.stable, .baseline])
        #expect(try await reopened.accessTokens().records.map(\.hash) == ["abc"])
        try await reopened.removeInstance(id: "i1")
        try await reopened.removeInstance(id: "i2")
        #expect(try await reopened.instances(service: "checkout").isEmpty)
    }

    @Test func eventsPageByID() async throws {
        let store = try open()
        let drafts = (1...5).map { EventDraft("e", "event \($0)") }
        let written = try await store.record(service: "checkout", rolloutID: nil, events: drafts, at: now)
        let page = try await store.events(service: "checkout", rolloutID: nil, afterID: written[1].id, limit: 2)
        #expect(page.map(\.message) == ["event 3", "event 4"])
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
