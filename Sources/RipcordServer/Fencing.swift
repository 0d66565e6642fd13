import RipcordCore

/// The traffic manager as a controller that shares its store sees it: nothing moves unless it leads now.
struct FencedTrafficManager: TrafficManager {
    let inner: any TrafficManager
    let gate: LeadershipGate

    private func ensureLeading(_ action: String) throws {
        guard gate.mayAct else { throw NotLeading(action: action) }
    }

    func addService(name: String, listen: HostPort, previewListen: HostPort?) async throws -> HostPort {
        try ensureLeading("opening \(name)'s door")
        return try await inner.addService(name: name, listen: listen, previewListen: previewListen)
    }

    func setBackends(service: String, _ backends: [Backend]) async throws {
        try ensureLeading("moving \(service)'s traffic")
        try await inner.setBackends(service: service, backends)
    }

    func setBackends(service: String, _ backends: [Backend], release: Int64?) async throws {
        try ensureLeading("moving \(service)'s traffic")
        try await inner.setBackends(service: service, backends, release: release)
    }

    func removeService(name: String) async throws {
        try ensureLeading("closing \(name)'s door")
        try await inner.removeService(name: name)
    }

    func metrics(service: String, version: SemanticVersion, role: InstanceRole) async -> VersionMetrics {
        await inner.metrics(service: service, version: version, role: role)
    }

    func silentRouters() async -> [String] { await inner.silentRouters() }
    func routesComplete() async { await inner.routesComplete() }
    var injectsFaults: Bool { inner.injectsFaults }
}

/// The instance driver as a controller that shares its store sees it: it starts and stops nothing unless it leads now.
struct FencedDriver: InstanceDriver {
    let inner: any InstanceDriver
    let gate: LeadershipGate

    func start(_ planned: InstanceRecord, service: ServiceSpec) async throws -> InstanceRecord {
        guard gate.mayAct else { throw NotLeading(action: "starting \(service.name) \(planned.version)") }
        return try await inner.start(planned, service: service)
    }

    /// Stopping is not refused with an error (callers do not expect one): it is left undone, for the new leader.
    func stop(_ instance: InstanceRecord, grace: TimeSpan) async {
        guard gate.mayAct else { return }
        await inner.stop(instance, grace: grace)
    }

    func isRunning(_ instance: InstanceRecord) async -> Bool { await inner.isRunning(instance) }
    func exitStatus(of instance: InstanceRecord) async -> String? { await inner.exitStatus(of: instance) }
    func running(_ instances: [InstanceRecord]) async -> [InstanceRecord] { await inner.running(instances) }
    func freePort() throws -> Int { try inner.freePort() }
}
