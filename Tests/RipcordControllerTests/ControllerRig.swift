import Foundation
import RipcordController
import RipcordCore
import RipcordTesting
import RipcordWire
import RipcordTestSupport
import Testing

let v1 = try! SemanticVersion(parsing: "1.0.0")
let v2 = try! SemanticVersion(parsing: "2.0.0")

/// A service as these tests run it: two instances, health checked every second, a canary of 10 % then
/// 50 % judged by the router's error rate, on a fake process.
func service(
    _ name: String = "checkout", steps: [CanaryStep] = [.setWeight(10), .analysis(passes: 3), .setWeight(50), .analysis(passes: 3)],
    analysis: AnalysisSpec? = AnalysisSpec(interval: .seconds(1), minRequests: 20, maxErrorRate: 0.05),
    guardWindow: TimeSpan = .zero, hooks: [HookSpec] = []
) -> ServiceSpec {
    ServiceSpec(
        name: name, listen: HostPort(host: "127.0.0.1", port: 0), run: RunSpec(command: "\(name) --port {port}"), instances: 2,
        healthCheck: HealthCheckSpec(interval: .seconds(1), timeout: .seconds(1)), startupDeadline: .seconds(30),
        progressDeadline: .seconds(300), strategy: .canary(CanarySpec(steps: steps)), analysis: analysis,
        guardWindow: guardWindow, hooks: hooks)
}

/// A `Controller` on the fakes of RipcordTesting: no process, no socket, no wall clock. Time moves only
/// through `advance`, which lets the controller's tasks run between ticks.
struct ControllerRig {
    let journal: Journal
    let clock = TestClock()
    let store: InMemoryStore
    let driver: FakeDriver
    let traffic: RecordingTrafficManager
    let health = ScriptedHealth()
    let hooks = ScriptedHooks()
    let metrics = ScriptedMetrics()
    let controller: Controller

    /// Starts a controller whose services already run `stable` (each service's stable revision).
    /// A restarted controller takes over the first one's store, driver and journal.
    init(
        _ services: [ServiceSpec], stable: SemanticVersion? = v1, store existing: InMemoryStore? = nil, driver existingDriver: FakeDriver? = nil,
        journal existingJournal: Journal? = nil
    ) async throws {
        let journal = existingJournal ?? Journal()
        self.journal = journal
        driver = existingDriver ?? FakeDriver(journal: journal)
        traffic = RecordingTrafficManager(journal: journal)
        let store = existing ?? InMemoryStore()
        self.store = store
        if existing == nil, let stable {
            for spec in services { _ = await store.seedStable(service: spec.name, version: stable, spec: spec, at: clock.now) }
        }
        var settings = Controller.Settings()
        settings.drainDelay = .seconds(1)
        let config = RipcordConfiguration(api: HostPort(host: "127.0.0.1", port: 0), stateDirectory: "/nonexistent", services: services)
        controller = Controller(
            config: config, store: store, driver: driver, traffic: traffic, probe: health, hooks: hooks, metrics: metrics,
            settings: settings, clock: clock)
        try await Self.settle(clock)
        try await controller.start()
    }

    /// Moves time on tick by tick (100 ms) until `condition` holds, running `everyTick` before each tick (traffic,
    /// say); fails the test after `limit` of controller time.
    func advance(
        until condition: @Sendable () async throws -> Bool, limit: TimeSpan = .seconds(600),
        everyTick: @Sendable () async -> Void = {}, _ what: String = "the condition",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        var elapsed = TimeSpan.zero
        try await Self.settle(clock)
        while try await !condition() {
            await everyTick()
            guard elapsed < limit else {
                let events = try await store.events(service: nil, rolloutID: nil, afterID: 0, limit: 10_000)
                let told = events.map { "\($0.service) \($0.kind): \($0.message)" }.joined(separator: "\n")
                Issue.record("\(what) did not happen within \(limit) of controller time; events:\n\(told)", sourceLocation: sourceLocation)
                throw Timeout()
            }
            try await Self.tick(clock)
            elapsed = TimeSpan(milliseconds: elapsed.milliseconds + 100)
        }
    }

    /// Moves time on by `span`, tick by tick.
    func advance(by span: TimeSpan) async throws {
        var elapsed = TimeSpan.zero
        while elapsed < span {
            try await Self.tick(clock)
            elapsed = TimeSpan(milliseconds: elapsed.milliseconds + 100)
        }
    }

    /// One tick of 100 ms, then `settle`.
    private static func tick(_ clock: TestClock) async throws {
        let asleep = clock.sleeperCount
        clock.advance(by: .milliseconds(100))
        try await settle(clock, asleepBefore: asleep)
    }

    struct Timeout: Error {}

    /// Lets every task the last tick woke run until all of them wait again (for time or for input):
    /// the number of sleepers stays the same over several rounds of yielding. Fewer sleepers than before
    /// the tick (`asleepBefore`) must hold for longer: on a busy machine a woken task can wait that long
    /// for a thread before it sleeps again (a supervisor's look missed a tick in CI).
    static func settle(_ clock: TestClock, asleepBefore: Int = 0) async throws {
        var stableRounds = 0
        var last = -1
        var rounds = 0
        while stableRounds < (last < asleepBefore ? 32 : 4), rounds < 2_000 {
            for _ in 0..<8 { await Task.yield() }
            let sleepers = clock.sleeperCount
            stableRounds = sleepers == last ? stableRounds + 1 : 0
            last = sleepers
            rounds += 1
        }
    }

    // MARK: What the tests read

    func rollout(_ name: String = "checkout") async throws -> RolloutSummary? {
        try await controller.status(service: name).rollout
    }

    func phase(_ name: String = "checkout") async throws -> RolloutPhase? { try await rollout(name)?.phase }

    func candidateShare(_ name: String = "checkout") async -> Int {
        await traffic.changes(service: name).last?.candidateShare ?? 0
    }

    func events(_ name: String = "checkout") async throws -> [Event] {
        try await store.events(service: name, rolloutID: nil, afterID: 0, limit: 10_000)
    }

    /// Deploys 1.0.0 (the first version), then 2.0.0 with healthy traffic to promotion, and returns once
    /// the guard window over 2.0.0 has started.
    func promoteIntoAGuardWindow() async throws {
        _ = try await controller.deploy(service: "checkout", version: v1)
        try await advance(until: { try await phase() == .promoted }, "the first version")
        _ = try await controller.deploy(service: "checkout", version: v2)
        try await advance(until: { try await phase() == .promoted }, everyTick: { await serve() }, "promotion")
        try await advance(until: { try await events().contains { $0.kind == "guard.started" } }, "the guard window")
    }

    /// Has the candidate's instances answer `requests` requests since the last call, `errors` of them failing,
    /// and the stable ones nine times as many at `stableErrorRate`.
    func serve(
        _ name: String = "checkout", candidate version: SemanticVersion = v2, requests: Int = 20, errors: Int = 0,
        stable: SemanticVersion = v1, stableErrors: Int = 0
    ) async {
        await traffic.serve(service: name, version: version, role: .candidate, requests: requests, errors: errors)
        await traffic.serve(service: name, version: stable, role: .stable, requests: requests * 9, errors: stableErrors)
    }
}
