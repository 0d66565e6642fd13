import Foundation

/// An address to listen on or connect to.
public struct HostPort: Sendable, Hashable, Codable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let text: String
        public var description: String { "'\(text)' is not an address (expected HOST:PORT, e.g. 127.0.0.1:8080)" }
    }

    public init(parsing text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw ParseError(text: text) }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ParseError(text: text) }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public init(from decoder: any Decoder) throws {
        self = try decoder.singleValueContainer().decodeParsed(Self.init(parsing:))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Everything Ripcord knows about one service: its front door, how to run it, and how to roll it out.
public struct ServiceSpec: Sendable, Equatable, Codable {
    public var name: String

    /// A service name is a DNS label: 1 to 63 lowercase letters, digits and dashes, no dash at either end.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        func allowed(_ byte: UInt8) -> Bool { (97...122).contains(byte) || (48...57).contains(byte) || byte == UInt8(ascii: "-") }
        return (1...63).contains(bytes.count) && bytes.allSatisfy(allowed) && bytes.first != UInt8(ascii: "-") && bytes.last != UInt8(ascii: "-")
    }
    public var listen: HostPort
    /// How the process driver starts an instance; unused when `driver` is `.command`.
    public var run: RunSpec
    /// Who starts, stops and checks the instances.
    public var driver: DriverSpec
    public var instances: Int
    public var healthCheck: HealthCheckSpec
    public var startupDeadline: TimeSpan
    public var progressDeadline: TimeSpan
    public var strategy: Strategy
    public var analysis: AnalysisSpec?
    /// After a promotion, an alert for the service within this long rolls it back to the previous revision.
    public var guardWindow: TimeSpan
    /// Lifecycle hooks, run in their order at their points.
    public var hooks: [HookSpec]
    /// Schema migrations applied before the candidate starts and undone inside a rollback.
    public var migrations: MigrationsSpec?
    /// Feature flags this service's releases introduce; a rollback turns them off.
    public var flags: [DeclaredFlag]
    /// Who answers for the service: named in its runbook and in every notification about it.
    public var owners: [ServiceOwner]
    /// How its rollback drills are judged (`ripcord drill`).
    public var drill: DrillSpec

    // What a setting left out means: the initializer's defaults, the configuration loader's and those
    // of specs stored before the setting existed.
    public static let defaultInstances = 1
    public static let defaultStartupDeadline = TimeSpan.seconds(30)
    public static let defaultProgressDeadline = TimeSpan.seconds(600)
    public static let defaultStrategy = Strategy.canary(CanarySpec(steps: []))
    public static let defaultGuardWindow = TimeSpan.zero
    public static let defaultDriver = DriverSpec.process

    public init(
        name: String, listen: HostPort, run: RunSpec, instances: Int = defaultInstances,
        healthCheck: HealthCheckSpec = HealthCheckSpec(), startupDeadline: TimeSpan = defaultStartupDeadline,
        progressDeadline: TimeSpan = defaultProgressDeadline, strategy: Strategy = defaultStrategy,
        analysis: AnalysisSpec? = nil, guardWindow: TimeSpan = defaultGuardWindow, hooks: [HookSpec] = [], migrations: MigrationsSpec? = nil,
        flags: [DeclaredFlag] = [], driver: DriverSpec = defaultDriver, owners: [ServiceOwner] = [], drill: DrillSpec = DrillSpec()
    ) {
        self.name = name
        self.listen = listen
        self.run = run
        self.driver = driver
        self.instances = instances
        self.healthCheck = healthCheck
        self.startupDeadline = startupDeadline
        self.progressDeadline = progressDeadline
        self.strategy = strategy
        self.analysis = analysis
        self.guardWindow = guardWindow
        self.hooks = hooks
        self.migrations = migrations
        self.flags = flags
        self.owners = owners
        self.drill = drill
    }

    private enum CodingKeys: String, CodingKey {
        case name, listen, run, instances, healthCheck, startupDeadline, progressDeadline, strategy, analysis, guardWindow, hooks, migrations, flags, driver
        case owners, drill
    }

    /// Decodes specs stored by earlier versions too: keys added later take their defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try container.decode(String.self, forKey: .name), listen: try container.decode(HostPort.self, forKey: .listen),
            run: try container.decode(RunSpec.self, forKey: .run), instances: try container.decode(Int.self, forKey: .instances),
            healthCheck: try container.decode(HealthCheckSpec.self, forKey: .healthCheck),
            startupDeadline: try container.decode(TimeSpan.self, forKey: .startupDeadline),
            progressDeadline: try container.decode(TimeSpan.self, forKey: .progressDeadline),
            strategy: try container.decode(Strategy.self, forKey: .strategy),
            analysis: try container.decodeIfPresent(AnalysisSpec.self, forKey: .analysis),
            guardWindow: try container.decodeIfPresent(TimeSpan.self, forKey: .guardWindow) ?? Self.defaultGuardWindow,
            hooks: try container.decodeIfPresent([HookSpec].self, forKey: .hooks) ?? [],
            migrations: try container.decodeIfPresent(MigrationsSpec.self, forKey: .migrations),
            flags: try container.decodeIfPresent([DeclaredFlag].self, forKey: .flags) ?? [],
            driver: try container.decodeIfPresent(DriverSpec.self, forKey: .driver) ?? Self.defaultDriver,
            owners: try container.decodeIfPresent([ServiceOwner].self, forKey: .owners) ?? [],
            drill: try container.decodeIfPresent(DrillSpec.self, forKey: .drill) ?? DrillSpec())
    }
}

