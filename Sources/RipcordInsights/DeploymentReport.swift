import RipcordCore

/// `ripcord report`: DORA's four keys and Ripcord's rollback analytics, computed from the stored events
/// of the rollouts that started in a period. Drills are counted apart: they are practice, not changes.
public struct DeploymentReport: Sendable, Codable, Equatable {
    public var since: Moment
    public var until: Moment
    public var overall: ServiceReport
    /// The services with the most rollbacks first.
    public var services: [ServiceReport]
    /// Week by week, oldest first (weeks start at `since`).
    public var weeks: [WeekReport]
    public var drills: DrillTally

    /// The event kinds a report (and a rollout timeline) needs; the store reads only these.
    public static let eventKinds: Set<EventKind> = [
        .rolloutStarted, .stepSetWeight, .bluegreenSwitched, .rolloutPromoted, .rolloutRolledBack, .trafficRestored, .releaseStarted,
        .flagDisabled, .migrationUndone, .drillPassed, .drillFailed,
    ]

    /// - Parameter events: the kinds in `eventKinds`, oldest first; rollouts that started before `since` are left out.
    public init(events: [Event], since: Moment, until: Moment) {
        self.since = since
        self.until = until
        var timelines: [Int64: RolloutTimeline] = [:]
        var order: [Int64] = []
        for event in events {
            guard let id = event.rolloutID else { continue }
            if timelines[id] == nil {
                timelines[id] = RolloutTimeline(rolloutID: id, service: event.service, events: [])
                order.append(id)
            }
            timelines[id]?.apply(event)
        }
        let inPeriod = order.compactMap { timelines[$0] }.filter { ($0.startedAt ?? .init(millisecondsSinceEpoch: 0)) >= since }
        let changes = inPeriod.filter { !$0.isDrill }
        let days = max(1.0 / 24, (until - since).seconds / 86_400)
        overall = ServiceReport(service: "all", changes, days: days)
        services = Dictionary(grouping: changes, by: \.service).map { ServiceReport(service: $0.key, $0.value, days: days) }
        services.sort { $0.rolledBack != $1.rolledBack ? $0.rolledBack > $1.rolledBack : $0.service < $1.service }
        var weeks: [WeekReport] = []
        var start = since
        let week = TimeSpan(milliseconds: 7 * 86_400_000)
        while start < until {
            let end = min(until, start + week)
            let inWeek = changes.filter { ($0.startedAt ?? since) >= start && ($0.startedAt ?? since) < end }
            weeks.append(WeekReport(from: start, to: end, ServiceReport(service: "all", inWeek, days: max(1.0 / 24, (end - start).seconds / 86_400))))
            start = end
        }
        self.weeks = weeks
        let drills = inPeriod.filter(\.isDrill)
        self.drills = DrillTally(
            run: drills.count, passed: drills.filter { $0.drillPassed == true }.count,
            timeToRestore: Percentiles(drills.compactMap(\.timeToRestore)))
    }
}

/// One service's (or all services') deliveries in the period.
public struct ServiceReport: Sendable, Codable, Equatable {
    public var service: String
    /// Rollouts that ended (promoted or rolled back).
    public var deployments: Int
    public var promoted: Int
    public var rolledBack: Int
    /// Rolled back by a person (`ripcord abort`): not a change failure.
    public var aborted: Int
    public var inProgress: Int
    /// Promotions per day (DORA's deployment frequency).
    public var deploymentsPerDay: Double
    /// Rollbacks other than aborts over promotions plus those rollbacks (DORA's change failure rate); nil with neither.
    public var changeFailureRate: Double?
    public var rollbacksByTrigger: [String: Int]
    /// Which measurement decided the analysis rollbacks: a provider metric's name or the router judge.
    public var rollbacksByMetric: [String: Int]
    /// Rollbacks decided before any user got the candidate (at start-up, in hooks, in preview).
    public var caughtBeforeTraffic: Int
    /// From users' first request to the rollback decision.
    public var timeToDetect: Percentiles?
    /// From users' first request until all traffic was back on the stable version (DORA's time to restore).
    public var timeToRestore: Percentiles?
    public var flagsTurnedOff: Int
    public var migrationsUndone: Int

    init(service: String, _ timelines: [RolloutTimeline], days: Double) {
        self.service = service
        promoted = timelines.filter { $0.outcome == .promoted }.count
        let rollbacks = timelines.filter { $0.outcome == .rolledBack }
        rolledBack = rollbacks.count
        aborted = rollbacks.filter(\.wasAborted).count
        deployments = promoted + rolledBack
        inProgress = timelines.count - deployments
        deploymentsPerDay = Double(promoted) / days
        let failed = rollbacks.filter(\.failed)
        changeFailureRate = promoted + failed.count == 0 ? nil : Double(failed.count) / Double(promoted + failed.count)
        rollbacksByTrigger = Dictionary(grouping: rollbacks, by: { $0.trigger ?? "unknown" }).mapValues(\.count)
        rollbacksByMetric = Dictionary(grouping: rollbacks.filter { $0.metric != nil }, by: { $0.metric! }).mapValues(\.count)
        caughtBeforeTraffic = rollbacks.filter { $0.exposedAt == nil }.count
        timeToDetect = Percentiles(failed.compactMap(\.timeToDetect))
        timeToRestore = Percentiles(failed.compactMap(\.timeToRestore))
        flagsTurnedOff = rollbacks.map(\.flagsTurnedOff.count).reduce(0, +)
        migrationsUndone = timelines.map(\.migrationsUndone.count).reduce(0, +)
    }
}

public struct WeekReport: Sendable, Codable, Equatable {
    public var from: Moment
    public var to: Moment
    public var deployments: Int
    public var rolledBack: Int
    public var changeFailureRate: Double?
    public var medianTimeToRestoreSeconds: Double?

    init(from: Moment, to: Moment, _ report: ServiceReport) {
        self.from = from
        self.to = to
        deployments = report.deployments
        rolledBack = report.rolledBack
        changeFailureRate = report.changeFailureRate
        medianTimeToRestoreSeconds = report.timeToRestore?.medianSeconds
    }
}

public struct DrillTally: Sendable, Codable, Equatable {
    public var run: Int
    /// Judged passed: rolled back by Ripcord within the service's budget, the stable version unharmed.
    public var passed: Int
    public var timeToRestore: Percentiles?

    public init(run: Int, passed: Int, timeToRestore: Percentiles?) {
        self.run = run
        self.passed = passed
        self.timeToRestore = timeToRestore
    }
}

/// Median and 90th percentile of durations (nearest rank), in seconds.
public struct Percentiles: Sendable, Codable, Equatable {
    public var count: Int
    public var medianSeconds: Double
    public var p90Seconds: Double

    public init?(_ spans: [TimeSpan]) {
        guard !spans.isEmpty else { return nil }
        let sorted = spans.map(\.seconds).sorted()
        func rank(_ q: Double) -> Double { sorted[max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1)] }
        count = sorted.count
        medianSeconds = rank(0.5)
        p90Seconds = rank(0.9)
    }
}
