import NIOCore
import RipcordCore

/// One backend of a routing table, with everything the request path needs precomputed.
struct RoutedBackend: Sendable {
    let address: HostPort
    /// Resolved once when the table is built; `nil` falls back to resolving at connect time.
    let socketAddress: SocketAddress?
    let version: SemanticVersion
    let role: InstanceRole
    let weight: Int
    /// Index of this backend's version and role in the per-loop metrics arrays (stable across tables).
    let metricsSlot: Int
    /// `version.description`, computed once for the `x-ripcord-version` response header.
    let versionHeader: String
    /// A drill's fault on this backend's requests (`FaultInjection`).
    var fault: InjectedFault? = nil
}

/// An immutable snapshot of a service's backends, published to every event loop. Event loops
/// never mutate it; `setBackends` builds a new one and swaps it in on each loop.
final class RoutingTable: Sendable {
    let generation: UInt64
    let backends: [RoutedBackend]
    let weightedWeights: [Int]
    let candidateWeights: [Int]
    let stableWeights: [Int]
    let hasCandidate: Bool
    let hasStable: Bool
    /// The release the candidate backends belong to, if any.
    let candidateRelease: Int64?

    init(generation: UInt64, backends: [RoutedBackend], candidateRelease: Int64? = nil) {
        self.generation = generation
        self.backends = backends
        self.candidateRelease = candidateRelease
        self.weightedWeights = backends.map { max(0, $0.weight) }
        self.candidateWeights = backends.map { $0.role == .candidate ? 1 : 0 }
        self.stableWeights = backends.map { $0.role == .stable ? 1 : 0 }
        self.hasCandidate = backends.contains { $0.role == .candidate }
        self.hasStable = backends.contains { $0.role == .stable }
    }

    static let empty = RoutingTable(generation: 0, backends: [])

    /// A release pin decides over the route header: this service's candidate if it belongs to the
    /// pinned release, otherwise its stable version.
    func mode(route: RouteMode, pinnedRelease: Int64?) -> RouteMode {
        guard let pinnedRelease else { return route }
        return pinnedRelease == candidateRelease && hasCandidate ? .candidate : .stable
    }
}