/// How to start one instance: a command template with `{version}` and `{port}` placeholders.
public struct RunSpec: Sendable, Equatable, Codable {
    public var command: String
    public var workingDirectory: String?
    public var environment: [String: String]

    public init(command: String, workingDirectory: String? = nil, environment: [String: String] = [:]) {
        self.command = command
        self.workingDirectory = workingDirectory
        self.environment = environment
    }

    /// The command with placeholders filled in, split into arguments the way a POSIX shell
    /// splits words (single and double quotes, backslash escapes), without running a shell.
    public func arguments(version: SemanticVersion, port: Int) -> [String] {
        let filled =
            command
            .replacingOccurrences(of: "{version}", with: version.description)
            .replacingOccurrences(of: "{port}", with: String(port))
        return Self.splitWords(filled)
    }

    public static func splitWords(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaping = false
        for c in text {
            if escaping {
                current.append(c)
                escaping = false
            } else if c == "\\", quote != "'" {
                escaping = true
                inWord = true
            } else if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c.isWhitespace {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(c)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}

public struct HealthCheckSpec: Sendable, Equatable, Codable {
    public var path: String
    public var interval: TimeSpan
    public var timeout: TimeSpan
    /// Consecutive successes before an instance counts as healthy.
    public var healthyThreshold: Int
    /// Consecutive failures before a healthy instance counts as unhealthy.
    public var unhealthyThreshold: Int

    public init(
        path: String = "/health", interval: TimeSpan = .seconds(1), timeout: TimeSpan = .seconds(1),
        healthyThreshold: Int = 1, unhealthyThreshold: Int = 3
    ) {
        self.path = path
        self.interval = interval
        self.timeout = timeout
        self.healthyThreshold = healthyThreshold
        self.unhealthyThreshold = unhealthyThreshold
    }
}

public enum Strategy: Sendable, Equatable, Codable {
    case canary(CanarySpec)
    case blueGreen(BlueGreenSpec)

    public var name: String {
        switch self {
        case .canary: return "canary"
        case .blueGreen: return "blueGreen"
        }
    }

    /// Named presets, as users know them from CodeDeploy.
    public static func preset(named name: String) -> Strategy? {
        switch name {
        case "allAtOnce":
            return .canary(CanarySpec(steps: []))
        case "canary10Percent5Minutes":
            return .canary(CanarySpec(steps: [.setWeight(10), .pause(.seconds(300))]))
        case "canary10Percent15Minutes":
            return .canary(CanarySpec(steps: [.setWeight(10), .pause(.seconds(900))]))
        case "linear10PercentEvery1Minute":
            return .canary(CanarySpec(steps: (1...9).flatMap { [CanaryStep.setWeight($0 * 10), .pause(.seconds(60))] }))
        case "linear10PercentEvery3Minutes":
            return .canary(CanarySpec(steps: (1...9).flatMap { [CanaryStep.setWeight($0 * 10), .pause(.seconds(180))] }))
        default:
            return nil
        }
    }

    public static let presetNames = [
        "allAtOnce", "canary10Percent5Minutes", "canary10Percent15Minutes",
        "linear10PercentEvery1Minute", "linear10PercentEvery3Minutes",
    ]
}

extension Strategy {
    /// A canary with steps and no analysis would be promoted on time alone: only with the user's
    /// written `unanalyzed: true`.
    public func promotesOnTimeAlone(analysis: AnalysisSpec?) -> Bool {
        guard analysis == nil, case let .canary(canary) = self else { return false }
        return !canary.steps.isEmpty && !canary.unanalyzed
    }

    /// The default progress deadline: the strategy's pauses plus, per step, time for
    /// `minPassedWindows` windows twice over — so a step without traffic is reported in about the
    /// time the strategy takes, not after a fixed ten minutes. At least 2 minutes: affirming a good
    /// candidate takes a few hundred canary requests (about 20 s at 20 canary requests a second), and a
    /// good one that drew a few unlucky errors needs several times that; a deadline of 1 minute ended 2 %
    /// of healthy rollouts at that traffic with `noEvidence`.
    public func proportionalProgressDeadline(analysis: AnalysisSpec?) -> TimeSpan {
        guard let analysis, case let .canary(canary) = self else { return .seconds(600) }
        var total: Int64 = 0
        for step in canary.steps {
            if case let .pause(duration?) = step { total += duration.milliseconds }
            total += 2 * analysis.interval.milliseconds * Int64(analysis.minPassedWindows)
        }
        return TimeSpan(milliseconds: min(max(total, 120_000), TimeSpan.maximum.milliseconds))
    }
}

public struct CanarySpec: Sendable, Equatable, Codable {
    public var steps: [CanaryStep]
    /// The user's written consent that time alone may promote (a canary without `analysis`).
    public var unanalyzed: Bool

    public init(steps: [CanaryStep], unanalyzed: Bool = false) {
        self.steps = steps
        self.unanalyzed = unanalyzed
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        steps = try container.decode([CanaryStep].self, forKey: .steps)
        unanalyzed = try container.decodeIfPresent(Bool.self, forKey: .unanalyzed) ?? false
    }
}

public enum CanaryStep: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Send this percentage of traffic to the candidate.
    case setWeight(Int)
    /// Wait; `nil` waits until `promote`.
    case pause(TimeSpan?)
    /// Wait until this many consecutive analysis measurements pass.
    case analysis(passes: Int)

    /// The passes an `analysis` step waits for when it names none.
    public static let defaultAnalysisPasses = 3
    /// A manual gate: wait for `ripcord promote`, telling the humans (notifications) what to check.
    case confirm(message: String)

    public var description: String {
        switch self {
        case let .setWeight(weight): return "setWeight \(weight)%"
        case let .pause(duration?): return "pause \(duration)"
        case .pause(nil): return "pause until promoted"
        case let .analysis(passes): return "analysis (\(passes) passing measurements)"
        case let .confirm(message): return "confirm: \(message)"
        }
    }
}

public struct BlueGreenSpec: Sendable, Equatable, Codable {
    /// Where the candidate is reachable before the switch (smoke tests); `nil` means no preview door.
    public var previewListen: HostPort?
    /// Switch on its own after this long in preview; `nil` waits for `promote`.
    public var autoPromotionAfter: TimeSpan?
    /// How long the old version stays warm after the switch, so a rollback is instant.
    public var scaleDownDelay: TimeSpan

    public static let defaultScaleDownDelay = TimeSpan.seconds(30)

    public init(previewListen: HostPort? = nil, autoPromotionAfter: TimeSpan? = nil, scaleDownDelay: TimeSpan = defaultScaleDownDelay) {
        self.previewListen = previewListen
        self.autoPromotionAfter = autoPromotionAfter
        self.scaleDownDelay = scaleDownDelay
    }
}

/// Analysis of the candidate on the built-in router's measurements.
public struct AnalysisSpec: Sendable, Equatable, Codable {
    public var interval: TimeSpan
    /// Measurements with fewer candidate requests than this are not judged; requests carry over.
    public var minRequests: Int
    /// The rollout fails when failed measurements exceed this.
    public var failureLimit: Int
    /// Highest acceptable fraction of failed requests (5xx and connection failures), 0...1.
    public var maxErrorRate: Double?
    /// Highest acceptable latency per quantile, e.g. [0.99: 500ms].
    public var maxLatency: [LatencyLimit]
    /// How windows are judged.
    public var judge: AnalysisJudgeKind
    /// Metrics from providers (Prometheus, HTTP, command, router), each with its own conditions and limits.
    public var metrics: [MetricSpec]
    /// Start fresh instances of the stable version with the candidate's traffic share, and judge the
    /// candidate against them rather than against the long-running stable instances.
    public var baseline: Bool
    /// Passed windows the candidate needs at each traffic weight before the rollout moves on from it.
    public var minPassedWindows: Int
    /// What happens when the progress deadline passes without that evidence.
    public var onNoEvidence: NoEvidenceAction
    /// Requests Ripcord sends to the candidate itself while real traffic is below `minRequests` per window.
    public var syntheticTraffic: SyntheticTrafficSpec?
    /// The chance a rollout of a candidate no worse than its limits (threshold) or than stable
    /// (canaryBaseline) is rolled back anyway; the sequential judge has its own `sequential.alpha`.
    public var alpha: Double
    /// The service's usual traffic, for `ripcord validate --explain` (how long evidence takes, what may go wrong).
    public var expectedRequestsPerSecond: Double?

    public init(
        interval: TimeSpan = .seconds(1), minRequests: Int = 10, failureLimit: Int = 0,
        maxErrorRate: Double? = 0.02, maxLatency: [LatencyLimit] = [], judge: AnalysisJudgeKind = .threshold,
        metrics: [MetricSpec] = [], baseline: Bool = false, minPassedWindows: Int = 1, onNoEvidence: NoEvidenceAction = .rollback,
        syntheticTraffic: SyntheticTrafficSpec? = nil, alpha: Double = 0.01, expectedRequestsPerSecond: Double? = nil
    ) {
        self.interval = interval
        self.minRequests = minRequests
        self.failureLimit = failureLimit
        self.maxErrorRate = maxErrorRate
        self.maxLatency = maxLatency
        self.judge = judge
        self.metrics = metrics
        self.baseline = baseline
        self.minPassedWindows = minPassedWindows
        self.onNoEvidence = onNoEvidence
        self.syntheticTraffic = syntheticTraffic
        self.alpha = alpha
        self.expectedRequestsPerSecond = expectedRequestsPerSecond
    }

    private enum CodingKeys: String, CodingKey {
        case interval, minRequests, failureLimit, maxErrorRate, maxLatency, judge, metrics, baseline, minPassedWindows, onNoEvidence, syntheticTraffic
        case alpha, expectedRequestsPerSecond
    }

    /// Keys left out take their defaults, except `maxErrorRate`: absent is no limit (as stored when nil).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = AnalysisSpec()
        self.init(
            interval: try container.decodeIfPresent(TimeSpan.self, forKey: .interval) ?? defaults.interval,
            minRequests: try container.decodeIfPresent(Int.self, forKey: .minRequests) ?? defaults.minRequests,
            failureLimit: try container.decodeIfPresent(Int.self, forKey: .failureLimit) ?? defaults.failureLimit,
            maxErrorRate: try container.decodeIfPresent(Double.self, forKey: .maxErrorRate),
            maxLatency: try container.decodeIfPresent([LatencyLimit].self, forKey: .maxLatency) ?? [],
            judge: try container.decodeIfPresent(AnalysisJudgeKind.self, forKey: .judge) ?? defaults.judge,
            metrics: try container.decodeIfPresent([MetricSpec].self, forKey: .metrics) ?? [],
            baseline: try container.decodeIfPresent(Bool.self, forKey: .baseline) ?? false,
            minPassedWindows: try container.decodeIfPresent(Int.self, forKey: .minPassedWindows) ?? defaults.minPassedWindows,
            onNoEvidence: try container.decodeIfPresent(NoEvidenceAction.self, forKey: .onNoEvidence) ?? defaults.onNoEvidence,
            syntheticTraffic: try container.decodeIfPresent(SyntheticTrafficSpec.self, forKey: .syntheticTraffic),
            alpha: try container.decodeIfPresent(Double.self, forKey: .alpha) ?? defaults.alpha,
            expectedRequestsPerSecond: try container.decodeIfPresent(Double.self, forKey: .expectedRequestsPerSecond))
    }
}

/// What a rollout does when its progress deadline passes before the candidate showed evidence.
public enum NoEvidenceAction: String, Sendable, Equatable, Codable {
    /// Roll back with trigger `noEvidence`: what was not shown good is not promoted.
    case rollback
    /// Hold where it is and notify: a human promotes (--full) or aborts.
    case pause
}

public enum AnalysisJudgeKind: Sendable, Equatable, Codable {
    /// Each window against fixed limits (`maxErrorRate`, `maxLatency`).
    case threshold
    /// Continuous, always-valid sequential tests of the canary against the stable version's
    /// concurrent traffic: rolls back as soon as the evidence suffices, at a stated false-rollback rate.
    case sequential(SequentialJudgeSpec)
    /// Kayenta-style comparison of each window with the baseline's (or stable's) window: Mann-Whitney U
    /// on latency, a two-proportion test on errors, combined into a score.
    case canaryBaseline(CanaryBaselineJudgeSpec)
}

public struct CanaryBaselineJudgeSpec: Sendable, Equatable, Codable {
    /// Two-sided confidence at which a metric is classified high or low.
    public var confidenceLevel: Double
    /// Score (0...100) at or above which a window passes.
    public var passScore: Double
    /// Score at or above which a window is marginal (inconclusive); below it fails.
    public var marginalScore: Double
    /// Error-rate difference (absolute) that must also be exceeded to count as worse.
    public var errorRateTolerance: Double
    /// Median-latency change (relative) that must also be exceeded to count as worse.
    public var latencyTolerance: Double

