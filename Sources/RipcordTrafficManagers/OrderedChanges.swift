/// Runs changes one after another in the order they were asked for. An actor alone would let a
/// second change start while the first awaits its load balancer, and the older split could land last.
actor OrderedChanges {
    private var tail: Task<Void, Never>?

    func run(_ change: @escaping @Sendable () async throws -> Void) async throws {
        let previous = tail
        let current = Task {
            await previous?.value
            try await change()
        }
        tail = Task { _ = await current.result }
        try await current.value
    }
}
