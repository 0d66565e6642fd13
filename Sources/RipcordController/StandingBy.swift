import RipcordCore

/// A controller that shares its store and does not lead stands by: it knows the configured services and
/// answers reads from the store (what the leader last recorded), and acts on nothing until it is elected
/// and `start()`s as a restarted controller would.
extension Controller {
    public func standBy() {
        standingBy = true
        for spec in config.services where services[spec.name] == nil { services[spec.name] = ServiceState(spec: spec) }
    }

    /// Reads the service's stable version, latest rollout and instances as the leader recorded them.
    func refreshFromStore(service name: String) async throws {
        guard standingBy, services[name] != nil else { return }
        let stable = try await store.stableRevision(service: name)
        let latest = try await store.rollouts(service: name, limit: 1).first
        let instances = try await store.instances(service: name).filter { !$0.starting }
        services[name]?.stableVersion = stable?.version
        services[name]?.lastRollout = latest
        services[name]?.stable = instances.filter { $0.role == .stable && $0.version == stable?.version }
        services[name]?.recordedCandidates = instances.filter { $0.role == .candidate }
    }
}
