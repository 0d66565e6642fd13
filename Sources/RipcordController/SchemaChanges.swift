import RipcordCore

/// Schema migrations tied to rollouts: checked before a deploy, applied before the candidate's
/// instances start (expand), undone back to the schema the rollout began with inside a rollback, and
/// to the schema an older revision needs on `undo`. Every script run is an event with its duration.
extension Controller {
    struct SchemaChangeFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// The schema before and the one `version` needs, or nil for a service without migrations; refuses
    /// a deploy whose migrations could not be rolled back or would break the running version, unless an
    /// app-only rollback is accepted.
    func planSchema(_ service: ServiceSpec, version: SemanticVersion, target: String? = nil,
                    acceptAppOnlyRollback: Bool) async throws -> SchemaPlan? {
        guard let spec = service.migrations else { return nil }
        guard let schemaMigrator else {
            throw ControllerError(.invalid, "migrations_unsupported", "\(service.name) has migrations, and this controller was started without a schema migrator")
        }
        do {
            return try await schemaMigrator.plan(spec, version: version, target: target, acceptAppOnlyRollback: acceptAppOnlyRollback)
        } catch let refusal as SchemaRefusal {
            throw ControllerError(.invalid, refusal.code, refusal.message)
        }
    }

    /// Brings the database to `target` for `version` and records each script run. Safe to repeat.
    func ensureSchema(_ target: String, version: SemanticVersion, rolloutID: Int64, service name: String) async throws {
        guard let spec = services[name]?.candidateSpec?.migrations ?? services[name]?.spec.migrations else { return }
        let runs: [SchemaScriptRun]
        do {
            guard let schemaMigrator else { throw ControllerError(.invalid, "migrations_unsupported", "this controller has no schema migrator") }
            runs = try await schemaMigrator.change(spec, to: target, version: version, service: name)
        } catch {
            await recordEvent(service: name, rolloutID: rolloutID, EventDraft(
                "migration.failed", "schema change to \(target) for \(version) failed: \(error)",
                evidence: ["target": target, "error": "\(error)"]))
            throw SchemaChangeFailed(description: "schema change to \(target) failed: \(error)")
        }
        guard !runs.isEmpty else { return }
        try await store.record(service: name, rolloutID: rolloutID, events: runs.map { run in
            EventDraft(run.direction == "undo" ? "migration.undone" : "migration.applied", "\(run.direction) \(run.script) in \(run.duration)",
                       evidence: ["script": run.script, "version": run.version ?? "", "direction": run.direction, "duration": run.duration, "schema": target])
        }, at: clock.now)
    }
}
