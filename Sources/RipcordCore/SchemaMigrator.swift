/// Schema changes tied to rollouts: the controller's seam to a service's database. RipcordMigrations
/// implements it on SQLite and PostgreSQL, so the controller links no database driver.
public protocol SchemaMigrator: Sendable {
    /// The schema version applied now, and the one `version` needs (its folder's newest migration, or
    /// `target` when given). Throws a `Refusal` (`.invalid`) when the migrations are unreadable
    /// (`migrations_invalid`), or could not be rolled back or would break the running version
    /// (`migrations_refused`, unless an app-only rollback is accepted).
    func plan(_ spec: MigrationsSpec, version: SemanticVersion, target: String?, acceptAppOnlyRollback: Bool) async throws -> SchemaPlan
    /// Brings the database to `target` — up with the folder of `version`, or down with the undo scripts
    /// stored at apply time — and returns the scripts it ran (none when already there). Safe to repeat.
    func change(_ spec: MigrationsSpec, to target: String, version: SemanticVersion, service: String) async throws -> [SchemaScriptRun]
}

/// The schema version a database has before a rollout, and the one its candidate needs.
public struct SchemaPlan: Sendable, Equatable {
    public var before: String
    public var target: String

    public init(before: String, target: String) {
        self.before = before
        self.target = target
    }
}

/// One migration script run, as a rollout's event tells it.
public struct SchemaScriptRun: Sendable, Equatable {
    /// "apply", "undo" or "repeatable".
    public var direction: String
    public var script: String
    public var version: String?
    public var duration: TimeSpan

    public init(direction: String, script: String, version: String?, duration: TimeSpan) {
        self.direction = direction
        self.script = script
        self.version = version
        self.duration = duration
    }
}
