import Foundation
import PostgresNIO
import RipcordCore
import RipcordTestSupport
import Testing

/// What every `StateStore` promises, checked on each store Ripcord has: SQLite (one file) and
/// PostgreSQL (a real server started for the suite, each test on a database of its own).
@Suite(.postgresServer, .tags(.integration)) struct StateStoreContractTests {
    let spec = ServiceSpec(name: "checkout", listen: HostPort(host: "127.0.0.1", port: 8080), run: RunSpec(command: "app {port}"))
    let now = Moment(millisecondsSinceEpoch: 1_800_000_000_000)

    // MARK: Revisions and rollouts

    @Test(arguments: StoreKind.allCases) func revisionsAreNumberedPerService(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let first = try await store.appendRevision(service: "checkout", version: try SemanticVersion(parsing: "1.0.0"), spec: spec, note: "a", at: now)
            let second = try await store.appendRevision(service: "checkout", version: try SemanticVersion(parsing: "1.1.0"), spec: spec, note: "b", at: now)
            let other = try await store.appendRevision(service: "payments", version: try SemanticVersion(parsing: "3.0.0"), spec: spec, note: "c", at: now)
            let numbers: [Int] = [first.number, second.number, other.number]
            #expect(numbers == [1, 2, 1])
            #expect(try await store.revisions(service: "checkout") == [first, second])
            #expect(try await store.revisions(service: "checkout").first?.spec == spec)
            #expect(try await store.revisions(service: "nobody").isEmpty)
            #expect(try await store.stableRevision(service: "checkout") == nil, "no promotion yet")
        }
    }

    @Test(arguments: StoreKind.allCases) func promotionMovesTheStableRevisionWithItsEventsAtomically(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            var rollout = try await startRollout(store, version: "1.0.0")
            #expect(try await store.stableRevision(service: "checkout") == nil)
            #expect(try await store.activeRollouts().map(\.id) == [rollout.id])
            let before = try await store.lastEventID()

            // A promotion whose events cannot be written (their table is away) leaves nothing behind.
            var promoted = rollout
            let events = recorded(promoted.handle(.candidateReady, at: now))
            try await place.edit("ALTER TABLE event RENAME TO event_away")
            await #expect(throws: (any Error).self) { try await store.save(promoted, events: events, at: now) }
            try await place.edit("ALTER TABLE event_away RENAME TO event")
            #expect(try await store.stableRevision(service: "checkout") == nil)
            #expect(try await store.rollout(id: rollout.id) == rollout)
            #expect(try await store.activeRollouts().map(\.id) == [rollout.id])
            #expect(try await store.lastEventID() == before)

            let stored = try await store.save(promoted, events: events, at: now)
            rollout = promoted
            #expect(try await store.stableRevision(service: "checkout")?.number == rollout.revision)
            #expect(try await store.activeRollouts().isEmpty)
            let history = try await store.events(service: "checkout", rolloutID: rollout.id, afterID: 0, limit: 10)
            #expect(history.map(\.kind) == ["rollout.started", "candidate.ready", "rollout.promoted"])
            #expect(stored.map(\.kind) == ["candidate.ready", "rollout.promoted"] && stored.allSatisfy { $0.rolloutID == rollout.id && $0.service == "checkout" })
            #expect(try await store.rollout(id: rollout.id) == rollout)
            #expect(try await store.rollout(id: rollout.id + 1000) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases) func aFinishedRolloutNeverChangesAgain(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let live = try await startRollout(store, version: "1.0.0")
            var finished = live
            try await advance(&finished, .abort(reason: "stop"), at: now, in: store)
            // A late writer (a controller that lost its lead) saves the rollout as it last knew it.
            try await store.save(live, events: [], at: now)
            #expect(try await store.rollout(id: live.id) == finished)
            #expect(try await store.rollout(id: live.id)?.phase == .rolledBack)
            #expect(try await store.activeRollouts().isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases) func rolloutsOfAServiceAreListedNewestFirst(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let first = try await startRollout(store, version: "1.0.0")
            let second = try await startRollout(store, version: "1.1.0")
            #expect(second.id > first.id)
            #expect(try await store.rollouts(service: "checkout", limit: 10).map(\.id) == [second.id, first.id])
            #expect(try await store.rollouts(service: "checkout", limit: 1).map(\.id) == [second.id])
            #expect(try await store.rollouts(service: "payments", limit: 10).isEmpty)
            #expect(try await store.activeRollouts().map(\.id) == [first.id, second.id])
        }
    }

    // MARK: Rejections

    @Test(arguments: StoreKind.allCases) func aRollbackRecordsItsRejectionAndALaterPromotionOfTheVersionClearsIt(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let version = try SemanticVersion(parsing: "1.1.0")
            var failed = try await startRollout(store, version: "1.1.0")
            let effects = failed.handle(.candidateFailed(Trigger(kind: .instanceCrashed, message: "exited with status 1")), at: now)
            try #require(failed.phase == .rolledBack)
            try await store.save(failed, events: recorded(effects), at: now)
            let rejection = Rejection(service: "checkout", version: version, rolloutID: failed.id, trigger: .instanceCrashed, message: "exited with status 1", at: now)
            #expect(try await store.rejection(service: "checkout", version: version) == rejection)
            #expect(try await store.rejections(service: "checkout") == [rejection])
            #expect(try await store.rejections(service: "payments").isEmpty)

            // An abort blames no version.
            var aborted = try await startRollout(store, version: "1.2.0")
            try await advance(&aborted, .abort(reason: "not today"), at: now, in: store)
            #expect(try await store.rejection(service: "checkout", version: try SemanticVersion(parsing: "1.2.0")) == nil)

            // Deployed again with --force and promoted: the evidence now says it is good.
            var forced = try await startRollout(store, version: "1.1.0")
            try await advance(&forced, .candidateReady, at: now, in: store)
            try #require(forced.phase == .promoted)
            #expect(try await store.rejection(service: "checkout", version: version) == nil)

            var again = try await startRollout(store, version: "1.3.0")
            try await advance(&again, .candidateFailed(Trigger(kind: .analysis, message: "errors")), at: now, in: store)
            let version13 = try SemanticVersion(parsing: "1.3.0")
            #expect(try await store.removeRejection(service: "checkout", version: version13))
            let removedTwice = try await store.removeRejection(service: "checkout", version: version13)
            #expect(!removedTwice, "nothing left to remove")
            #expect(try await store.rejections(service: "checkout").isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases) func aRejectionThatDoesNotReadBackIsSkipped(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            for version in ["1.1.0", "1.2.0"] {
                var failed = try await startRollout(store, version: version)
                try await advance(&failed, .candidateFailed(Trigger(kind: .analysis, message: "bad")), at: now, in: store)
            }
            try await place.edit("UPDATE rejected_version SET trigger = 'gremlins' WHERE version = '1.1.0'")
            #expect(try await store.rejections(service: "checkout").map(\.version.description) == ["1.2.0"])
            #expect(try await store.rejection(service: "checkout", version: try SemanticVersion(parsing: "1.1.0")) == nil)
        }
    }

    // MARK: Events

    @Test(arguments: StoreKind.allCases) func eventsPageByIDAndFilterByServiceAndRollout(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            #expect(try await store.lastEventID() == 0, "an empty store")
            let drafts = (1...5).map { EventDraft("e", "event \($0)") }
            let written = try await store.record(service: "checkout", rolloutID: nil, events: drafts, at: now)
            let other = try await store.record(service: "payments", rolloutID: 7, events: [EventDraft("e", "payments", actor: "ci")], at: now)
            let ofRollout = try await store.record(service: "checkout", rolloutID: 7, events: [EventDraft("e", "of rollout 7", evidence: ["k": "v"])], at: now)
            let ids = (written + other + ofRollout).map(\.id)
            #expect(ids == ids.sorted() && Set(ids).count == ids.count, "ids only grow")
            #expect(try await store.lastEventID() == ofRollout[0].id)
            #expect(try await store.record(service: "checkout", rolloutID: nil, events: [], at: now).isEmpty)

            #expect(try await store.events(service: "checkout", rolloutID: nil, afterID: written[1].id, limit: 2).map(\.message) == ["event 3", "event 4"])
            #expect(try await store.events(service: nil, rolloutID: nil, afterID: 0, limit: 100) == written + other + ofRollout)
            #expect(try await store.events(service: nil, rolloutID: 7, afterID: 0, limit: 100) == other + ofRollout)
            #expect(try await store.events(service: "checkout", rolloutID: 7, afterID: 0, limit: 100) == ofRollout)
            #expect(try await store.events(service: "payments", rolloutID: nil, afterID: 0, limit: 100).first?.actor == "ci")
            #expect(try await store.events(service: nil, rolloutID: nil, afterID: ofRollout[0].id, limit: 100).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases) func eventsAreFoundByKindSinceAMomentAndService(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let earlier = Moment(millisecondsSinceEpoch: now.millisecondsSinceEpoch - 60_000)
            try await store.record(service: "checkout", rolloutID: nil, events: [EventDraft("rollout.rolledBack", "too old")], at: earlier)
            try await store.record(service: "checkout", rolloutID: 1, events: [EventDraft("rollout.rolledBack", "back"), EventDraft("step", "on")], at: now)
            try await store.record(service: "payments", rolloutID: 2, events: [EventDraft("rollout.promoted", "done")], at: now)
            let kinds: Set<EventKind> = ["rollout.rolledBack", "rollout.promoted"]
            #expect(try await store.events(kinds: kinds, since: now, service: nil, limit: 10).map(\.message) == ["back", "done"])
            #expect(try await store.events(kinds: kinds, since: earlier, service: "checkout", limit: 10).map(\.message) == ["too old", "back"])
            #expect(try await store.events(kinds: kinds, since: earlier, service: nil, limit: 1).map(\.message) == ["too old"])
            #expect(try await store.events(kinds: ["step"], since: now, service: "payments", limit: 10).isEmpty)
            #expect(try await store.events(kinds: [], since: earlier, service: nil, limit: 10).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases) func theEventFeedPublishesEachCommittedWriteOnceAndNothingElse(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let batches = await store.eventFeed.subscribe(.everything)
            var rollout = try await startRollout(store, version: "1.0.0")
            try await store.record(service: "checkout", rolloutID: nil, events: [EventDraft("note", "hello")], at: now)
            let events = recorded(rollout.handle(.candidateReady, at: now))
            try await place.edit("ALTER TABLE event RENAME TO event_away")
            await #expect(throws: (any Error).self) { try await store.save(rollout, events: events, at: now) }
            try await place.edit("ALTER TABLE event_away RENAME TO event")
            try await store.save(rollout, events: events, at: now)
            await store.eventFeed.finish()

            var published: [[Event]] = []
            for await batch in batches { published.append(batch) }
            let stored = try await store.events(service: nil, rolloutID: nil, afterID: 0, limit: 100)
            #expect(published.map(\.count) == [1, 1, 2], "one batch per committed write, none for the failed one")
            #expect(published.flatMap { $0 } == stored)
        }
    }

    /// The event stream reads `events(afterID:)` after each wake-up and never looks below the last id it
    /// saw: with writers on several connections (and two stores, as two controllers), an id that became
    /// visible after a greater one would be missed for good.
    @Test(arguments: StoreKind.allCases) func aReaderFollowingEventIDsMissesNothingWhileManyWrite(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let stores = [try await place.open(), try await place.open()]
            let writers = 4
            let perWriter = 25
            let seen = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for number in 0..<perWriter {
                            try await stores[writer % stores.count].record(
                                service: "s\(writer)", rolloutID: nil, events: [EventDraft("e", "\(writer).\(number)")], at: now)
                        }
                        return []
                    }
                }
                group.addTask {
                    var seen: [Int64] = []
                    var last: Int64 = 0
                    // A skipped id is never read: the reader then stops at the deadline, short of the total.
                    let deadline = ContinuousClock.now + .seconds(20)
                    while seen.count < writers * perWriter, ContinuousClock.now < deadline {
                        let page = try await stores[0].events(service: nil, rolloutID: nil, afterID: last, limit: 1000)
                        seen += page.map(\.id)
                        last = page.last?.id ?? last
                        if page.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
                    }
                    return seen
                }
                var all: [Int64] = []
                for try await ids in group { all += ids }
                return all
            }
            let stored = try await stores[1].events(service: nil, rolloutID: nil, afterID: 0, limit: 1000).map(\.id)
            #expect(stored.count == writers * perWriter)
            #expect(seen == stored, "the reader saw every event, in id order")
        }
    }

    // MARK: Instances

    @Test(arguments: StoreKind.allCases) func instancesAreSavedReplacedListedAndRemoved(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let version = try SemanticVersion(parsing: "1.1.0")
            let scripts = DriverSpec.command(CommandDriverSpec(start: "./start.sh", stop: "./stop.sh", check: "./check.sh", workingDirectory: "/srv"))
            let later = Moment(millisecondsSinceEpoch: now.millisecondsSinceEpoch + 1)
            let remote = InstanceRecord(
                id: "b-remote", service: "checkout", version: version, host: "10.0.0.7", port: 8080, pid: 0, startedAt: now, role: .candidate,
                driver: scripts, handle: "unit-7")
            let local = InstanceRecord(id: "a-local", service: "checkout", version: version, host: "127.0.0.1", port: 4000, pid: 42, startedAt: later, role: .baseline)
            let upper = InstanceRecord(id: "B-upper", service: "checkout", version: version, host: "127.0.0.1", port: 4001, pid: 43, startedAt: now)
            let elsewhere = InstanceRecord(id: "p", service: "payments", version: version, host: "127.0.0.1", port: 4002, pid: 44, startedAt: now)
            for instance in [local, remote, upper, elsewhere] { try await store.saveInstance(instance) }
            // Oldest first, ties by id as bytes (upper case before lower case).
            #expect(try await store.instances(service: "checkout") == [upper, remote, local])

            // Saved before its start, then as started: the same row.
            var planned = InstanceRecord(
                id: "planned", service: "payments", version: version, host: "127.0.0.1", port: 8081, pid: 0, startedAt: now, starting: true)
            try await store.saveInstance(planned)
            #expect(try await store.instances(service: "payments").first { $0.id == "planned" }?.starting == true)
            (planned.pid, planned.starting) = (77, false)
            try await store.saveInstance(planned)
            #expect(try await store.instances(service: "payments").filter { $0.id == "planned" } == [planned])

            try await store.removeInstance(id: "b-remote")
            try await store.removeInstance(id: "no-such-instance")
            #expect(try await store.instances(service: "checkout").map(\.id) == ["B-upper", "a-local"])
        }
    }

    // MARK: Releases

    @Test(arguments: StoreKind.allCases) func releasesAreListedNewestFirstAndAFinishedOneStaysFinished(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let manifest = ReleaseManifest(name: "spring", services: [ReleaseTarget(service: "checkout", version: try SemanticVersion(parsing: "2.0.0"))])
            let first = try await store.createRelease(at: now) { Release(id: $0, name: "spring", kind: .apply, manifest: manifest, createdAt: self.now) }
            var second = try await store.createRelease(at: now) { Release(id: $0, name: "summer", kind: .apply, manifest: manifest, createdAt: self.now) }
            #expect(second.id > first.id)
            #expect(try await store.release(id: first.id) == first)
            #expect(try await store.release(id: second.id + 1000) == nil)
            #expect(try await store.releases(limit: 10).map(\.name) == ["summer", "spring"])
            #expect(try await store.releases(limit: 1).map(\.name) == ["summer"])
            #expect(try await store.activeReleases().map(\.id) == [first.id, second.id])

            let running = second
            second.members = [ReleaseMember(service: "checkout", rolloutID: 3, version: try SemanticVersion(parsing: "2.0.0"), previousRevision: nil, previousVersion: nil)]
            try await store.saveRelease(second, at: now)
            #expect(try await store.release(id: second.id) == second)
            second.phase = .promoted
            second.finishedAt = now
            try await store.saveRelease(second, at: now)
            try await store.saveRelease(running, at: now)
            #expect(try await store.release(id: second.id) == second, "a finished release stays finished")
            #expect(try await store.activeReleases().map(\.id) == [first.id])
        }
    }

    // MARK: Drill schedules

    @Test(arguments: StoreKind.allCases) func drillSchedulesAreKeptOnePerServiceAndARowThatDoesNotReadBackIsSkipped(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            try await store.saveDrillSchedule(DrillSchedule(service: "checkout", every: .seconds(604_800), fault: nil, nextAt: now))
            try await store.saveDrillSchedule(DrillSchedule(service: "checkout", every: .seconds(3600), fault: .latency(milliseconds: 300), nextAt: now))
            try await store.saveDrillSchedule(DrillSchedule(service: "cart", every: .seconds(60), fault: .crash, nextAt: now))
            try await store.saveDrillSchedule(DrillSchedule(service: "Zebra", every: .seconds(60), fault: nil, nextAt: now))
            #expect(
                try await store.drillSchedules() == [
                    DrillSchedule(service: "Zebra", every: .seconds(60), fault: nil, nextAt: now),
                    DrillSchedule(service: "cart", every: .seconds(60), fault: .crash, nextAt: now),
                    DrillSchedule(service: "checkout", every: .seconds(3600), fault: .latency(milliseconds: 300), nextAt: now),
                ])
            try await place.edit("UPDATE drill_schedule SET fault = 'explode' WHERE service = 'cart'")
            #expect(try await store.drillSchedules().map(\.service) == ["Zebra", "checkout"])
            #expect(try await store.removeDrillSchedule(service: "checkout"))
            let removedTwice = try await store.removeDrillSchedule(service: "checkout")
            #expect(!removedTwice, "nothing left to remove")
        }
    }

    // MARK: Reopening

    @Test(arguments: StoreKind.allCases) func stateSurvivesReopening(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            try await store.record(service: "checkout", rolloutID: nil, events: [EventDraft("x", "kept", evidence: ["k": "v"])], at: now)
            let rollout = try await startRollout(store, version: "1.0.0")
            try await store.saveInstance(
                InstanceRecord(id: "i1", service: "checkout", version: try SemanticVersion(parsing: "1.0.0"), host: "127.0.0.1", port: 4000, pid: 42, startedAt: now))

            let reopened = try await place.open()
            #expect(try await reopened.events(service: "checkout", rolloutID: nil, afterID: 0, limit: 10).first?.evidence == ["k": "v"])
            #expect(try await reopened.activeRollouts() == [rollout])
            #expect(try await reopened.instances(service: "checkout").map(\.pid) == [42])
            #expect(try await reopened.revisions(service: "checkout").count == 1)
        }
    }

    /// Two controllers starting at once on a new database: one creates the schema, the other waits for
    /// it rather than failing on tables that appeared meanwhile. (SQLite's file has one controller.)
    @Test func storesOpeningANewPostgresDatabaseAtOnceShareOneSchema() async throws {
        try await StoreKind.postgres.withPlace { place in
            async let first = place.open()
            async let second = place.open()
            let stores = try await [first, second]
            try await stores[0].record(service: "checkout", rolloutID: nil, events: [EventDraft("x", "one")], at: now)
            #expect(try await stores[1].lastEventID() == 1)
        }
    }

    /// The schema is the migration engine's: each script recorded with its checksum, and a database a
    /// newer Ripcord migrated further is refused rather than written with a schema this one does not know.
    @Test func thePostgresSchemaIsMigratedByTheEngineAndANewerOneIsRefused() async throws {
        try await StoreKind.postgres.withPlace { place in
            _ = try await place.open()
            let server = try #require(place.server)
            var scripts: [String] = []
            try await StorePlace.withConnection(server: server, database: place.location) { connection in
                for try await row in try await connection.query("SELECT script FROM ripcord_schema_history WHERE success = 1 ORDER BY script", logger: StorePlace.logger) {
                    scripts.append(try row.decode(String.self))
                }
            }
            #expect(scripts == ["V1__state.sql", "V2__flags.sql", "V3__leader_lease.sql"])
            _ = try await place.open()  // a second start finds nothing to do
            try await place.edit(
                """
                INSERT INTO ripcord_schema_history (script, kind, version, description, checksum, applied_by, applied_at, duration_microseconds, success)
                VALUES ('V99__from_the_future.sql', 'V', '99', 'from the future', 'x', 'a newer ripcord', 0, 0, 1)
                """)
            do {
                _ = try await place.open()
                Issue.record("a newer schema must be refused")
            } catch {
                #expect("\(error)".contains("V99__from_the_future.sql, newer than this Ripcord knows"), "\(error)")
            }
        }
    }

    // MARK: Helpers

    /// A rollout of `version` (a new revision) started with its first event.
    func startRollout(_ store: any StateStore, version: String) async throws -> Rollout {
        let revision = try await store.appendRevision(service: "checkout", version: try SemanticVersion(parsing: version), spec: spec, note: "", at: now)
        let (spec, now) = (spec, now)
        return try await store.createRollout(at: now, events: [EventDraft("rollout.started", "go")]) { id in
            Rollout(id: id, service: spec, revision: revision.number, stableVersion: nil, candidateVersion: revision.version, at: now)
        }
    }

    /// Hands `input` to the rollout and saves the outcome with its events (the controller's part).
    @discardableResult
    func advance(_ rollout: inout Rollout, _ input: RolloutInput, at moment: Moment, in store: any StateStore) async throws -> [Event] {
        let events = recorded(rollout.handle(input, at: moment))
        return try await store.save(rollout, events: events, at: moment)
    }

    /// The events among a transition's effects.
    func recorded(_ effects: [RolloutEffect]) -> [EventDraft] {
        effects.compactMap { if case let .record(event) = $0 { event } else { nil } }
    }
}
