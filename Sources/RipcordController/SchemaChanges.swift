import RipcordCore
import RipcordDrivers
import RipcordMigrations

/// Schema migrations tied to rollouts: checked before a deploy, applied before the candidate's
/// instances start (expand), undone back to the schema the rollout began with inside a rollback, and
/// to the schema an older revision needs on `undo`. Every script run is an event with its duration.
extension Controller {
    struct SchemaChangeFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// The database opened with its secrets as they are now (the spec holds only references).
    func migrator(_ spec: MigrationsSpec, folder: String) throws -> Migrator {
        let database: any MigrationDatabase
        switch spec.database {
        case let .sqlite(path):
            database = SQLiteMigrationDatabase(path: path)
        case let .postgres(url, passwordFile, sslMode, sslRootCert):
            let address: String
            do { address = try url.resolve() } catch { throw MigrationError.badOption("the database URL \(url): \(error)") }
            database = try PostgresMigrationDatabase(url: address, passwordFile: passwordFile, sslMode: sslMode, sslRootCert: sslRootCert)
        }
        return Migrator(database: database, folder: folder, lockTimeout: spec.lockTimeout.duration)
    }

    /// The schema version the database has before a rollout, and the one its candidate needs.
    struct SchemaPlan {
        var before: String
        var target: String
    }

    /// The schema before and the one `version` needs (the newest migration in its folder, or `target`
    /// when given), or nil for a service without migrations; refuses, naming the scripts, a deploy whose
    /// migrations could not be rolled back or would break the running version, unless an app-only
    /// rollback is accepted.
    func planSchema(_ service: ServiceSpec, version: SemanticVersion, target: String? = nil,
                    acceptAppOnlyRollback: Bool) async throws -> SchemaPlan? {
        guard let spec = service.migrations else { return nil }
        do {
            let migrator = try migrator(spec, folder: spec.folder(of: version))
            let before = Self.appliedVersion(try await migrator.status())
            let needed = try target ?? MigrationFolder(path: spec.folder(of: version)).migrations.last?.version.description ?? "0"
            if let wanted = MigrationVersion(needed), let current = MigrationVersion(before), wanted > current,
               let refusal = try await migrator.rollbackSafety(to: wanted).refusal(acceptingAppOnlyRollback: acceptAppOnlyRollback) {
                throw ControllerError(.invalid, "migrations_refused", "\(version): \(refusal)")
            }
            return SchemaPlan(before: before, target: needed)
        } catch let error as MigrationError {
            throw ControllerError(.invalid, "migrations_invalid", "\(version): \(error)")
        }
    }

    /// Brings the database to `target` — up with the folder of `version`, or down with the undo
    /// scripts stored at apply time — and records each script run. Safe to repeat.
    func ensureSchema(_ target: String, version: SemanticVersion, rolloutID: Int64, service name: String) async throws {
        guard let spec = services[name]?.candidateSpec?.migrations ?? services[name]?.spec.migrations,
              let wanted = MigrationVersion(target) else { return }
        let runs: [ScriptRun]
        do {
            let migrator = try migrator(spec, folder: spec.folder(of: version))
            let current = MigrationVersion(Self.appliedVersion(try await migrator.status())) ?? wanted
            if wanted == current { return }
            runs = wanted > current
                ? try await migrator.migrate(to: wanted, release: MigrationRelease(service: name, version: version.description))
                : try await migrator.undo(to: wanted)
        } catch {
            await recordEvent(service: name, rolloutID: rolloutID, EventDraft(
                "migration.failed", "schema change to \(target) for \(version) failed: \(error)",
                evidence: ["target": target, "error": "\(error)"]))
            throw SchemaChangeFailed(description: "schema change to \(target) failed: \(error)")
        }
        try await store.record(service: name, rolloutID: rolloutID, events: runs.map { run in
            EventDraft(run.direction == .undo ? "migration.undone" : "migration.applied",
                       "\(run.direction.rawValue) \(run.script) in \(run.duration.formattedSeconds)",
                       evidence: ["script": run.script, "version": run.version?.description ?? "", "direction": run.direction.rawValue,
                                  "duration": run.duration.formattedSeconds, "schema": target])
        }, at: clock())
    }

    /// The newest applied migration's version ("0" for none).
    static func appliedVersion(_ status: [MigrationStatus]) -> String {
        let applied: Set<MigrationStatus.State> = [.applied, .changed, .appliedNotInFolder]
        return status.filter { applied.contains($0.state) }.compactMap(\.version).max()?.description ?? "0"
    }
}
