import RipcordCore

/// Schema migrations tied to rollouts are checked before a deploy or an undo (here); a rollout's
/// reconciler applies them before its candidate starts and undoes them inside a rollback.
extension Controller {
    /// The schema before and the one `version` needs, or nil for a service without migrations; refuses
    /// a deploy whose migrations could not be rolled back or would break the running version, unless an
    /// app-only rollback is accepted.
    func planSchema(
        _ service: ServiceSpec, version: SemanticVersion, target: String? = nil,
        acceptAppOnlyRollback: Bool
    ) async throws -> SchemaPlan? {
        guard let spec = service.migrations else { return nil }
        guard let schemaMigrator else {
            throw ControllerError(.invalid, "migrations_unsupported", "\(service.name) has migrations, and this controller was started without a schema migrator")
        }
        return try await schemaMigrator.plan(spec, version: version, target: target, acceptAppOnlyRollback: acceptAppOnlyRollback)
    }
}
