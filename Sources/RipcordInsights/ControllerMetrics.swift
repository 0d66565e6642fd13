import RipcordCore

/// The controller's own Prometheus metrics, counted from the events it stores (so a metric and the
/// history never disagree) plus gauges read at scrape time. A value type: the telemetry actor owns it.
/// Families and labels are listed in docs/metrics.md.
public struct ControllerMetrics: Sendable {
    /// Seconds; from a fast rollback (under a second) to a long canary (an hour).
    public static let durationBuckets: [Double] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]

    public struct Family: Sendable {
        public var name: String
        public var type: String
        public var help: String
    }

    public static let rolloutsStarted = Family(
        name: "ripcord_rollouts_started_total", type: "counter", help: "Rollouts started, by service and kind (deploy, undo, reconfigure).")
    public static let rolloutsPromoted = Family(name: "ripcord_rollouts_promoted_total", type: "counter", help: "Rollouts promoted, by service.")
    public static let rolloutsRolledBack = Family(
        name: "ripcord_rollouts_rolled_back_total", type: "counter", help: "Rollouts rolled back, by service and trigger.")
    public static let rolloutDuration = Family(
        name: "ripcord_rollout_duration_seconds", type: "histogram", help: "From a rollout's start to its promotion or rollback decision, by service and outcome.")
    public static let detection = Family(
        name: "ripcord_rollback_detection_seconds", type: "histogram",
        help: "From the candidate's first traffic to the rollback decision, by service and trigger.")
    public static let restoration = Family(
        name: "ripcord_rollback_restoration_seconds", type: "histogram",
        help: "From the rollback decision until every router sends all traffic to the stable version again, by service.")
    public static let analysisVerdicts = Family(
        name: "ripcord_analysis_verdicts_total", type: "counter",
        help: "Analysis measurements, by service, metric (a provider metric's name or the router judge) and verdict.")
    public static let hooks = Family(name: "ripcord_hooks_total", type: "counter", help: "Lifecycle hooks run, by service, point and result.")
    public static let hookDuration = Family(name: "ripcord_hook_duration_seconds", type: "histogram", help: "How long lifecycle hooks ran, by service and point.")
    public static let migrations = Family(
        name: "ripcord_migrations_total", type: "counter", help: "Schema scripts run for rollouts, by service and outcome (applied, undone, failed).")
    public static let migrationDuration = Family(
        name: "ripcord_migration_duration_seconds", type: "histogram", help: "How long schema scripts ran, by service and direction.")
    public static let flagChanges = Family(
        name: "ripcord_flag_changes_total", type: "counter",
        help: "Flag definitions changed or removed, whoever changed them, by environment and change (updated, removed).")
    public static let flagsDisabledByRollback = Family(
        name: "ripcord_flags_disabled_by_rollback_total", type: "counter", help: "Flags a rolled-back version declared and Ripcord turned off, by service.")
    public static let guardWindows = Family(
        name: "ripcord_guard_windows_total", type: "counter", help: "Guard windows after promotions that ended, by service and result (passed, triggered).")
    public static let notificationFailures = Family(
        name: "ripcord_notification_failures_total", type: "counter", help: "Notifications that could not be delivered, by service.")

    private struct Series: Hashable {
        var family: String
        var labels: [String]
    }

    private var counters: [Series: Double] = [:]
    private var histograms: [Series: Histogram] = [:]

    public init() {}

    /// Counts one stored event; `timeline` is its rollout's, up to and including it.
    public mutating func observe(_ event: Event, timeline: RolloutTimeline?) {
        let service = event.service
        let evidence = event.evidence
        switch event.kind {
        case .rolloutStarted:
            count(Self.rolloutsStarted, ["service", service, "kind", evidence["kind"] ?? "deploy"])
        case .rolloutPromoted:
            count(Self.rolloutsPromoted, ["service", service])
            if let duration = timeline?.duration { observe(Self.rolloutDuration, ["service", service, "outcome", "promoted"], duration.seconds) }
        case .rolloutRolledBack:
            let trigger = evidence["trigger"] ?? "unknown"
            count(Self.rolloutsRolledBack, ["service", service, "trigger", trigger])
            if let duration = timeline?.duration { observe(Self.rolloutDuration, ["service", service, "outcome", "rolledBack"], duration.seconds) }
            if let detect = timeline?.timeToDetect { observe(Self.detection, ["service", service, "trigger", trigger], detect.seconds) }
        case .trafficRestored:
            if let moveBack = timeline?.timeToMoveBack { observe(Self.restoration, ["service", service], moveBack.seconds) }
        case .analysisMetric where evidence["verdict"] != nil:
            count(Self.analysisVerdicts, ["service", service, "metric", evidence["metric"] ?? "unknown", "verdict", evidence["verdict"]!])
        case .analysisMeasurement:
            count(Self.analysisVerdicts, ["service", service, "metric", evidence["judge"] ?? "router", "verdict", evidence["verdict"] ?? "unknown"])
        case .hookPassed, .hookFailed:
            let point = evidence["point"] ?? "unknown"
            count(Self.hooks, ["service", service, "point", point, "result", event.kind == .hookPassed ? "passed" : "failed"])
            if let seconds = Self.seconds(evidence["duration"]) { observe(Self.hookDuration, ["service", service, "point", point], seconds) }
        case .migrationApplied, .migrationUndone, .migrationFailed:
            let outcome = event.kind == .migrationApplied ? "applied" : event.kind == .migrationUndone ? "undone" : "failed"
            count(Self.migrations, ["service", service, "outcome", outcome])
            if let seconds = Self.seconds(evidence["duration"]) {
                observe(Self.migrationDuration, ["service", service, "direction", evidence["direction"] ?? "apply"], seconds)
            }
        case .flagDisabled where evidence["changed"] != "false":
            count(Self.flagsDisabledByRollback, ["service", service])
        case .guardPassed, .guardTriggered:
            count(Self.guardWindows, ["service", service, "result", event.kind == .guardPassed ? "passed" : "triggered"])
        case .notificationFailed:
            count(Self.notificationFailures, ["service", service])
        default:
            break
        }
    }

    /// A flag definition changed (`updated`) or removed (`removed`) in an environment.
    public mutating func countFlagChange(environment: String, change: String) {
        count(Self.flagChanges, ["environment", environment, "change", change])
    }

    /// The families above in the text exposition format, each with HELP and TYPE even before its first sample.
    public func render() -> String {
        let families = [
            Self.rolloutsStarted, Self.rolloutsPromoted, Self.rolloutsRolledBack, Self.rolloutDuration, Self.detection, Self.restoration,
            Self.analysisVerdicts, Self.hooks, Self.hookDuration, Self.migrations, Self.migrationDuration, Self.flagChanges, Self.flagsDisabledByRollback,
            Self.guardWindows, Self.notificationFailures,
        ]
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
            if family.type == "histogram" {
                for (series, histogram) in histograms.filter({ $0.key.family == family.name }).sorted(by: { $0.key.labels.lexicographicallyPrecedes($1.key.labels) }) {
                    out += histogram.render(family.name, labels: series.labels)
                }
            } else {
                for (series, value) in counters.filter({ $0.key.family == family.name }).sorted(by: { $0.key.labels.lexicographicallyPrecedes($1.key.labels) }) {
                    out += "\(family.name)\(PrometheusText.labelSet(series.labels)) \(PrometheusText.number(value))\n"
                }
            }
        }
        return out
    }

    private mutating func count(_ family: Family, _ labels: [String]) {
        counters[Series(family: family.name, labels: labels), default: 0] += 1
    }

    private mutating func observe(_ family: Family, _ labels: [String], _ value: Double) {
        histograms[Series(family: family.name, labels: labels), default: Histogram()].observe(value)
    }

    /// A duration as events write it ("1.5s", "250ms").
    static func seconds(_ text: String?) -> Double? {
        text.flatMap { try? TimeSpan(parsing: $0) }?.seconds
    }

    private struct Histogram: Sendable {
        var counts = [UInt64](repeating: 0, count: ControllerMetrics.durationBuckets.count)
        var total: UInt64 = 0
        var sum = 0.0

        mutating func observe(_ value: Double) {
            for (index, bound) in ControllerMetrics.durationBuckets.enumerated() where value <= bound { counts[index] += 1 }
            total += 1
            sum += max(0, value)
        }

        func render(_ name: String, labels: [String]) -> String {
            var out = ""
            for (index, bound) in ControllerMetrics.durationBuckets.enumerated() {
                out += "\(name)_bucket\(PrometheusText.labelSet(labels + ["le", PrometheusText.number(bound)])) \(counts[index])\n"
            }
            out += "\(name)_bucket\(PrometheusText.labelSet(labels + ["le", "+Inf"])) \(total)\n"
            out += "\(name)_sum\(PrometheusText.labelSet(labels)) \(PrometheusText.number(sum))\n"
            out += "\(name)_count\(PrometheusText.labelSet(labels)) \(total)\n"
            return out
        }
    }
}