    public init(
        confidenceLevel: Double = 0.99, passScore: Double = 95, marginalScore: Double = 75,
        errorRateTolerance: Double = 0.01, latencyTolerance: Double = 0.2
    ) {
        self.confidenceLevel = confidenceLevel
        self.passScore = passScore
        self.marginalScore = marginalScore
        self.errorRateTolerance = errorRateTolerance
        self.latencyTolerance = latencyTolerance
    }
}

public struct SequentialJudgeSpec: Sendable, Equatable, Codable {
    /// Probability of rolling back a canary that is no worse than stable (the false-rollback rate),
    /// split 80/20 between the error-rate and the latency test.
    public var alpha: Double
    /// Smallest error-rate increase worth catching, absolute (0.01 = one percentage point).
    public var minErrorRateIncrease: Double
    /// Smallest median-latency increase worth catching, relative (0.2 = +20 %).
    public var minLatencyIncrease: Double
    /// Canary requests after which the tests stop and the canary passes.
    public var maxCanaryRequests: Int

    public init(alpha: Double = 0.01, minErrorRateIncrease: Double = 0.01, minLatencyIncrease: Double = 0.2, maxCanaryRequests: Int = 12_000) {
        self.alpha = alpha
        self.minErrorRateIncrease = minErrorRateIncrease
        self.minLatencyIncrease = minLatencyIncrease
        self.maxCanaryRequests = maxCanaryRequests
    }

