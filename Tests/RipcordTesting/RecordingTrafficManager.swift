import RipcordCore

/// A traffic manager that routes nothing: it records every `setBackends` in order, and answers
/// `metrics` with what the test says each version served (`serve`).
public actor RecordingTrafficManager: TrafficManager {
    public struct Change: Sendable, Equatable {
        public var service: String
        public var backends: [Backend]
        public var release: Int64?

        /// The candidate's share of the traffic in percent (0 without candidate backends).
        public var candidateShare: Int {
            let total = backends.reduce(0) { $0 + $1.weight }
            let candidate = backends.filter { $0.role == .candidate }.reduce(0) { $0 + $1.weight }
            return total == 0 ? 0 : candidate * 100 / total
        }

        /// "stable=90 candidate=10 baseline=0", in percent of the traffic.
        public var shares: String {
            let total = max(1, backends.reduce(0) { $0 + $1.weight })
            return [InstanceRole.stable, .candidate, .baseline].map { role in
                "\(role.rawValue)=\(backends.filter { $0.role == role }.reduce(0) { $0 + $1.weight } * 100 / total)"
            }.joined(separator: " ")
        }
    }

    public private(set) var changes: [Change] = []
    private var served: [String: VersionMetrics] = [:]
    private var silent: [String] = []
    private var lastPort = 39_999
    private let journal: Journal?

    public init(journal: Journal? = nil) { self.journal = journal }

    public func addService(name: String, listen: HostPort, previewListen: HostPort?) -> HostPort {
        guard listen.port == 0 else { return listen }
        lastPort += 1
        return HostPort(host: listen.host, port: lastPort)
    }

    public func setBackends(service: String, _ backends: [Backend]) {
        setBackends(service: service, backends, release: nil)
    }

    public func setBackends(service: String, _ backends: [Backend], release: Int64?) {
        let change = Change(service: service, backends: backends, release: release)
        changes.append(change)
        journal?.append("backends \(service) " + change.shares)
    }

    public func silentRouters() -> [String] { silent }

    /// Names standalone routers that stopped reporting, as `ExternalRouters` would (none: all report).
    public func fallSilent(_ routers: [String]) { silent = routers }

    public func metrics(service: String, version: SemanticVersion, role: InstanceRole) -> VersionMetrics {
        served[Self.key(service, version, role)] ?? VersionMetrics()
    }

    /// Counts `requests` answered by `version` in `role`, `errors` of them with 500, each in `latencyMilliseconds`.
    public func serve(
        service: String, version: SemanticVersion, role: InstanceRole, requests: Int, errors: Int = 0,
        latencyMilliseconds: Double = 20
    ) {
        var metrics = served[Self.key(service, version, role)] ?? VersionMetrics()
        for index in 0..<requests {
            metrics.recordResponse(status: index < errors ? 500 : 200, microseconds: UInt64(latencyMilliseconds * 1000))
        }
        served[Self.key(service, version, role)] = metrics
    }

    /// The service's changes, oldest first.
    public func changes(service: String) -> [Change] { changes.filter { $0.service == service } }

    private static func key(_ service: String, _ version: SemanticVersion, _ role: InstanceRole) -> String { "\(service)/\(version)/\(role.rawValue)" }
}