/// What the controller is doing now, read at scrape time.
public struct ServiceGauge: Sendable {
    public var service: String
    /// The rollout's phase, or nil when none is in progress.
    public var phase: RolloutPhase?
    /// How many strategy steps the rollout has entered; 0 when none is in progress.
    public var step: Int
    public var candidateWeight: Int

    public init(service: String, phase: RolloutPhase?, step: Int, candidateWeight: Int) {
        self.service = service
        self.phase = phase
        self.step = step
        self.candidateWeight = candidateWeight
    }
}

extension ControllerMetrics {
    static let livePhases: [RolloutPhase] = [.starting, .analyzing, .paused, .preview, .switched]

    /// Build information, leadership and each service's rollout now.
    public static func renderGauges(_ services: [ServiceGauge], leader: Bool) -> String {
        var out = "# HELP ripcord_build_info The running Ripcord's version (always 1).\n# TYPE ripcord_build_info gauge\n"
        out += "ripcord_build_info\(PrometheusText.labelSet(["version", RipcordBuild.version])) 1\n"
        out += "# HELP ripcord_controller_leader 1 while this controller acts on rollouts, 0 while it stands by.\n"
        out += "# TYPE ripcord_controller_leader gauge\nripcord_controller_leader \(leader ? 1 : 0)\n"
        out += "# HELP ripcord_rollout_phase The phase of each service's rollout in progress (1 for the current phase; idle when none).\n"
        out += "# TYPE ripcord_rollout_phase gauge\n"
        for gauge in services {
            for phase in livePhases.map(\.rawValue) + ["idle"] {
                let current = gauge.phase?.rawValue ?? "idle"
                out += "ripcord_rollout_phase\(PrometheusText.labelSet(["service", gauge.service, "phase", phase])) \(phase == current ? 1 : 0)\n"
            }
        }
        out += "# HELP ripcord_rollout_step How many strategy steps each service's rollout has entered (0 when none is in progress).\n"
        out += "# TYPE ripcord_rollout_step gauge\n"
        for gauge in services { out += "ripcord_rollout_step\(PrometheusText.labelSet(["service", gauge.service])) \(gauge.step)\n" }
        out += "# HELP ripcord_candidate_weight_percent The share of each service's traffic its candidate gets.\n"
        out += "# TYPE ripcord_candidate_weight_percent gauge\n"
        for gauge in services {
            out += "ripcord_candidate_weight_percent\(PrometheusText.labelSet(["service", gauge.service])) \(gauge.candidateWeight)\n"
        }
        return out
    }
}