    /// The error-rate test's share of `alpha`: errors are the more common regression.
    public var errorAlpha: Double { alpha * 0.8 }
    public var latencyAlpha: Double { alpha - errorAlpha }
}

public struct LatencyLimit: Sendable, Equatable, Codable {
    /// The quantile, 0 < q < 1 (0.99 for p99).
    public var quantile: Double
    public var limit: TimeSpan
    public init(quantile: Double, limit: TimeSpan) {
        self.quantile = quantile
        self.limit = limit
    }

    public var label: String {
        let percent = quantile * 100
        return percent == percent.rounded() ? "p\(Int(percent))" : "p\(percent)"
    }
}

/// The whole configuration file.
public struct RipcordConfiguration: Sendable, Equatable {
    public var api: HostPort
    public var stateDirectory: String
    public var services: [ServiceSpec]
    public var notifications: [NotificationSpec]
    public var traffic: TrafficSpec
    public var router: RouterLimits
    /// Where the front doors are served: by `serve` itself, or by standalone `ripcord router` processes.
    public var routerMode: RouterMode
    /// Web origins (`https://app.example.com`, or `*`) whose pages may call the frontend API and
    /// OFREP from a browser (`api.cors.allowedOrigins`); empty: no cross-origin access.
    public var corsAllowedOrigins: [String]
    public var store: StateStoreSpec
    /// Leader election among the controllers sharing `store` (PostgreSQL only); nil with SQLite.
    public var highAvailability: HighAvailabilitySpec?

