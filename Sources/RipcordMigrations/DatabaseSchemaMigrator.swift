import RipcordCore
import RipcordDrivers

/// The controller's `SchemaMigrator` on a service's real database (SQLite or PostgreSQL), opened with
/// its secrets as they are at each call (the spec holds only references).
public struct DatabaseSchemaMigrator: SchemaMigrator {
    public init() {}

    public func plan(_ spec: MigrationsSpec, version: SemanticVersion, target: String?, acceptAppOnlyRollback: Bool) async throws -> SchemaPlan {
        do {
            let migrator = try Self.migrator(spec, folder: spec.folder(of: version))
            let before = Self.appliedVersion(try await migrator.status())
            let needed = try target ?? MigrationFolder(path: spec.folder(of: version)).migrations.last?.version.description ?? "0"
            if let wanted = MigrationVersion(needed), let current = MigrationVersion(before), wanted > current,
                let refusal = try await migrator.rollbackSafety(to: wanted).refusal(acceptingAppOnlyRollback: acceptAppOnlyRollback)
            {
                throw Refusal(.invalid, "migrations_refused", "\(version): \(refusal)")
            }
            return SchemaPlan(before: before, target: needed)
        } catch let error as MigrationError {
            throw Refusal(.invalid, "migrations_invalid", "\(version): \(error)")
        }
    }

    public func change(_ spec: MigrationsSpec, to target: String, version: SemanticVersion, service: String) async throws -> [SchemaScriptRun] {
        guard let wanted = MigrationVersion(target) else { return [] }
        let migrator = try Self.migrator(spec, folder: spec.folder(of: version))
        let current = MigrationVersion(Self.appliedVersion(try await migrator.status())) ?? wanted
        if wanted == current { return [] }
        let runs =
            wanted > current
            ? try await migrator.migrate(to: wanted, release: MigrationRelease(service: service, version: version.description))
            : try await migrator.undo(to: wanted)
        return runs.map {
            SchemaScriptRun(direction: $0.direction.rawValue, script: $0.script, version: $0.version?.description, duration: TimeSpan($0.duration))
        }
    }

    static func migrator(_ spec: MigrationsSpec, folder: String) throws -> Migrator {
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

    /// The newest applied migration's version ("0" for none).
    static func appliedVersion(_ status: [MigrationStatus]) -> String {
        let applied: Set<MigrationStatus.State> = [.applied, .changed, .appliedNotInFolder]
        return status.filter { applied.contains($0.state) }.compactMap(\.version).max()?.description ?? "0"
    }
}
