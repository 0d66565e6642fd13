import RipcordCore

/// Everything a standalone router serves, as the controller publishes it (`GET /api/v1/routes/watch`)
/// and as the router keeps it in its state file. Each change gets a higher generation.
public struct FleetRoutes: Codable, Sendable, Equatable {
    public var generation: UInt64
    /// ripcord.yaml's `router:` limits, which every router applies to its front doors.
    public var limits: RouterLimits
    public var services: [ServiceRoutes]

    public init(generation: UInt64, limits: RouterLimits, services: [ServiceRoutes]) {
        self.generation = generation
        self.limits = limits
        self.services = services
    }
}

/// What changed in the table from generation `base` to `generation`: the routes stream sends the
/// whole table when a router connects, then one of these per change, so a change to one service
/// costs one service's routes on the wire and in every router, not the whole table.
public struct FleetRoutesDelta: Codable, Sendable, Equatable {
    /// The generation the change applies to: a router that serves another one has missed a change.
    public var base: UInt64
    public var generation: UInt64
    /// Services added or changed, each whole.
    public var changed: [ServiceRoutes]
    /// Services no longer in the table.
    public var removed: [String]

    public init(base: UInt64, generation: UInt64, changed: [ServiceRoutes] = [], removed: [String] = []) {
        self.base = base
        self.generation = generation
        self.changed = changed
        self.removed = removed
    }
}

extension FleetRoutes {
    /// The table with `delta` applied, or nil when the delta was made from another generation than
    /// this one's (a change was missed: only the whole table can tell what is served now).
    public func applying(_ delta: FleetRoutesDelta) -> FleetRoutes? {
        guard delta.base == generation else { return nil }
        var next = self
        next.generation = delta.generation
        if !delta.removed.isEmpty {
            let removed = Set(delta.removed)
            next.services.removeAll { removed.contains($0.name) }
        }
        for service in delta.changed {
            if let index = next.services.firstIndex(where: { $0.name == service.name }) {
                next.services[index] = service
            } else {
                next.services.append(service)
            }
        }
        return next
    }
}

/// One service's doors and backends.
public struct ServiceRoutes: Codable, Sendable, Equatable {
    public var name: String
    public var listen: HostPort
    public var previewListen: HostPort?
    public var backends: [Backend]
    /// The release the candidate belongs to (a request pinned to it reaches the candidate).
    public var release: Int64?

    public init(name: String, listen: HostPort, previewListen: HostPort?, backends: [Backend] = [], release: Int64? = nil) {
        self.name = name
        self.listen = listen
        self.previewListen = previewListen
        self.backends = backends
        self.release = release
    }
}

/// What a router tells the controller (`POST /api/v1/routers/{name}/reports`): the routing generation
/// it serves and its cumulative measurements since it started (`boot`), right after applying a table
/// and then every half second.
public struct RouterReport: Codable, Sendable, Equatable {
    /// Changes every time the router process starts: its counters start again from zero.
    public var boot: String
    public var generation: UInt64
    /// What the router could not apply (a door it cannot bind), for `GET /api/v1/routers`.
    public var problems: [String]
    public var series: [SeriesMeasurement]

    public init(boot: String, generation: UInt64, problems: [String] = [], series: [SeriesMeasurement]) {
        self.boot = boot
        self.generation = generation
        self.problems = problems
        self.series = series
    }

    /// Bounds on what one report may hold: it comes over the network and is summed into every analysis.
    /// Series: a few versions and roles each for thousands of services, and still well under the body limit.
    public static let maxSeries = 8192
    public static let maxProblems = 64
    public static let maxBodyBytes = 8 * 1024 * 1024
    /// The largest counter a report may carry: 350 years at 100,000 requests/s, and small enough
    /// that sums over every router and restart cannot overflow.
    public static let maxCount: UInt64 = 1 << 50
}

/// One version of one service in one role, as measured by one router.
public struct SeriesMeasurement: Codable, Sendable, Equatable {
    public var service: String
    public var version: SemanticVersion
    public var role: InstanceRole
    public var metrics: VersionMetrics

    public init(service: String, version: SemanticVersion, role: InstanceRole, metrics: VersionMetrics) {
        self.service = service
        self.version = version
        self.role = role
        self.metrics = metrics
    }
}

/// A router as the controller knows it (`GET /api/v1/routers`).
public struct RouterView: Codable, Sendable, Equatable {
    public var name: String
    public var boot: String
    /// The routing generation the router last said it serves, and the controller's current one.
    public var generation: UInt64
    public var currentGeneration: UInt64
    /// Seconds since its last report.
    public var silentForSeconds: Double
    /// False once it has been silent longer than the controller waits (its measurements are missing).
    public var reporting: Bool
    /// Whether it holds the routes stream open now.
    public var connected: Bool
    public var problems: [String]

    public init(
        name: String, boot: String, generation: UInt64, currentGeneration: UInt64, silentForSeconds: Double, reporting: Bool,
        connected: Bool, problems: [String]
    ) {
        self.name = name
        self.boot = boot
        self.generation = generation
        self.currentGeneration = currentGeneration
        self.silentForSeconds = silentForSeconds
        self.reporting = reporting
        self.connected = connected
        self.problems = problems
    }
}

/// What the routes stream carries to one router: the whole table when it connects, then each change,
/// and heartbeats that tell the router its controller is still there.
public enum RouteStreamMessage: Sendable, Equatable {
    case routes(FleetRoutes)
    case delta(FleetRoutesDelta)
    case heartbeat
}

/// A router's name: it appears in paths, events and logs.
public enum RouterName {
    public static let rule = "1 to 64 letters, digits, '.', '-' or '_'"

    public static func isValid(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2E || byte == 0x2D || byte == 0x5F
            }
    }
}
