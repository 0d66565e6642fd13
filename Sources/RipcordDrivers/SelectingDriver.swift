import RipcordCore

/// Sends each start to the driver the service asks for (`run:` → processes, `driver.command` → the
/// user's scripts), and everything else about an instance to the driver that started it, as its record says.
public struct SelectingDriver: InstanceDriver {
    private let process: ProcessDriver
    private let command: CommandDriver

    public init(process: ProcessDriver, command: CommandDriver) {
        self.process = process
        self.command = command
    }

    private func driver(_ spec: DriverSpec) -> any InstanceDriver {
        switch spec {
        case .process: process
        case .command: command
        }
    }

    public func start(_ planned: InstanceRecord, service: ServiceSpec) async throws -> InstanceRecord {
        try await driver(service.driver).start(planned, service: service)
    }

    public func stop(_ instance: InstanceRecord, grace: TimeSpan) async {
        await driver(instance.driver).stop(instance, grace: grace)
    }

    public func isRunning(_ instance: InstanceRecord) async -> Bool {
        await driver(instance.driver).isRunning(instance)
    }

    public func exitStatus(of instance: InstanceRecord) async -> String? {
        await driver(instance.driver).exitStatus(of: instance)
    }

    /// Each driver asked once about its own instances, in the order given.
    public func running(_ instances: [InstanceRecord]) async -> [InstanceRecord] {
        async let commandAlive = command.running(instances.filter { $0.driver != .process })
        let processAlive = await process.running(instances.filter { $0.driver == .process })
        let alive = Set((await commandAlive + processAlive).map(\.id))
        return instances.filter { alive.contains($0.id) }
    }
}
