import Foundation
import RipcordConfig
import RipcordController
import RipcordCore
import RipcordFlagService
import RipcordFlags
import RipcordServer
import RipcordStore
import RipcordTestSupport
import Testing

/// A service's `flags:` are turned off when its rollout is rolled back, through the flag service (so
/// history and streaming clients see it), with an event per flag on the rollout.
@Suite(.serialized, .tags(.integration)) struct DeclaredFlagTests {
    static let canary = "canary:\n  steps:\n    - setWeight: 50\n    - analysis: { passes: 3 }"

    @Test func aRolledBackCanaryTurnsItsDeclaredFlagsOff() async throws {
        try await withHarness(
            "flag-rollback", strategy: Self.canary, faults: "1.2.0=errorRate:0.6",
            serviceExtra: "flags: [new-checkout-flow, missing-flag]"
        ) { harness in
            let flags = harness.server.flags
            try await flags.create(FeatureDefinition(name: "new-checkout-flow", enabled: true), environment: "default", actor: "alice")
            try await harness.finish(try await harness.deploy("1.1.0"))
            let stream = flags.subscribe(environment: "default", heartbeat: .milliseconds(100))
            var rollout = try await harness.deploy("1.2.0")
            #expect(try await harness.rollout(rollout.id).declaredFlags == [DeclaredFlag(name: "new-checkout-flow"), DeclaredFlag(name: "missing-flag")])
            _ = try await underLoad(harness) { rollout = try await harness.finish(rollout) }
            #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .analysis)

            try await eventually("both flag events recorded") {
                Set(try await harness.events(rollout).map(\.kind)).isSuperset(of: ["flag.disabled", "flag.disableFailed"])
            }
            #expect(try await flags.snapshot(environment: "default").evaluator.definition(of: "new-checkout-flow")?.enabled == false)
            let last = try #require(try await flags.history(flag: "new-checkout-flow", environment: "default").last)
            #expect(last.actor == "ripcord")
            #expect(last.reason?.contains("rollout \(rollout.id) of checkout 1.2.0 rolled back (analysis:") == true, "\(last.reason ?? "")")
            let events = try await harness.events(rollout)
            let disabled = try #require(events.first { $0.kind == "flag.disabled" })
            #expect(disabled.evidence["flag"] == "new-checkout-flow" && disabled.evidence["trigger"] == "analysis" && disabled.evidence["changed"] == "true")
            let failed = try #require(events.first { $0.kind == "flag.disableFailed" })
            #expect(failed.evidence["flag"] == "missing-flag" && failed.message.contains("no flag 'missing-flag'"))
            // After traffic went back to stable, in the same trail.
            let rolledBackID = try #require(events.first { $0.kind == "rollout.rolledBack" }?.id)
            #expect(disabled.id > rolledBackID)

            // A streaming SDK hears of it without polling.
            var pushed: FeatureDefinition?
            let deadline = ContinuousClock.now + .seconds(5)
            for await message in stream {
                guard ContinuousClock.now < deadline else { break }
                guard case let .update(update) = message else { continue }
                for case let .featureUpdated(_, feature) in update.events where feature.name == "new-checkout-flow" { pushed = feature }
                if pushed != nil { break }
            }
            #expect(pushed?.enabled == false)
        }
    }

    @Test func aPromotedCanaryLeavesItsDeclaredFlagOn() async throws {
        try await withHarness("flag-promote", strategy: Self.canary, serviceExtra: "flags: [new-checkout-flow]") { harness in
            let flags = harness.server.flags
            try await flags.create(FeatureDefinition(name: "new-checkout-flow", enabled: true), environment: "default", actor: "alice")
            try await harness.finish(try await harness.deploy("1.1.0"))
            var rollout = try await harness.deploy("1.2.0")
            _ = try await underLoad(harness) { rollout = try await harness.finish(rollout) }
            #expect(rollout.phase == .promoted)
            #expect(try await flags.snapshot(environment: "default").evaluator.definition(of: "new-checkout-flow")?.enabled == true)
            #expect(try await flags.history(flag: "new-checkout-flow", environment: "default").map(\.actor) == ["alice"])
            #expect(!(try await harness.events(rollout)).contains { $0.kind.rawValue.hasPrefix("flag.") })
        }
    }

    @Test func aRollbackRecordedJustBeforeACrashTurnsItsFlagsOffOnTheRestartOnce() async throws {
        let directory = try temporaryDirectory("flag-crash")
        let path = "\(directory)/ripcord.yaml"
        try checkoutConfig(directory: directory, strategy: "canary:\n  steps: []", serviceExtra: "flags: [new-checkout-flow]")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(file: path)
        let spec = try #require(config.service(named: "checkout"))
        // What a controller that died right after recording a rollback leaves: no flag turned off yet.
        try FileManager.default.createDirectory(atPath: config.stateDirectory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: "\(config.stateDirectory)/ripcord.sqlite")
        let flags = FlagService(store: store)
        try await flags.create(FeatureDefinition(name: "new-checkout-flow", enabled: true), environment: "default", actor: "alice")
        let version = try RipcordCore.SemanticVersion(parsing: "1.2.0")
        let now = WallClock().now
        let revision = try await store.appendRevision(service: "checkout", version: version, spec: spec, note: "deploy", at: now)
        var rollout = try await store.createRollout(at: now, events: []) {
            Rollout(id: $0, service: spec, revision: revision.number, stableVersion: nil, candidateVersion: version, at: now)
        }
        _ = rollout.handle(.abort(reason: "pager went off"), at: now)
        _ = try await store.save(rollout, events: [], at: now)

        func restart() async throws -> RipcordServer {
            let server = try await RipcordServer(config: config)
            try await server.start()
            return server
        }
        var server = try await restart()
        #expect(try await server.flags.snapshot(environment: "default").evaluator.definition(of: "new-checkout-flow")?.enabled == false)
        let change = try #require(try await server.flags.history(flag: "new-checkout-flow", environment: "default").last)
        #expect(change.actor == "ripcord" && change.reason?.contains("rollout \(rollout.id) of checkout 1.2.0 rolled back (abort: pager went off)") == true)
        let kinds = try await server.store.events(service: "checkout", rolloutID: rollout.id, afterID: 0, limit: 100).map(\.kind)
        #expect(kinds == ["flag.disabled"])
        await server.shutdown(keepInstances: false)

        // Switched back on by a human: the next restart leaves it on.
        _ = try await flags.setEnabled(true, flag: "new-checkout-flow", environment: "default", actor: "alice")
        server = try await restart()
        #expect(try await server.flags.snapshot(environment: "default").evaluator.definition(of: "new-checkout-flow")?.enabled == true)
        #expect(try await server.store.events(service: "checkout", rolloutID: rollout.id, afterID: 0, limit: 100).count == 1)
        await server.shutdown(keepInstances: false)
    }
}
