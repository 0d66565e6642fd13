import Foundation
import GRDB
import RipcordCore
import RipcordFlagService
import RipcordFlags
import RipcordPostgresStore
import RipcordStore
import RipcordTestSupport
import Testing

/// `ripcord store migrate-to-postgres`'s copy: a SQLite state with history from every feature, copied
/// into a real PostgreSQL, reads back the same through the stores' own API and continues its ids.
@Suite(.postgresServer, .tags(.integration)) struct StateCopyTests {
    let moment = Moment(millisecondsSinceEpoch: 1_800_000_000_000)
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aCopiedStateReadsTheSameContinuesItsIDsAndIsNotCopiedTwice() async throws {
        let directory = try temporaryDirectory("copy")
        let sqlite = try SQLiteStore.openState(directory: directory, tokenFile: "\(directory)/admin.token")
        try await writeHistory(into: sqlite)
        let sourceCounts = try await DatabaseQueue(path: sqlite.path).read { db in
            try PostgresStateStore.stateTables.map { try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \($0)") ?? 0 }
        }
        #expect(!sourceCounts.contains(0), "the history has rows in every table: \(sourceCounts)")

        try await StoreKind.postgres.withPlace { place in
            let postgres = try await place.openPostgres()
            let copied = try await postgres.copyState(from: sqlite)
            #expect(copied.map(\.name) == PostgresStateStore.stateTables && copied.map(\.rows) == sourceCounts)
            let original = try await StateReading(of: sqlite)
            #expect(try await StateReading(of: postgres) == original)

            // What is written next continues each id where SQLite left it.
            let event = try await postgres.record(service: "checkout", rolloutID: nil, events: [EventDraft("note", "after the copy")], at: moment)
            #expect(event.map(\.id) == [original.lastEventID + 1])
            let rollout = try await StateStoreContractTests().startRollout(postgres, version: "9.0.0")
            #expect(try next(original.rollouts.map(\.id)) == rollout.id)
            let release = try await postgres.createRelease(at: moment) {
                Release(id: $0, name: "later", kind: .apply, manifest: ReleaseManifest(name: "later", services: []), createdAt: self.moment)
            }
            #expect(try next(original.releases.map(\.id)) == release.id)
            let change = try await postgres.apply([.putFlag(FeatureDefinition(name: "later", enabled: true))], environment: "production", actor: "ops", reason: nil, at: now)
            #expect(try [next(original.flagChanges.map(\.id))] == change.map(\.id))
            let flagRollout = try await startFlagRollout("later", in: postgres)
            #expect(try next(original.flagRollouts.map(\.id)) == flagRollout.id)
            let flagEvents = try await postgres.flagRolloutEvents(rolloutID: flagRollout.id)
            #expect(try next(original.flagRolloutEvents.map(\.id)) == flagEvents.first?.id, "its start's events")

            // A second copy into the same database is refused and writes nothing.
            let before = try await StateReading(of: postgres)
            await #expect {
                _ = try await postgres.copyState(from: sqlite)
            } throws: { error in
                (error as? StateCopyRefusal)?.description.contains("already holds Ripcord state (rows in revision, stable, rollout, event") == true
            }
            #expect(try await StateReading(of: postgres) == before)
        }
    }

    @Test func aCopyIsRefusedWhenTheDatabaseHoldsEvenOneToken() async throws {
        let directory = try temporaryDirectory("copy")
        let sqlite = try SQLiteStore.openState(directory: directory, tokenFile: "\(directory)/admin.token")
        _ = try await sqlite.record(service: "checkout", rolloutID: nil, events: [EventDraft("note", "one")], at: moment)
        try await StoreKind.postgres.withPlace { place in
            let postgres = try await place.openPostgres()
            try await postgres.addAccessToken(AccessTokenRecord(name: "admin", hash: "hash", kind: .admin, environment: nil, createdAt: now, bootstrap: true))
            await #expect(throws: StateCopyRefusal.self) { try await postgres.copyState(from: sqlite) }
            #expect(try await postgres.lastEventID() == 0)
        }
    }

    /// The id after the highest of `ids`.
    func next(_ ids: [Int64]) throws -> Int64 { try #require(ids.max()) + 1 }

    // MARK: A history with every feature

    /// Revisions, a promoted and a rolled-back rollout (a rejection) with their events, instances, a
    /// release, a drill schedule, tokens (one revoked, one rotated), flags with changes and segments in
    /// two environments, exposures, clients, and a guarded flag rollout with its events.
    func writeHistory(into store: SQLiteStore) async throws {
        let contract = StateStoreContractTests()
        var promoted = try await contract.startRollout(store, version: "1.0.0")
        try await contract.advance(&promoted, .candidateReady, at: moment, in: store)
        var failed = try await contract.startRollout(store, version: "1.1.0")
        try await contract.advance(&failed, .candidateFailed(Trigger(kind: .instanceCrashed, message: "exited with status 1")), at: moment, in: store)
        _ = try await store.appendRevision(service: "payments", version: try SemanticVersion(parsing: "3.0.0"), spec: contract.spec, note: "payments", at: moment)
        _ = try await store.record(service: "payments", rolloutID: nil, events: [EventDraft("note", "by hand", evidence: ["k": "v"], actor: "ops")], at: moment)
        for (id, service) in [("c1", "checkout"), ("p1", "payments")] {
            try await store.saveInstance(
                InstanceRecord(
                    id: id, service: service, version: try SemanticVersion(parsing: "1.0.0"), host: "127.0.0.1", port: 4000, pid: 42, startedAt: moment,
                    role: .stable, driver: .process, handle: nil, starting: id == "p1"))
        }
        let manifest = ReleaseManifest(name: "spring", services: [ReleaseTarget(service: "checkout", version: try SemanticVersion(parsing: "1.0.0"))])
        var release = try await store.createRelease(at: moment) { Release(id: $0, name: "spring", kind: .apply, manifest: manifest, createdAt: self.moment) }
        release.phase = .promoted
        release.finishedAt = moment
        try await store.saveRelease(release, at: moment)
        try await store.saveDrillSchedule(DrillSchedule(service: "checkout", every: .seconds(3600), fault: .latency(milliseconds: 300), nextAt: moment))

        try await store.addAccessToken(AccessTokenRecord(name: "admin", hash: "hash-admin", kind: .admin, environment: nil, createdAt: now, bootstrap: true))
        try await store.addAccessToken(
            AccessTokenRecord(name: "sdk", hash: "hash-sdk", kind: .client, environment: "production", createdAt: now, expiresAt: now + 60, createdBy: "admin"))
        try await store.addAccessToken(AccessTokenRecord(name: "old", hash: "hash-old", kind: .frontend, environment: "staging", createdAt: now))
        _ = try await store.revokeAccessToken(name: "old", at: now, by: "admin")
        _ = try await store.rotateAccessToken(name: "sdk", hash: "hash-sdk-2", expiresAt: nil, at: now, by: "admin")

        let beta = Segment(id: 3, name: "beta", constraints: [Constraint(contextName: "userId", operator: .in, values: ["1"])])
        _ = try await store.apply(
            [.putFlag(FeatureDefinition(name: "new-checkout", enabled: true)), .putFlag(FeatureDefinition(name: "gone", enabled: false)), .putSegment(beta)],
            environment: "production", actor: "admin", reason: "launch", at: now)
        _ = try await store.apply(
            [.deleteFlag("gone"), .putFlag(FeatureDefinition(name: "new-checkout", enabled: false))], environment: "production", actor: "ops", reason: nil, at: now)
        _ = try await store.apply([.putFlag(FeatureDefinition(name: "banner", enabled: true))], environment: "staging", actor: "admin", reason: nil, at: now)
        try await store.recordExposures(
            [
                ExposureCount(appName: "shop", flag: "new-checkout", yes: 5, no: 2, variants: ["blue": 3]),
                ExposureCount(appName: "shop", flag: "banner", yes: 0, no: 0, variants: [:]),
            ],
            environment: "production", at: now)
        try await store.register(ClientRegistration(appName: "shop", instanceId: "i-1", sdkVersion: "unleash-client-node:5.0.0", lastSeen: now), environment: "production")

        var flagRollout = try await startFlagRollout("new-checkout", in: store)
        _ = flagRollout.handle(.abort(reason: "errors"), at: moment)
        try await store.save(flagRollout, events: [EventDraft("flagRollout.aborted", "errors", actor: "ops")], at: moment)
    }

    func startFlagRollout(_ flag: String, in store: any FlagRolloutStore) async throws -> FlagRollout {
        let plan = FlagRolloutPlan(flag: flag, environment: "production", steps: [FlagRolloutStep(percentage: 50, duration: .seconds(60))], service: "checkout")
        let moment = moment
        var rollout = try await store.createFlagRollout(at: moment) { FlagRollout(id: $0, plan: plan, at: moment) }
        let effects = rollout.start()
        try await store.save(rollout, events: effects.compactMap(\.event), at: moment)
        return rollout
    }
}

/// Everything a store answers about the history `writeHistory` leaves, through its public API.
struct StateReading: Equatable {
    var revisions: [Revision] = []
    var stable: [Revision] = []
    var rollouts: [Rollout] = []
    var activeRollouts: [Rollout] = []
    var events: [Event] = []
    var lastEventID: Int64 = 0
    var instances: [InstanceRecord] = []
    var releases: [Release] = []
    var activeReleases: [Release] = []
    var rejections: [Rejection] = []
    var drillSchedules: [DrillSchedule] = []
    var tokens = AccessTokens(generation: 0, records: [])
    var environments: [String] = []
    var flagStates: [FlagStateRecord] = []
    var flagChanges: [FlagChangeRecord] = []
    var exposures: [ExposureCount] = []
    var clients: [ClientRegistration] = []
    var flagRollouts: [FlagRollout] = []
    var unsettledFlagRollouts: [FlagRollout] = []
    var flagRolloutEvents: [Event] = []

    init(of store: any FullStore) async throws {
        for service in ["checkout", "payments"] {
            revisions += try await store.revisions(service: service)
            stable += [try await store.stableRevision(service: service)].compactMap { $0 }
            rollouts += try await store.rollouts(service: service, limit: 100)
            instances += try await store.instances(service: service)
            rejections += try await store.rejections(service: service)
        }
        activeRollouts = try await store.activeRollouts()
        events = try await store.events(service: nil, rolloutID: nil, afterID: 0, limit: 1000)
        lastEventID = try await store.lastEventID()
        releases = try await store.releases(limit: 100)
        activeReleases = try await store.activeReleases()
        drillSchedules = try await store.drillSchedules()
        tokens = try await store.accessTokens()
        environments = try await store.environments()
        for environment in environments {
            flagStates.append(try await store.flagState(environment: environment))
            flagChanges += try await store.flagChanges(environment: environment, target: nil)
            exposures += try await store.exposures(environment: environment)
            clients += try await store.clients(environment: environment)
            for flag in flagStates.last?.features.map(\.name) ?? [] {
                flagRollouts += try await store.flagRollouts(flag: flag, environment: environment)
            }
        }
        unsettledFlagRollouts = try await store.unsettledFlagRollouts()
        for rollout in flagRollouts { flagRolloutEvents += try await store.flagRolloutEvents(rolloutID: rollout.id) }
    }
}
