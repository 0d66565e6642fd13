import Foundation
import RipcordCore
import RipcordFlagService
import RipcordFlags
import RipcordPostgresStore
import RipcordTestSupport
import Testing

/// The leader's lease and the fence on writes, on a real PostgreSQL: two stores on one database stand for
/// two controllers on two hosts.
@Suite(.postgresServer, .tags(.integration)) struct LeaseAndFencingTests {
    let spec = ServiceSpec(name: "checkout", listen: HostPort(host: "127.0.0.1", port: 8080), run: RunSpec(command: "app {port}"))
    let now = Moment(millisecondsSinceEpoch: 1_800_000_000_000)

    @Test func theFirstClaimLeadsOthersSeeItAndRenewalsKeepTheTerm() async throws {
        try await StoreKind.postgres.withPlace { place in
            let (a, b) = (try await place.openPostgres(), try await place.openPostgres())
            #expect(try await a.currentLease() == nil)
            let first = try await a.claimLease(holder: "a", url: "http://a:7070", duration: .seconds(5)).lease
            #expect(first.holder == "a" && first.term == 1 && first.url == "http://a:7070")
            #expect(first.expiresAt - first.since == .seconds(5))
            let seen = try await b.claimLease(holder: "b", url: "http://b:7070", duration: .seconds(5)).lease
            #expect(seen == first, "b's claim leaves a's live lease alone")
            let renewed = try await a.claimLease(holder: "a", url: "http://a:7070", duration: .seconds(5)).lease
            #expect(renewed.term == 1 && renewed.since == first.since && renewed.expiresAt >= first.expiresAt)
            #expect(try await b.currentLease()?.holder == "a")
        }
    }

    @Test func anExpiredOrReleasedLeasePassesOnInANewTerm() async throws {
        try await StoreKind.postgres.withPlace { place in
            let (a, b) = (try await place.openPostgres(), try await place.openPostgres())
            _ = try await a.claimLease(holder: "a", url: "http://a:7070", duration: .milliseconds(200))
            try await waitUntil("a's lease ends", within: 5) { try await b.currentLease() == nil }
            let taken = try await b.claimLease(holder: "b", url: "http://b:7070", duration: .seconds(5)).lease
            #expect(taken.holder == "b" && taken.term == 2)
            // A controller stopping in order hands over at once.
            try await b.releaseLease(holder: "b", term: 2)
            #expect(try await a.currentLease() == nil)
            #expect(try await a.claimLease(holder: "a", url: "http://a:7070", duration: .seconds(5)).lease.term == 3)
            // Releasing a term that is over changes nothing.
            try await b.releaseLease(holder: "b", term: 2)
            #expect(try await a.currentLease()?.holder == "a")
        }
    }

    @Test func aWriteOfAStaleTermIsRefusedAndLeavesNothingBehind() async throws {
        try await StoreKind.postgres.withPlace { place in
            let (old, new) = (try await place.openPostgres(), try await place.openPostgres())
            // Long enough for its first writes on a loaded machine; then it runs out.
            let oldTerm = try await old.claimLease(holder: "a", url: "http://a:7070", duration: .seconds(2)).lease.term
            old.fence = .leader(holder: "a", term: oldTerm)
            let revision = try await old.appendRevision(service: "checkout", version: try SemanticVersion(parsing: "2.0.0"), spec: spec, note: "", at: now)
            let (spec, now) = (spec, now)
            let rollout = try await old.createRollout(at: now, events: [EventDraft("rollout.started", "go")]) { id in
                Rollout(id: id, service: spec, revision: revision.number, stableVersion: nil, candidateVersion: revision.version, at: now)
            }
            // The old leader is paused past its lease; the new one is elected.
            try await waitUntil("the lease ends", within: 10) { try await new.currentLease() == nil }
            let newTerm = try await new.claimLease(holder: "b", url: "http://b:7070", duration: .seconds(5)).lease.term
            #expect(newTerm == oldTerm + 1)
            new.fence = .leader(holder: "b", term: newTerm)
            let before = try await new.lastEventID()

            // Back from its pause, the old leader records its decision: refused, whatever the write.
            var promoted = rollout
            let events = promoted.handle(.candidateReady, at: now).compactMap { if case let .record(event) = $0 { event } else { nil } }
            await #expect(throws: StaleLeaderWrite.self) { try await old.save(promoted, events: events, at: now) }
            await #expect(throws: StaleLeaderWrite.self) {
                try await old.record(service: "checkout", rolloutID: rollout.id, events: [EventDraft("x", "late")], at: now)
            }
            await #expect(throws: StaleLeaderWrite.self) {
                try await old.saveInstance(
                    InstanceRecord(id: "i9", service: "checkout", version: revision.version, host: "127.0.0.1", port: 4000, pid: 1, startedAt: now))
            }
            #expect(try await new.rollout(id: rollout.id) == rollout)
            #expect(try await new.stableRevision(service: "checkout") == nil)
            #expect(try await new.lastEventID() == before)
            #expect(try await new.instances(service: "checkout").isEmpty)

            // The new leader's writes go through.
            try await new.save(promoted, events: events, at: now)
            #expect(try await new.stableRevision(service: "checkout")?.number == revision.number)
        }
    }

    @Test func aControllerStandingByWritesNothingThatActsOnARollout() async throws {
        try await StoreKind.postgres.withPlace { place in
            let store = try await place.openPostgres()
            store.fence = .standingBy
            await #expect(throws: StaleLeaderWrite.self) {
                try await store.appendRevision(service: "checkout", version: try SemanticVersion(parsing: "1.0.0"), spec: spec, note: "", at: now)
            }
            #expect(try await store.revisions(service: "checkout").isEmpty)
            // Reads, and what is not a decision (flags, tokens, SDK counts), still work.
            #expect(try await store.flagState(environment: "production").revision == 0)
        }
    }

    @Test func eventsTheLeaderStoresReachAFollowersFeedOnceAndInOrder() async throws {
        try await StoreKind.postgres.withPlace { place in
            let (leader, follower) = (try await place.openPostgres(), try await place.openPostgres())
            try await leader.record(service: "checkout", rolloutID: nil, events: [EventDraft("x", "before following")], at: now)
            try await follower.followOtherWriters()
            let feed = await follower.eventFeed.subscribe(.everything)
            for batch in 0..<3 {
                try await leader.record(
                    service: "checkout", rolloutID: nil, events: [EventDraft("x", "\(batch)a"), EventDraft("x", "\(batch)b")], at: now)
            }
            let collected = Collected()
            let listening = Task { for await events in feed { await collected.add(events) } }
            defer { listening.cancel() }
            try await waitUntil("the follower heard the leader's six events", within: 10) { await collected.events.count >= 6 }
            let heard = await collected.events
            #expect(heard.map(\.message) == ["0a", "0b", "1a", "1b", "2a", "2b"])
            #expect(heard.map(\.id) == heard.map(\.id).sorted() && Set(heard.map(\.id)).count == 6)
        }
    }

    @Test func aFollowerHearsOfEachTokenAndFlagChangeAtItsCommit() async throws {
        try await StoreKind.postgres.withPlace { place in
            let (leader, follower) = (try await place.openPostgres(), try await place.openPostgres())
            try await follower.followOtherWriters()
            let ticks = TickCount()
            let counting = Task { for await _ in follower.tokensOrFlagsChanged { await ticks.add() } }
            defer { counting.cancel() }
            // The first tick says the listener is connected (what changed before it is read then).
            try await waitUntil("the follower's listener is connected", within: 10) { await ticks.count == 1 }

            let flag = FeatureDefinition(name: "checkout-v2", enabled: true)
            _ = try await leader.apply([.putFlag(flag)], environment: "production", actor: "ops", reason: nil, at: Date())
            try await waitUntil("the follower heard of the flag change", within: 10) { await ticks.count == 2 }
            let token = AccessTokenRecord(name: "ci", hash: "hash-ci", kind: .client, environment: "production", createdAt: Date())
            try await leader.addAccessToken(token)
            try await waitUntil("the follower heard of the new token", within: 10) { await ticks.count == 3 }
            // A tick is a reason to re-read: what the follower reads then is the leader's.
            #expect(try await follower.flagState(environment: "production").features.map(\.name) == ["checkout-v2"])
            #expect(try await follower.accessTokens().records.map(\.name).contains("ci"))
        }
    }
}

private actor TickCount {
    var count = 0
    func add() { count += 1 }
}

private actor Collected {
    var events: [Event] = []
    func add(_ batch: [Event]) { events += batch }
}
