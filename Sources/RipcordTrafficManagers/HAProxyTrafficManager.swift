import Foundation
import RipcordCore

/// Splits traffic through HAProxy without reloading it: each service's backend has a fixed set of
/// server slots (`server-template`), and Ripcord sets each slot's address, weight and state over
/// the runtime API. A removed backend's slot goes to maintenance: no new requests, the ones in
/// flight finish. Measurements come from HAProxy's per-server counters (`show stat`).
public actor HAProxyTrafficManager: TrafficManager {
    /// HAProxy's largest server weight.
    static let maximumWeight = 256

    private let names: HAProxyNames
    private let client: HAProxyRuntimeClient
    private let changes = OrderedChanges()
    /// Slot occupancy by HAProxy backend name.
    private var tables: [String: SlotTable] = [:]
    private var seriesOfSlot: [HAProxyRuntimeOutput.ServerKey: MetricsSeries] = [:]
    private var lastCounters: [HAProxyRuntimeOutput.ServerKey: ServerCounters] = [:]
    private var totals: [MetricsSeries: VersionMetrics] = [:]

    public init(spec: HAProxySpec) {
        names = HAProxyNames(prefix: spec.backendPrefix)
        client = HAProxyRuntimeClient(socketPath: spec.socket)
    }

    /// The frontends are HAProxy's own (rendered by `ripcord traffic render haproxy`); this checks
    /// that the service's backends are there and learns which slots already serve (after a restart).
    @discardableResult
    public func addService(name: String, listen: HostPort, previewListen: HostPort?) async throws -> HostPort {
        try await loadSlots(service: name)
        return listen
    }

    public func setBackends(service: String, _ backends: [Backend]) async throws {
        try await changes.run { try await self.apply(service: service, backends) }
    }

    public func metrics(service: String, version: SemanticVersion, role: InstanceRole) async -> VersionMetrics {
        try? await refreshCounters()
        return totals[MetricsSeries(service: service, version: version, role: role)] ?? VersionMetrics()
    }

    private func apply(service: String, _ backends: [Backend]) async throws {
        try await loadSlots(service: service)
        // Counts so far belong to the slots' current owners.
        try await refreshCounters()
        let weights = Weights.reduced(backends.map(\.weight), maximum: Self.maximumWeight)
        let candidates = backends.filter { $0.role == .candidate }
        var commands: [String] = []
        for (backend, members) in [
            (names.backend(service), zip(backends, weights).map { ($0, $1) }),
            (names.previewBackend(service), candidates.map { ($0, 1) }),
        ] {
            guard var table = tables[backend], let change = table.assign(members.map { $0.0.address }) else {
                throw TrafficManagerError(
                    "HAProxy backend '\(backend)' has \(tables[backend]?.capacity ?? 0) server slots, "
                        + "too few for \(members.count) instances: raise traffic.slots and render the configuration again")
            }
            tables[backend] = table
            for (slot, address) in change.assigned {
                commands.append("set server \(backend)/\(HAProxyNames.server(slot: slot)) addr \(address.host) port \(address.port)")
            }
            for (member, weight) in members {
                guard let slot = change.slots[member.address] else { continue }
                let server = "\(backend)/\(HAProxyNames.server(slot: slot))"
                commands += ["set server \(server) weight \(weight)", "set server \(server) state ready"]
                seriesOfSlot[.init(backend: backend, slot: slot)] = MetricsSeries(service: service, version: member.version, role: member.role)
            }
            for slot in change.released {
                commands.append("set server \(backend)/\(HAProxyNames.server(slot: slot)) state maint")
                seriesOfSlot[.init(backend: backend, slot: slot)] = nil
            }
        }
        let answers = try await client.run(commands)
        for (index, command) in commands.enumerated() {
            let answer = index < answers.count ? answers[index] : "(no answer)"
            guard HAProxyRuntimeOutput.isSuccess(answer) else {
                throw TrafficManagerError("HAProxy refused '\(command)': \(answer.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
    }

    private func loadSlots(service: String) async throws {
        for backend in [names.backend(service), names.previewBackend(service)] where tables[backend] == nil {
            let state = try await client.query("show servers state \(backend)")
            let (count, live) = HAProxyRuntimeOutput.liveSlots(serversState: state)
            guard count > 0 else {
                throw TrafficManagerError(
                    "HAProxy has no backend '\(backend)' with server slots s1…sN "
                        + "(install the configuration `ripcord traffic render haproxy` prints): \(state.prefix(200))")
            }
            if tables[backend] == nil { tables[backend] = SlotTable(capacity: count, occupied: live) }
        }
        try await refreshCounters()
    }

    /// Adds what each slot counted since the last look to the series it serves.
    private func refreshCounters() async throws {
        let counters = HAProxyRuntimeOutput.serverCounters(csv: try await client.query("show stat -1 4 -1"))
        for (key, current) in counters where tables[key.backend] != nil {
            guard let last = lastCounters[key] else {
                lastCounters[key] = current  // first look: what came before is not ours to attribute
                continue
            }
            if let series = seriesOfSlot[key] {
                totals[series, default: VersionMetrics()] = totals[series, default: VersionMetrics()] + current.metrics(since: last)
            }
            lastCounters[key] = last.merged(with: current)
        }
    }
}