    /// Where the API listens when the configuration says nowhere (and where the CLI looks for it).
    public static let defaultAPI = HostPort(host: "127.0.0.1", port: 7070)
    /// Relative to the configuration file.
    public static let defaultStateDirectory = ".ripcord"
    public static let defaultTraffic = TrafficSpec.router

    public init(
        api: HostPort, stateDirectory: String, services: [ServiceSpec], notifications: [NotificationSpec] = [],
        traffic: TrafficSpec = defaultTraffic, router: RouterLimits = RouterLimits(), routerMode: RouterMode = .embedded,
        corsAllowedOrigins: [String] = [], store: StateStoreSpec = .sqlite, highAvailability: HighAvailabilitySpec? = nil
    ) {
        self.routerMode = routerMode
        self.store = store
        self.highAvailability = highAvailability
        self.api = api
        self.corsAllowedOrigins = corsAllowedOrigins
        self.stateDirectory = stateDirectory
        self.services = services
        self.notifications = notifications
        self.traffic = traffic
        self.router = router
    }

    public func service(named name: String) -> ServiceSpec? { services.first { $0.name == name } }
}

/// A service's schema migrations: the folder (as shipped with each version) and the database.
/// A person or team answering for a service, and how to reach them (a pager handle, a channel, an address).
public struct ServiceOwner: Sendable, Equatable, Hashable, Codable {
    public var name: String
    public var contact: String

