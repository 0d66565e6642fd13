import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RipcordConfig
import RipcordController
import RipcordCore
import RipcordInsights
import RipcordDrivers
import RipcordFlags
import RipcordFlagService
import RipcordLoadGenerator
import RipcordRouter
import RipcordServer
import RipcordStore
import RipcordTestSupport
import RipcordWire
import Testing

/// Releases through real `ripcord` sample services and the real router: lockstep steps, all roll back
/// when one fails, dependency constraints, undo as one unit, the release pin header.
@Suite(.tags(.integration)) struct ReleaseIntegrationTests {
    static let names = ["checkout", "payments", "inventory"]

    /// Ripcord with three sample services (one instance each; `faults` as the sample service reads them).
    /// With `chained`, checkout calls payments (on a fixed front door) on every request, as a real checkout would.
    static func start(
        _ label: String, faults: [String: String] = [:], guardWindow: String = "0s",
        chained: Bool = false
    ) async throws -> (RipcordServer, String) {
        let directory = try temporaryDirectory(label)
        let paymentsPort = chained ? try FreePort.allocate() : 0
        let services = names.map { name -> String in
            let downstream = chained && name == "checkout" ? " --downstream http://127.0.0.1:\(paymentsPort)/" : ""
            return """
                  \(name):
                    listen: 127.0.0.1:\(name == "payments" ? paymentsPort : 0)
                    run:
                      command: "'\(ripcordBinary)' sample-service --name \(name) --port {port} --version {version}\(downstream)"
                      environment: { RIPCORD_SAMPLE_FAULTS: "\(faults[name] ?? "")" }
                    healthCheck: { interval: 200ms, timeout: 500ms, unhealthyThreshold: 2 }
                    startupDeadline: 10s
                    progressDeadline: 30s
                    analysis: { interval: 500ms, minRequests: 5, maxErrorRate: 10% }
                    guardWindow: \(guardWindow)
                """
        }.joined(separator: "\n")
        let config: String = "api: { listen: 127.0.0.1:\(try FreePort.allocate()) }\nstateDirectory: state\nservices:\n" + services + "\n"
        try config.write(toFile: "\(directory)/ripcord.yaml", atomically: true, encoding: .utf8)
        return (try await serve(directory), directory)
    }

    /// Ripcord on the folder's config and state (again, after a restart).
    static func serve(_ directory: String) async throws -> RipcordServer {
        var settings = Controller.Settings()
        settings.drainDelay = .milliseconds(200)
        settings.tickInterval = .milliseconds(50)
        let server = try await RipcordServer(config: try ConfigLoader.load(file: "\(directory)/ripcord.yaml"), settings: settings)
        try await server.start()
        return server
    }

    static func with(
        _ label: String, faults: [String: String] = [:], guardWindow: String = "0s", chained: Bool = false,
        _ body: (RipcordServer) async throws -> Void
    ) async throws {
        let (server, _) = try await start(label, faults: faults, guardWindow: guardWindow, chained: chained)
        do { try await body(server) } catch {
            await server.shutdown(keepInstances: false)
            throw error
        }
        await server.shutdown(keepInstances: false)
    }

    static func manifest(_ versions: [String: String], steps: String? = nil, requires: [String: [String: String]] = [:]) throws -> ReleaseManifest {
        var text = "services:\n"
        for name in names where versions[name] != nil {
            text += "  \(name):\n    version: \(versions[name]!)\n"
            if let ranges = requires[name] {
                text += "    requires:\n" + ranges.map { "      \($0.key): \"\($0.value)\"\n" }.joined()
            }
            if let steps { text += "    strategy: { canary: { steps: \(steps) } }\n" }
        }
        return try ReleaseManifestLoader.parse(text, file: "release.yaml")
    }

    static func finish(_ server: RipcordServer, _ release: Release, within seconds: Double = 40) async throws -> Release {
        try await eventually("release \(release.id) to finish", within: seconds) {
            try await server.store.release(id: release.id)?.phase.isTerminal == true
        }
        return try #require(try await server.store.release(id: release.id))
    }

    static func firstVersions(_ server: RipcordServer) async throws {
        let first = try await server.controller.applyRelease(manifest(Dictionary(uniqueKeysWithValues: names.map { ($0, "1.0.0") })))
        #expect(try await finish(server, first).phase == .promoted)
    }

    /// Waits until every member has passed its barrier into the indefinite pause step.
    static func atIndefinitePause(_ server: RipcordServer, _ release: Release) async throws {
        try await eventually("every member at its indefinite pause") {
            var paused = true
            for member in release.members {
                let rollout = try await server.controller.rollout(id: member.rolloutID)
                if rollout.phase != .paused || rollout.heldAt != nil || rollout.waitUntil != nil { paused = false }
            }
            return paused
        }
    }

    /// Waits for the services' stable sets: a release is recorded promoted or rolled back before its
    /// members' last effects (the candidate becoming the stable set, the old one stopping) are done.
    static func expectStable(_ server: RipcordServer, _ expected: [String: String]) async throws {
        try await eventually("stable versions \(expected)") {
            var versions: [String: String] = [:]
            for name in names { versions[name] = try await server.controller.status(service: name).stableVersion }
            return versions == expected
        }
    }

    /// Runs `body` while every service's front door gets steady traffic: each step of a service with
    /// analysis needs evidence before the release moves on.
    static func underLoad(_ server: RipcordServer, _ body: () async throws -> Void) async throws {
        var loads: [LoadGenerator] = []
        for name in names {
            loads.append(LoadGenerator(url: "http://\(await server.controller.frontDoors[name]!)/", requestsPerSecond: 60, concurrency: 2))
        }
        let running = loads.map { load in Task { await load.run() } }
        func stopLoad() async {
            running.forEach { $0.cancel() }
            for load in loads { await load.shutdown() }
        }
        do { try await body() } catch {
            await stopLoad()
            throw error
        }
        await stopLoad()
    }

    static func events(_ server: RipcordServer, _ release: Release) async throws -> [Event] {
        var all: [Event] = []
        for member in release.members { all += try await server.store.events(service: nil, rolloutID: member.rolloutID, afterID: 0, limit: 10_000) }
        return all.sorted { $0.id < $1.id }
    }

    @Test func stepsAdvanceInLockstepAndPromotionSwitchesAllTogether() async throws {
        try await Self.with("release-lockstep") { server in
            try await Self.firstVersions(server)
            // payments pauses longer at step 2: nobody may start step 3 (50 %) before its pause is over.
            var manifest = try Self.manifest(
                ["checkout": "2.0.0", "payments": "2.0.0", "inventory": "2.0.0"],
                steps: "[ { setWeight: 10 }, { pause: { duration: 200ms } }, { setWeight: 50 }, { pause: { duration: 200ms } } ]")
            manifest.services[1].strategy = .canary(CanarySpec(steps: [.setWeight(10), .pause(.milliseconds(1500)), .setWeight(50), .pause(.milliseconds(200))]))
            var started: Release?
            var finished: Release?
            try await Self.underLoad(server) {
                let release = try await server.controller.applyRelease(manifest)
                started = release
                finished = try await Self.finish(server, release)
            }
            let release = try #require(started)
            let done = try #require(finished)
            #expect(release.members.map(\.service) == Self.names)
            #expect(done.phase == .promoted)
            try await Self.expectStable(server, ["checkout": "2.0.0", "payments": "2.0.0", "inventory": "2.0.0"])

            let events = try await Self.events(server, release)
            let paymentsRollout = release.member("payments")!.rolloutID
            let paymentsPauseOver = try #require(
                events.first {
                    $0.rolloutID == paymentsRollout && $0.kind == "release.waiting" && $0.evidence["barrier"] == ReleaseBarrier.step(2).description
                })
            for member in release.members {
                let fifty = try #require(events.first { $0.rolloutID == member.rolloutID && $0.kind == "step.setWeight" && $0.evidence["weight"] == "50" })
                #expect(fifty.id > paymentsPauseOver.id, "\(member.service) went to 50 % before payments' pause was over")
            }
            // Every barrier opened for all three only after all three reached it.
            for barrier in [ReleaseBarrier.traffic, .step(1), .step(2), .step(3), .promotion].map(\.description) {
                let waiting = events.filter { $0.kind == "release.waiting" && $0.evidence["barrier"] == barrier }
                let proceeding = events.filter { $0.kind == "release.proceeding" && $0.evidence["barrier"] == barrier }
                #expect(waiting.count == 3 && proceeding.count == 3, "\(barrier): \(waiting.count) waiting, \(proceeding.count) proceeding")
                #expect((waiting.map(\.id).max() ?? 0) < (proceeding.map(\.id).min() ?? 0), "\(barrier) opened before everyone reached it")
            }
            let promotions = events.filter { $0.kind == "rollout.promoted" }.map(\.at.millisecondsSinceEpoch)
            #expect(promotions.count == 3 && (promotions.max()! - promotions.min()!) < 1000, "promotions \(promotions) are not together")
            #expect(events.filter { $0.kind == "release.promoted" }.count == 3, "each member's trail says the release was promoted")
        }
    }

    @Test func oneServiceFailingRollsEveryServiceBackAndNamesIt() async throws {
        try await Self.with("release-failure", faults: ["payments": "2.0.0=errorRate:0.6"]) { server in
            try await Self.firstVersions(server)
            try await server.flags.create(FeatureDefinition(name: "new-payment-flow", enabled: true), environment: "default", actor: "alice")
            var finished: Release?
            try await Self.underLoad(server) {
                var manifest = try Self.manifest(
                    ["checkout": "2.0.0", "payments": "2.0.0", "inventory": "2.0.0"],
                    steps: "[ { setWeight: 50 }, { analysis: { passes: 3 } } ]")
                manifest.flags = [DeclaredFlag(name: "new-payment-flow")]
                let release = try await server.controller.applyRelease(manifest)
                finished = try await Self.finish(server, release)
            }
            let done = try #require(finished)
            #expect(done.phase == .rolledBack)
            #expect(done.cause?.service == "payments" && done.cause?.trigger.kind == .analysis, "cause: \(String(describing: done.cause))")
            // A pipeline re-applying the same desired state is refused, not retried: payments 2.0.0 is rejected.
            let releases = try await server.store.releases(limit: 100).count
            do {
                _ = try await server.controller.applyRelease(try Self.manifest(["checkout": "2.0.0", "payments": "2.0.0", "inventory": "2.0.0"]))
                Issue.record("the re-applied release started")
            } catch let error as ControllerError {
                #expect(error.code == "version_rejected" && error.message.contains("payments 2.0.0"), "\(error)")
            }
            #expect(try await server.store.releases(limit: 100).count == releases, "nothing recorded")
            for member in done.members where member.service != "payments" {
                let rollout = try await server.controller.rollout(id: member.rolloutID)
                #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .releasePartnerFailed)
                #expect(rollout.trigger?.evidence["causeService"] == "payments" && rollout.trigger?.message.contains("analysis") == true)
            }
            try await Self.expectStable(server, ["checkout": "1.0.0", "payments": "1.0.0", "inventory": "1.0.0"])
            for name in Self.names {
                try await eventually("\(name) has no candidate left") {
                    let status = try await server.controller.status(service: name)
                    return status.candidateInstances.isEmpty && status.stableInstances.allSatisfy { $0.version == "1.0.0" }
                }
                let (_, version) = try await get("http://\(await server.controller.frontDoors[name]!)/")
                #expect(version == "1.0.0")
            }
            let events = try await Self.events(server, done)
            #expect(events.filter { $0.kind == "release.rolledBack" && $0.evidence["causeService"] == "payments" }.count == 3)
            // The release's flag is off, once, and every member's trail says so.
            try await eventually("the release's flag turned off") {
                try await server.flags.snapshot(environment: "default").evaluator.definition(of: "new-payment-flow")?.enabled == false
            }
            try await eventually("each member's trail has the flag event") {
                try await Self.events(server, done).filter { $0.kind == "flag.disabled" && $0.evidence["flag"] == "new-payment-flow" }.count == 3
            }
            #expect(try await server.flags.history(flag: "new-payment-flow", environment: "default").map(\.actor) == ["alice", "ripcord"])
            // The post-mortem names every member, the one that failed first, and what was undone for each.
            let postmortem = try await server.controller.postmortem(release: done.id)
            #expect(Set(postmortem.members.map(\.service)) == Set(Self.names))
            for member in postmortem.members {
                #expect(member.outcome == .rolledBack && member.undone.contains { $0.hasPrefix("traffic:") }, "\(member.service): \(member.undone)")
                #expect(member.undone.contains { $0.hasPrefix("flags:") && $0.contains("new-payment-flow") }, "\(member.service): \(member.undone)")
            }
            let payments = try #require(postmortem.members.first { $0.service == "payments" })
            #expect(payments.trigger == "analysis" && (payments.requestsFailed ?? 0) > 0)
            #expect(postmortem.summary.hasPrefix("payments 2.0.0 was rolled back (analysis") && postmortem.summary.contains("Also undone with it:"), "\(postmortem.summary)")
            let text = postmortem.markdown()
            for name in Self.names { #expect(text.contains("**\(name)**"), "\(name) in the post-mortem") }
        }
    }

    @Test func constraintsAreCheckedBeforeAnythingStarts() async throws {
        try await Self.with("release-constraints") { server in
            try await Self.firstVersions(server)
            let revisionsBefore = try await server.store.revisions(service: "checkout").count
            let needsNewPayments = try Self.manifest(["checkout": "2.0.0"], requires: ["checkout": ["payments": ">=2.1.0 <3.0.0"]])
            await #expect {
                _ = try await server.controller.applyRelease(needsNewPayments)
            } throws: { error in
                let error = error as? ControllerError
                return error?.code == "constraint_violation"
                    && error?.message == "checkout 2.0.0 (in this release) requires payments >=2.1.0 <3.0.0, but running is payments 1.0.0"
            }
            #expect(try await server.store.revisions(service: "checkout").count == revisionsBefore, "a refused release records nothing")
            #expect(try await server.store.releases(limit: 10).count == 1)

            let together = try Self.manifest(["checkout": "2.0.0", "payments": "2.1.0"], requires: ["checkout": ["payments": ">=2.1.0 <3.0.0"]])
            #expect(try await Self.finish(server, try await server.controller.applyRelease(together)).phase == .promoted)

            // The running checkout 2.0.0 still needs payments 2.x: a payments 3.0.0 alone is refused.
            await #expect {
                _ = try await server.controller.applyRelease(try Self.manifest(["payments": "3.0.0"]))
            } throws: { error in
                (error as? ControllerError)?.message == "checkout 2.0.0 (running) requires payments >=2.1.0 <3.0.0, but the release brings payments 3.0.0"
            }
        }
    }

    @Test func undoReturnsEveryServiceAsOneUnit() async throws {
        try await Self.with("release-undo") { server in
            try await Self.firstVersions(server)
            let release = try await server.controller.applyRelease(Self.manifest(["checkout": "2.0.0", "payments": "2.0.0"]))
            #expect(try await Self.finish(server, release).phase == .promoted)
            let undo = try await server.controller.undoRelease(id: nil)
            #expect(undo.kind == .undo && undo.undoes == release.id)
            #expect(try await Self.finish(server, undo).phase == .promoted)
            try await Self.expectStable(server, ["checkout": "1.0.0", "payments": "1.0.0", "inventory": "1.0.0"])
            for member in undo.members {
                #expect(try await server.controller.rollout(id: member.rolloutID).kind == .undo)
            }
            await #expect(throws: ControllerError.self, "an undone release's services no longer run its versions") {
                _ = try await server.controller.undoRelease(id: release.id)
            }
        }
    }

    @Test func thePinHeaderReachesEveryCandidateOfTheRelease() async throws {
        try await Self.with("release-pin", chained: true) { server in
            try await Self.firstVersions(server)
            let release = try await server.controller.applyRelease(
                Self.manifest(["checkout": "2.0.0", "payments": "2.0.0"], steps: "[ { setWeight: 0 }, { pause: {} } ]"))
            try await Self.atIndefinitePause(server, release)
            for name in ["checkout", "payments"] {
                let door = "http://\(await server.controller.frontDoors[name]!)/"
                for _ in 0..<5 {
                    #expect(try await get(door, headers: [(RouterHeaders.release, String(release.id))]).1 == "2.0.0", "\(name) pinned")
                    #expect(try await get(door).1 == "1.0.0", "\(name) unpinned at 0 %")
                    #expect(try await get(door, headers: [(RouterHeaders.release, String(release.id + 100))]).1 == "1.0.0", "\(name) other release")
                }
            }
            // End to end: checkout passes the pin on to payments, so the whole chain stays on the release.
            let checkout = "http://\(await server.controller.frontDoors["checkout"]!)/"
            for _ in 0..<5 {
                #expect(try await body(checkout, pin: release.id).contains(#""version":"2.0.0","downstream":{"service":"payments","version":"2.0.0"}"#))
                #expect(try await body(checkout, pin: nil).contains(#""version":"1.0.0","downstream":{"service":"payments","version":"1.0.0"}"#))
            }
            let inventory = "http://\(await server.controller.frontDoors["inventory"]!)/"
            #expect(try await get(inventory, headers: [(RouterHeaders.release, String(release.id))]).1 == "1.0.0", "not in the release: stable")

            await #expect(throws: ControllerError.self, "a member is not promoted alone") {
                try await server.controller.promote(service: "checkout", full: true)
            }
            try await server.controller.promoteRelease(id: release.id)
            #expect(try await Self.finish(server, release).phase == .promoted)
        }
    }

    @Test func abortRollsTheWholeReleaseBack() async throws {
        try await Self.with("release-abort") { server in
            try await Self.firstVersions(server)
            let release = try await server.controller.applyRelease(
                Self.manifest(["checkout": "2.0.0", "inventory": "2.0.0"], steps: "[ { setWeight: 20 }, { pause: {} } ]"))
            try await eventually("checkout at 20 %") {
                try await server.controller.rollout(id: release.member("checkout")!.rolloutID).candidateWeight == 20
            }
            try await server.controller.abortRelease(id: release.id, reason: "smoke test failed")
            let done = try await Self.finish(server, release)
            #expect(done.phase == .rolledBack && done.cause?.trigger.kind == .abort)
            try await Self.expectStable(server, ["checkout": "1.0.0", "payments": "1.0.0", "inventory": "1.0.0"])
        }
    }

    @Test func anAlertInTheGuardWindowUndoesTheWholeRelease() async throws {
        try await Self.with("release-guard", guardWindow: "1m") { server in
            try await Self.firstVersions(server)
            let release = try await server.controller.applyRelease(Self.manifest(["checkout": "2.0.0", "payments": "2.0.0"]))
            #expect(try await Self.finish(server, release).phase == .promoted)
            let outcome = try await server.controller.receive(
                Alert(
                    name: "PaymentsErrors", firing: true, labels: ["alertname": "PaymentsErrors", "service": "payments"], annotations: [:],
                    startsAt: "2026-12-01T10:00:00Z"))
            #expect(outcome.action == .undoing && outcome.detail.hasPrefix("undoing release \(release.id) (checkout, payments)"), "\(outcome)")
            let undo = try #require(try await server.store.releases(limit: 1).first)
            #expect(undo.undoes == release.id)
            #expect(try await Self.finish(server, undo).phase == .promoted)
            try await Self.expectStable(server, ["checkout": "1.0.0", "payments": "1.0.0", "inventory": "1.0.0"])
        }
    }

    @Test func aRestartedControllerCarriesOnWithTheRelease() async throws {
        let (first, directory) = try await Self.start("release-restart")
        let release: Release
        do {
            try await Self.firstVersions(first)
            release = try await first.controller.applyRelease(
                Self.manifest(["checkout": "2.0.0", "payments": "2.0.0"], steps: "[ { setWeight: 20 }, { pause: {} } ]"))
            try await Self.atIndefinitePause(first, release)
        } catch {
            await first.shutdown(keepInstances: false)
            throw error
        }
        await first.shutdown(keepInstances: true)

        let second = try await Self.serve(directory)
        do {
            let status = try await second.controller.releaseDetail(id: release.id)
            #expect(status.release.phase == .running && status.members.allSatisfy { $0.rollout?.candidateWeight == 20 })
            var finished: Release?
            try await Self.underLoad(second) {
                try await second.controller.promoteRelease(id: release.id)
                finished = try await Self.finish(second, release)
            }
            #expect(finished?.phase == .promoted)
            try await Self.expectStable(second, ["checkout": "2.0.0", "payments": "2.0.0", "inventory": "1.0.0"])
        } catch {
            await second.shutdown(keepInstances: false)
            throw error
        }
        await second.shutdown(keepInstances: false)
    }

    func body(_ url: String, pin: Int64?) async throws -> String {
        var request = HTTPClientRequest(url: url)
        if let pin { request.headers.add(name: RouterHeaders.release, value: String(pin)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        return String(buffer: try await response.body.collect(upTo: 1 << 20))
    }
}
