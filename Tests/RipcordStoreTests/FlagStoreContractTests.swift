import Foundation
import RipcordCore
import RipcordFlagService
import RipcordFlags
import RipcordTestSupport
import Testing

/// What every `FlagStore` promises (flags with their history, access tokens, SDK metrics and
/// registrations) and every `FlagRolloutStore`, checked on SQLite and on a real PostgreSQL as
/// StateStoreContractTests checks the rest of the state.
@Suite(.postgresServer, .tags(.integration)) struct FlagStoreContractTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let moment = Moment(millisecondsSinceEpoch: 1_800_000_000_000)

    // MARK: Flags and their history

    @Test(arguments: StoreKind.allCases) func applyRecordsOneChangePerTargetThatChangedAndNoneForWhatStaysTheSame(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            #expect(try await store.flagState(environment: "production") == FlagStateRecord(revision: 0, features: [], segments: []))
            let checkout = FeatureDefinition(name: "new-checkout", enabled: true)
            let banner = FeatureDefinition(name: "banner", enabled: false)
            let beta = Segment(id: 7, name: "beta", constraints: [Constraint(contextName: "userId", operator: .in, values: ["1", "2"])])
            let created = try await store.apply(
                [.putFlag(checkout), .putFlag(banner), .putSegment(beta)], environment: "production", actor: "ops", reason: "launch", at: now)
            #expect(created.map(\.target) == [.flag("new-checkout"), .flag("banner"), .segment(7)])
            #expect(created.allSatisfy { $0.before == nil && $0.actor == "ops" && $0.reason == "launch" && $0.at == now && $0.environment == "production" })
            #expect(created.map(\.id) == created.map(\.id).sorted() && Set(created.map(\.id)).count == 3)
            let launched = FlagStateRecord(revision: created[2].id, features: [checkout, banner], segments: [beta])
            #expect(try await store.flagState(environment: "production") == launched, "the revision is the latest change's id")

            // The same definitions again, and deletions of what is not there: nothing changes, nothing is recorded.
            let unchanged = try await store.apply(
                [.putFlag(checkout), .putSegment(beta), .deleteFlag("ghost"), .deleteSegment(99)], environment: "production", actor: "ops", reason: nil,
                at: now)
            #expect(unchanged.isEmpty)
            #expect(try await store.flagState(environment: "production") == launched)

            // An updated flag keeps its place in the document, a new one goes last.
            var switchedOn = banner
            switchedOn.enabled = true
            let zebra = FeatureDefinition(name: "Zebra", enabled: true)
            let changed = try await store.apply(
                [.putFlag(zebra), .putFlag(switchedOn), .deleteFlag("new-checkout"), .deleteSegment(7)], environment: "production", actor: "ci",
                reason: nil, at: now)
            #expect(changed.map(\.target) == [.flag("Zebra"), .flag("banner"), .flag("new-checkout"), .segment(7)])
            #expect(changed[1].before == created[1].after && changed[1].after != created[1].after)
            #expect(changed[2].before == created[0].after && changed[2].after == nil && changed[3].after == nil)
            #expect(try await store.flagState(environment: "production") == FlagStateRecord(revision: changed[3].id, features: [switchedOn, zebra], segments: []))

            #expect(try await store.flagChanges(environment: "production", target: nil) == created + changed)
            #expect(try await store.flagChanges(environment: "production", target: .flag("banner")) == [created[1], changed[1]])
            #expect(try await store.flagChanges(environment: "production", target: .segment(7)) == [created[2], changed[3]])
            #expect(try await store.flagChanges(environment: "staging", target: nil).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases) func environmentsKeepTheirOwnFlagsAndRevisions(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let flag = FeatureDefinition(name: "f", enabled: true)
            let production = try await store.apply([.putFlag(flag)], environment: "production", actor: "ops", reason: nil, at: now)
            let staging = try await store.apply([.putFlag(flag)], environment: "Staging", actor: "ops", reason: nil, at: now)
            #expect(staging.count == 1, "the same flag is new in another environment")
            _ = try await store.apply([.putFlag(flag)], environment: "default", actor: "ops", reason: nil, at: now)
            #expect(try await store.flagState(environment: "production").revision == production[0].id)
            #expect(try await store.flagState(environment: "Staging").revision == staging[0].id)
            // Ordered by bytes: upper case first.
            #expect(try await store.environments() == ["Staging", "default", "production"])
        }
    }

    @Test(arguments: StoreKind.allCases) func aFailedApplyLeavesNothingBehind(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let first = try await store.apply([.putFlag(FeatureDefinition(name: "kept", enabled: true))], environment: "production", actor: "ops", reason: nil, at: now)
            // The third mutation fails (its table is away) after the first two were carried out.
            try await place.edit("ALTER TABLE flag_segment RENAME TO flag_segment_away")
            await #expect(throws: (any Error).self) {
                try await store.apply(
                    [.putFlag(FeatureDefinition(name: "lost", enabled: true)), .deleteFlag("kept"), .putSegment(Segment(id: 1, constraints: []))],
                    environment: "production", actor: "ops", reason: nil, at: now)
            }
            try await place.edit("ALTER TABLE flag_segment_away RENAME TO flag_segment")
            #expect(
                try await store.flagState(environment: "production")
                    == FlagStateRecord(revision: first[0].id, features: [FeatureDefinition(name: "kept", enabled: true)], segments: []))
            #expect(try await store.flagChanges(environment: "production", target: nil) == first)
        }
    }

    // MARK: Access tokens

    func token(_ name: String, _ tokenKind: TokenKind, expiresAt: Date? = nil) -> AccessTokenRecord {
        AccessTokenRecord(
            name: name, hash: "hash-\(name)", kind: tokenKind, environment: tokenKind == .admin ? nil : "default", createdAt: now,
            expiresAt: expiresAt)
    }

    @Test(arguments: StoreKind.allCases) func tokenNamesAreUniqueEvenAfterRevocation(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            try await store.addAccessToken(token("admin", .admin))
            try await store.addAccessToken(token("ci", .client))
            var duplicate = token("ci", .frontend)
            duplicate.hash = "another"
            #expect(await refusal { try await store.addAccessToken(duplicate) }?.code == "token_name_taken")
            let revoked = try await store.revokeAccessToken(name: "ci", at: now, by: "ops")
            #expect(await refusal { try await store.addAccessToken(duplicate) }?.code == "token_name_taken", "a revoked token keeps its name")
            #expect(try await store.accessTokens() == revoked, "the refused tokens stored nothing")
            #expect(revoked.records.map(\.name) == ["admin", "ci"])
        }
    }

    @Test(arguments: StoreKind.allCases) func theLastActiveAdminTokenCannotBeRevoked(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            try await store.addAccessToken(token("admin", .admin))
            let before = try await store.addAccessToken(token("expired-admin", .admin, expiresAt: now.addingTimeInterval(-1)))
            let refused = await refusal { _ = try await store.revokeAccessToken(name: "admin", at: now, by: "ops") }
            #expect(refused?.code == "last_admin_token")
            #expect(refused?.message.contains("lock everyone out") == true, "\(refused?.message ?? "")")
            #expect(try await store.accessTokens() == before, "a refused revocation changes nothing")
            try await store.addAccessToken(token("ops", .admin))
            let tokens = try await store.revokeAccessToken(name: "admin", at: now, by: "ops")
            #expect(tokens.named("admin")?.state(at: now) == .revoked && tokens.named("admin")?.revokedBy == "ops")
            #expect(await refusal { _ = try await store.revokeAccessToken(name: "ops", at: now, by: "ops") }?.code == "last_admin_token")
            #expect(await refusal { _ = try await store.revokeAccessToken(name: "admin", at: now, by: "ops") }?.code == "token_revoked")
            #expect(await refusal { _ = try await store.revokeAccessToken(name: "nobody", at: now, by: "ops") }?.code == "unknown_token")
        }
    }

    /// Two controllers (or two requests) revoking the last two admin tokens at once: one must be refused.
    @Test(arguments: StoreKind.allCases) func revokingTheLastTwoAdminTokensAtOnceLeavesOne(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let stores = [try await place.open(), try await place.open()]
            try await stores[0].addAccessToken(token("first", .admin))
            try await stores[0].addAccessToken(token("second", .admin))
            let now = now
            async let revokingFirst = refusal { _ = try await stores[0].revokeAccessToken(name: "first", at: now, by: "ops") }
            async let revokingSecond = refusal { _ = try await stores[1].revokeAccessToken(name: "second", at: now, by: "ops") }
            let refusals = await [revokingFirst, revokingSecond].compactMap { $0?.code }
            #expect(refusals == ["last_admin_token"])
            #expect(try await stores[1].accessTokens().records.filter { $0.state(at: now) == .active }.count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases) func rotationReplacesTheSecretAndEveryChangeRaisesTheGeneration(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            var sdk = token("sdk", .client, expiresAt: now.addingTimeInterval(60))
            sdk.createdBy = "admin"
            let created = try await store.addAccessToken(sdk)
            #expect(created.records == [sdk] && created.generation > 0)
            let rotated = try await store.rotateAccessToken(name: "sdk", hash: "new-hash", expiresAt: nil, at: now, by: "ops")
            (sdk.hash, sdk.rotatedAt, sdk.rotatedBy) = ("new-hash", now, "ops")
            #expect(rotated.records == [sdk], "rotation keeps the expiry unless given one")
            let extended = try await store.rotateAccessToken(name: "sdk", hash: "newer-hash", expiresAt: .some(nil), at: now, by: "ops")
            #expect(extended.named("sdk")?.expiresAt == nil && extended.named("sdk")?.hash == "newer-hash")
            #expect(created.generation < rotated.generation && rotated.generation < extended.generation)
            var admin = token("admin", .admin)
            admin.bootstrap = true
            try await store.addAccessToken(admin)
            let revoked = try await store.revokeAccessToken(name: "sdk", at: now, by: "ops")
            #expect(revoked.generation > extended.generation + 1)
            #expect(revoked.named("admin") == admin)
            #expect(await refusal { _ = try await store.rotateAccessToken(name: "sdk", hash: "x", expiresAt: nil, at: now, by: "ops") }?.code == "token_revoked")
            #expect(try await place.open().accessTokens() == revoked, "tokens survive reopening")
        }
    }

    // MARK: SDK metrics and registrations

    func count(_ flag: String, app: String = "shop", yes: Int = 0, no: Int = 0, variants: [String: Int] = [:]) -> ExposureCount {
        ExposureCount(appName: app, flag: flag, yes: yes, no: no, variants: variants)
    }

    @Test(arguments: StoreKind.allCases) func exposureTotalsAddUpSaturateAndAFlagIsSeenOnlyWhenEvaluated(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let big = count("f1", yes: ExposureCount.maxReportedCount, no: 1, variants: ["v": ExposureCount.maxReportedCount])
            try await store.recordExposures([big, big], environment: "production", at: now)
            // An empty bucket later, an evaluation reported late: neither moves the last sighting.
            try await store.recordExposures([count("f1", variants: ["w": 0])], environment: "production", at: now.addingTimeInterval(60))
            try await store.recordExposures([count("f1", no: 1)], environment: "production", at: now.addingTimeInterval(-60))
            try await store.recordExposures([count("f2"), count("f1", app: "Admin", yes: 1)], environment: "production", at: now)
            #expect(
                try await store.exposures(environment: "production") == [
                    ExposureCount(appName: "Admin", flag: "f1", yes: 1, no: 0, variants: [:], lastSeen: now),
                    ExposureCount(
                        appName: "shop", flag: "f1", yes: 2 * ExposureCount.maxReportedCount, no: 3,
                        variants: ["v": 2 * ExposureCount.maxReportedCount, "w": 0], lastSeen: now),
                    ExposureCount(appName: "shop", flag: "f2", yes: 0, no: 0, variants: [:], lastSeen: nil),
                ])
            #expect(try await store.exposures(environment: "staging").isEmpty)

            try await place.edit("UPDATE flag_exposure SET yes = 9223372036854775000 WHERE app_name = 'shop' AND flag = 'f1'")
            try await store.recordExposures([count("f1", yes: 10_000)], environment: "production", at: now)
            #expect(try await store.exposures(environment: "production").first { $0.appName == "shop" && $0.flag == "f1" }?.yes == Int.max)
        }
    }

    @Test(arguments: StoreKind.allCases) func reportsFromTwoControllersAtOnceAllCount(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let stores = [try await place.open(), try await place.open()]
            let (report, now) = (count("f1", yes: 1, variants: ["v": 1]), now)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask { try await stores[index % 2].recordExposures([report], environment: "production", at: now) }
                }
                try await group.waitForAll()
            }
            #expect(try await stores[0].exposures(environment: "production") == [ExposureCount(appName: "shop", flag: "f1", yes: 20, no: 0, variants: ["v": 20], lastSeen: now)])
        }
    }

    @Test(arguments: StoreKind.allCases) func aClientRegisteringAgainReplacesItsRegistration(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let admin = ClientRegistration(appName: "Admin", instanceId: "z", sdkVersion: nil, lastSeen: now)
            let first = ClientRegistration(appName: "shop", instanceId: "a", sdkVersion: "unleash-client-node:5.0.0", lastSeen: now)
            var second = ClientRegistration(appName: "shop", instanceId: "b", sdkVersion: "unleash-client-go:4.1.0", lastSeen: now)
            for client in [second, first, admin] { try await store.register(client, environment: "production") }
            second.sdkVersion = "unleash-client-go:4.2.0"
            second.lastSeen = now.addingTimeInterval(30)
            try await store.register(second, environment: "production")
            #expect(try await store.clients(environment: "production") == [admin, first, second])
            #expect(try await store.clients(environment: "staging").isEmpty)
        }
    }

    // MARK: Guarded flag rollouts

    @Test(arguments: StoreKind.allCases) func aGuardedFlagRolloutStaysUnsettledUntilItsLastEffectsAreConfirmed(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let plan = FlagRolloutPlan(
                flag: "new-checkout", environment: "production",
                steps: [FlagRolloutStep(percentage: 10, duration: .seconds(1)), FlagRolloutStep(percentage: 100, duration: .seconds(1))],
                service: "checkout")
            let moment = moment
            var rollout = try await place.open().createFlagRollout(at: moment) { FlagRollout(id: $0, plan: plan, at: moment) }
            let effects = rollout.start()
            try await place.open().save(rollout, events: effects.compactMap(\.event), at: moment)
            _ = rollout.handle(.abort(reason: "stop"), at: moment)
            try await place.open().save(rollout, events: [], at: moment)
            // Reopened (a restart): finished, but the kill switch was not confirmed, so it is still unsettled.
            let reopened = try await place.open()
            #expect(try await reopened.unsettledFlagRollouts() == [rollout])
            let unconfirmed = rollout
            rollout.effectsApplied()
            try await reopened.save(rollout, events: [EventDraft("x", "after")], at: moment)
            #expect(try await reopened.unsettledFlagRollouts().isEmpty)
            // A late writer saving the rollout as it last knew it does not bring it back.
            try await reopened.save(unconfirmed, events: [], at: moment)
            #expect(try await reopened.flagRollout(id: rollout.id) == rollout)
            #expect(try await reopened.flagRollouts(flag: "new-checkout", environment: "production").map(\.phase) == [.disabled])
            #expect(try await reopened.flagRollouts(flag: "new-checkout", environment: "default").isEmpty)
            try await reopened.recordFlagRolloutEvents([EventDraft("y", "later", actor: "ops")], rolloutID: rollout.id, at: moment)
            let events = try await reopened.flagRolloutEvents(rolloutID: rollout.id)
            #expect(events.map(\.kind) == ["flagRollout.started", "flagRollout.step", "x", "y"] && events.allSatisfy { $0.service == "new-checkout" })
            #expect(events.map(\.id) == events.map(\.id).sorted() && events.last?.actor == "ops" && events.allSatisfy { $0.rolloutID == rollout.id })
            #expect(try await reopened.events(service: nil, rolloutID: nil, afterID: 0, limit: 10).isEmpty, "flag rollout events are a log of their own")
        }
    }

    @Test(arguments: StoreKind.allCases) func flagRolloutsAreListedNewestFirstPerFlagAndEnvironment(_ kind: StoreKind) async throws {
        try await kind.withPlace { place in
            let store = try await place.open()
            let moment = moment
            func start(_ flag: String, in environment: String) async throws -> FlagRollout {
                let plan = FlagRolloutPlan(flag: flag, environment: environment, steps: [FlagRolloutStep(percentage: 100, duration: .seconds(1))], service: "checkout")
                return try await store.createFlagRollout(at: moment) { FlagRollout(id: $0, plan: plan, at: moment) }
            }
            let first = try await start("banner", in: "production")
            let elsewhere = try await start("banner", in: "staging")
            let second = try await start("banner", in: "production")
            #expect(try await store.flagRollouts(flag: "banner", environment: "production") == [second, first])
            #expect(try await store.unsettledFlagRollouts() == [first, elsewhere, second])
            #expect(try await store.flagRollout(id: second.id + 1000) == nil)
            // Events of a rollout the store does not know are kept, naming no flag.
            let orphans = try await store.recordFlagRolloutEvents([EventDraft("z", "orphan")], rolloutID: second.id + 1000, at: moment)
            #expect(orphans.map(\.service) == [""])
            #expect(try await store.flagRolloutEvents(rolloutID: second.id + 1000) == orphans)
        }
    }
}