    public init(name: String, contact: String) {
        self.name = name
        self.contact = contact
    }
}

public struct MigrationsSpec: Sendable, Equatable, Codable {
    public enum Database: Sendable, Equatable, Codable {
        case sqlite(path: String)
        /// The URL is usually a reference (`${DATABASE_URL}`); a written-out URL holds no password (the
        /// configuration refuses one: revisions are stored). The password comes from the referenced URL,
        /// `passwordFile`, `PGPASSWORD` or `~/.pgpass`, read when the database is opened. `sslMode` and
        /// `sslRootCert` override the URL's `sslmode` and `sslrootcert`.
        case postgres(url: SecretValue, passwordFile: String? = nil, sslMode: PostgresSSLMode? = nil, sslRootCert: String? = nil)
    }

    /// The folder of a version's migrations; `{version}` is filled in, so each version brings its own.
    public var folder: String
    public var database: Database
    public var lockTimeout: TimeSpan

    public static let defaultLockTimeout = TimeSpan.seconds(30)

    public init(folder: String, database: Database, lockTimeout: TimeSpan = defaultLockTimeout) {
        self.folder = folder
        self.database = database
        self.lockTimeout = lockTimeout
    }

    public func folder(of version: SemanticVersion) -> String {
        folder.replacingOccurrences(of: "{version}", with: version.description)
    }
}
