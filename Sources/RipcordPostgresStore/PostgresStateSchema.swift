import RipcordCore
import RipcordMigrations

/// The state tables in PostgreSQL: SQLite's tables (StateMigrations.swift) with PostgreSQL's types.
/// Moments are milliseconds since the epoch (BIGINT) and documents JSON text with sorted keys, as
/// in SQLite, so both stores read and write the same shapes.
///
enum PostgresStateSchema {
    /// Numbered scripts, as a migration folder names them: they never change once released, and a new
    /// one goes at the end. The migration engine (`RipcordMigrations.Migrator`) applies the ones a
    /// database lacks, each in its transaction, under its advisory lock, and records them in
    /// `ripcord_schema_history` with their checksums.
    static let scripts: [(name: String, sql: String)] = [
        (
            "V1__state.sql",
            """
            CREATE TABLE revision (
                service TEXT NOT NULL, number BIGINT NOT NULL, version TEXT NOT NULL, spec TEXT NOT NULL,
                created_at BIGINT NOT NULL, note TEXT NOT NULL, PRIMARY KEY (service, number));
            CREATE TABLE stable (service TEXT PRIMARY KEY, revision BIGINT NOT NULL);
            CREATE TABLE rollout (
                id BIGSERIAL PRIMARY KEY, service TEXT NOT NULL, phase TEXT NOT NULL, terminal BOOLEAN NOT NULL,
                state TEXT NOT NULL, updated_at BIGINT NOT NULL);
            CREATE INDEX rollout_service ON rollout (service, id);
            CREATE INDEX rollout_active ON rollout (id) WHERE NOT terminal;
            CREATE TABLE event (
                id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, service TEXT NOT NULL, rollout_id BIGINT, kind TEXT NOT NULL,
                message TEXT NOT NULL, evidence TEXT NOT NULL, actor TEXT);
            CREATE INDEX event_service ON event (service, id);
            CREATE INDEX event_rollout ON event (rollout_id, id);
            CREATE INDEX event_kind_at ON event (kind, at);
            CREATE TABLE instance (
                id TEXT PRIMARY KEY, service TEXT NOT NULL, version TEXT NOT NULL, host TEXT NOT NULL, port BIGINT NOT NULL,
                pid BIGINT NOT NULL, started_at BIGINT NOT NULL, role TEXT NOT NULL, driver TEXT, handle TEXT,
                starting BOOLEAN NOT NULL);
            CREATE INDEX instance_service ON instance (service);
            CREATE TABLE release (
                id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, phase TEXT NOT NULL, terminal BOOLEAN NOT NULL,
                state TEXT NOT NULL, updated_at BIGINT NOT NULL);
            CREATE INDEX release_active ON release (id) WHERE NOT terminal;
            CREATE TABLE rejected_version (
                service TEXT NOT NULL, version TEXT NOT NULL, rollout_id BIGINT NOT NULL, trigger TEXT NOT NULL,
                message TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (service, version));
            CREATE TABLE drill_schedule (service TEXT PRIMARY KEY, every_ms BIGINT NOT NULL, fault TEXT, next_at BIGINT NOT NULL);
            """
        ),
        (
            "V2__flags.sql",
            """
            -- SQLite's flag, token and guarded flag rollout tables as its migrations left them (SQLiteStore+Flags,
            -- +Tokens, +FlagRollouts), so `copyState(from:)` copies them column for column.
            CREATE TABLE flag (
                environment TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (environment, name));
            CREATE TABLE flag_segment (environment TEXT NOT NULL, id BIGINT NOT NULL, definition TEXT NOT NULL, PRIMARY KEY (environment, id));
            CREATE TABLE flag_change (
                id BIGSERIAL PRIMARY KEY, environment TEXT NOT NULL, target_kind TEXT NOT NULL, target TEXT NOT NULL, actor TEXT NOT NULL,
                at BIGINT NOT NULL, before TEXT, after TEXT, reason TEXT);
            CREATE INDEX flag_change_target ON flag_change (environment, target_kind, target, id);
            CREATE TABLE access_token (
                hash TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, environment TEXT, created_at BIGINT NOT NULL, expires_at BIGINT,
                revoked_at BIGINT, bootstrap BOOLEAN NOT NULL DEFAULT FALSE, changed BIGINT NOT NULL DEFAULT 0, created_by TEXT, revoked_by TEXT,
                rotated_at BIGINT, rotated_by TEXT);
            CREATE UNIQUE INDEX access_token_name ON access_token (name);
            CREATE TABLE flag_exposure (
                environment TEXT NOT NULL, app_name TEXT NOT NULL, flag TEXT NOT NULL, yes BIGINT NOT NULL, no BIGINT NOT NULL,
                variants TEXT NOT NULL, last_seen BIGINT, PRIMARY KEY (environment, app_name, flag));
            CREATE TABLE flag_client (
                environment TEXT NOT NULL, app_name TEXT NOT NULL, instance_id TEXT NOT NULL, sdk_version TEXT, last_seen BIGINT NOT NULL,
                PRIMARY KEY (environment, app_name, instance_id));
            CREATE TABLE flag_rollout (
                id BIGSERIAL PRIMARY KEY, flag TEXT NOT NULL, environment TEXT NOT NULL, settled BOOLEAN NOT NULL, state TEXT NOT NULL,
                updated_at BIGINT NOT NULL);
            CREATE INDEX flag_rollout_flag ON flag_rollout (environment, flag, id);
            CREATE INDEX flag_rollout_unsettled ON flag_rollout (id) WHERE NOT settled;
            CREATE TABLE flag_rollout_event (
                id BIGSERIAL PRIMARY KEY, rollout_id BIGINT NOT NULL, flag TEXT NOT NULL, at BIGINT NOT NULL, kind TEXT NOT NULL,
                message TEXT NOT NULL, evidence TEXT NOT NULL, actor TEXT);
            CREATE INDEX flag_rollout_event_rollout ON flag_rollout_event (rollout_id, id);
            """
        ),
        (
            "V3__leader_lease.sql",
            """
            -- One row: who leads, in which term, until when (the database's clock, in milliseconds).
            CREATE TABLE leader_lease (
                id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT NOT NULL, url TEXT NOT NULL, term BIGINT NOT NULL,
                since BIGINT NOT NULL, expires_at BIGINT NOT NULL);
            """
        ),
    ]

    /// Brings the database's tables up to date. Whoever starts first migrates; the others wait on the
    /// engine's lock, then find nothing to do.
    static func migrate(_ database: PostgresMigrationDatabase) async throws {
        let migrator = Migrator(database: database, folder: try MigrationFolder(path: "Ripcord's state schema", files: scripts), lockTimeout: .seconds(60))
        if let newer = try await migrator.status().first(where: { $0.state == .appliedNotInFolder }) {
            throw PostgresStateStoreError(
                message:
                    "the state schema has \(newer.script), newer than this Ripcord knows: upgrade Ripcord rather than let it write a schema it does not know")
        }
        _ = try await migrator.migrate()
    }
}
