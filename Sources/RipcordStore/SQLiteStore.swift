import Foundation
import GRDB
import RipcordCore

/// The embedded store: one SQLite file in WAL mode. Every state change and its events are written
/// in one transaction, so a crash at any point leaves a consistent history.
public final class SQLiteStore: StateStore {
    let pool: DatabasePool
    public let path: String
    public let eventFeed = EventFeed()

    /// - Parameter checkingIntegrity: refuse (`DamagedStateError`) a file SQLite cannot read or that fails `PRAGMA quick_check`.
    public init(path: String, checkingIntegrity: Bool = false) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch let error where checkingIntegrity {
            throw DamagedStateError(path: path, problem: "cannot be opened: \(error)")
        }
        if checkingIntegrity { try Self.checkIntegrity(of: pool, path: path) }
        try Self.migrator.migrate(pool)
    }

    // MARK: Schema (StateMigrations.swift lists every migration in order)

    static func createRolloutTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE revision (
                    service TEXT NOT NULL, number INTEGER NOT NULL, version TEXT NOT NULL,
                    spec TEXT NOT NULL, created_at INTEGER NOT NULL, note TEXT NOT NULL,
                    PRIMARY KEY (service, number));
                CREATE TABLE stable (service TEXT PRIMARY KEY, revision INTEGER NOT NULL);
                CREATE TABLE rollout (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT NOT NULL, phase TEXT NOT NULL,
                    terminal INTEGER NOT NULL, state TEXT NOT NULL, updated_at INTEGER NOT NULL);
                CREATE INDEX rollout_service ON rollout(service, id);
                CREATE INDEX rollout_active ON rollout(terminal);
                CREATE TABLE event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, service TEXT NOT NULL,
                    rollout_id INTEGER, kind TEXT NOT NULL, message TEXT NOT NULL, evidence TEXT NOT NULL);
                CREATE INDEX event_service ON event(service, id);
                CREATE INDEX event_rollout ON event(rollout_id, id);
                CREATE TABLE instance (
                    id TEXT PRIMARY KEY, service TEXT NOT NULL, version TEXT NOT NULL, host TEXT NOT NULL,
                    port INTEGER NOT NULL, pid INTEGER NOT NULL, started_at INTEGER NOT NULL);
                CREATE TABLE token (name TEXT NOT NULL, hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
                """)
    }

    static func addInstanceRole(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE instance ADD COLUMN role TEXT NOT NULL DEFAULT 'stable'")
    }

    /// How an instance was started (JSON of its DriverSpec); rows from before have none: local processes.
    static func addInstanceDriver(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE instance ADD COLUMN driver TEXT; ALTER TABLE instance ADD COLUMN handle TEXT")
    }

    /// Instances saved before their start (the intent), so a crash mid-start leaves nothing untracked.
    static func addInstanceStarting(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE instance ADD COLUMN starting INTEGER NOT NULL DEFAULT 0")
    }

    /// Who caused an event (a token's name); events from before have none.
    static func addEventActor(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE event ADD COLUMN actor TEXT")
    }

    // MARK: Revisions

    public func appendRevision(service: String, version: SemanticVersion, spec: ServiceSpec, note: String, at: Moment) async throws -> Revision {
        let specJSON = try JSONCoding.encode(spec)
        return try await pool.write { db in
            let last = try Int.fetchOne(db, sql: "SELECT MAX(number) FROM revision WHERE service = ?", arguments: [service]) ?? 0
            let revision = Revision(service: service, number: last + 1, version: version, spec: spec, createdAt: at, note: note)
            try db.execute(
                sql: "INSERT INTO revision (service, number, version, spec, created_at, note) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [service, revision.number, version.description, specJSON, at.millisecondsSinceEpoch, note])
            return revision
        }
    }

    public func revisions(service: String) async throws -> [Revision] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM revision WHERE service = ? ORDER BY number", arguments: [service]).map(Self.revision)
        }
    }

    public func stableRevision(service: String) async throws -> Revision? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT revision.* FROM stable JOIN revision ON revision.service = stable.service AND revision.number = stable.revision
                    WHERE stable.service = ?
                    """, arguments: [service]
            ).map(Self.revision)
        }
    }

    private static func revision(_ row: Row) throws -> Revision {
        Revision(
            service: row["service"], number: row["number"], version: try SemanticVersion(parsing: row["version"]),
            spec: try JSONCoding.decode(ServiceSpec.self, row["spec"]), createdAt: Moment(millisecondsSinceEpoch: row["created_at"]),
            note: row["note"])
    }

    // MARK: Rollouts

    public func createRollout(at: Moment, events: [EventDraft], _ make: @Sendable (Int64) -> Rollout) async throws -> Rollout {
        let (rollout, stored) = try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO rollout (service, phase, terminal, state, updated_at) VALUES ('', '', 0, '', ?)",
                arguments: [at.millisecondsSinceEpoch])
            let rollout = make(db.lastInsertedRowID)
            try Self.update(db, rollout, at: at)
            return (rollout, try Self.insert(db, events: events, service: rollout.service, rolloutID: rollout.id, at: at))
        }
        await eventFeed.publish(stored)
        return rollout
    }

    public func save(_ rollout: Rollout, events: [EventDraft], at: Moment) async throws -> [Event] {
        let stored = try await pool.write { db in
            try Self.update(db, rollout, at: at)
            if rollout.phase == .promoted {
                try db.execute(
                    sql: "INSERT INTO stable (service, revision) VALUES (?, ?) ON CONFLICT(service) DO UPDATE SET revision = excluded.revision",
                    arguments: [rollout.service, rollout.revision])
                // Promoted after all (deployed with --force): the evidence now says it is good.
                try db.execute(
                    sql: "DELETE FROM rejected_version WHERE service = ? AND version = ?",
                    arguments: [rollout.service, rollout.candidateVersion.description])
            }
            // In the same transaction as the rollback, so no crash can forget that the version failed.
            if let rejection = rollout.rejection { try Self.insert(db, rejection) }
            return try Self.insert(db, events: events, service: rollout.service, rolloutID: rollout.id, at: at)
        }
        await eventFeed.publish(stored)
        return stored
    }

    private static func update(_ db: Database, _ rollout: Rollout, at: Moment) throws {
        // A finished rollout is history: nothing may turn it back into a live one.
        try db.execute(
            sql: "UPDATE rollout SET service = ?, phase = ?, terminal = ?, state = ?, updated_at = ? WHERE id = ? AND terminal = 0",
            arguments: [
                rollout.service, rollout.phase.rawValue, rollout.isTerminal, try JSONCoding.encode(rollout),
                at.millisecondsSinceEpoch, rollout.id,
            ])
    }

    public func rollout(id: Int64) async throws -> Rollout? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT state FROM rollout WHERE id = ?", arguments: [id]).map { try JSONCoding.decode(Rollout.self, $0) }
        }
    }

    public func rollouts(service: String, limit: Int) async throws -> [Rollout] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM rollout WHERE service = ? ORDER BY id DESC LIMIT ?", arguments: [service, limit])
                .map { try JSONCoding.decode(Rollout.self, $0) }
        }
    }

    public func activeRollouts() async throws -> [Rollout] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM rollout WHERE terminal = 0 ORDER BY id").map { try JSONCoding.decode(Rollout.self, $0) }
        }
    }

    // MARK: Events

    public func record(service: String, rolloutID: Int64?, events: [EventDraft], at: Moment) async throws -> [Event] {
        let stored = try await pool.write { db in try Self.insert(db, events: events, service: service, rolloutID: rolloutID, at: at) }
        await eventFeed.publish(stored)
        return stored
    }

    @discardableResult
    private static func insert(_ db: Database, events: [EventDraft], service: String, rolloutID: Int64?, at: Moment) throws -> [Event] {
        try events.map { draft in
            try db.execute(
                sql: "INSERT INTO event (at, service, rollout_id, kind, message, evidence, actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    at.millisecondsSinceEpoch, service, rolloutID, draft.kind.rawValue, draft.message, try JSONCoding.encode(draft.evidence),
                    draft.actor,
                ])
            return Event(
                id: db.lastInsertedRowID, at: at, service: service, rolloutID: rolloutID, kind: draft.kind,
                message: draft.message, evidence: draft.evidence, actor: draft.actor)
        }
    }

    public func lastEventID() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM event") ?? 0 }
    }

    public func events(service: String?, rolloutID: Int64?, afterID: Int64, limit: Int) async throws -> [Event] {
        try await pool.read { db in
            var conditions = ["id > ?"]
            var arguments: StatementArguments = [afterID]
            if let service {
                conditions.append("service = ?")
                arguments += [service]
            }
            if let rolloutID {
                conditions.append("rollout_id = ?")
                arguments += [rolloutID]
            }
            arguments += [limit]
            return try Row.fetchAll(
                db, sql: "SELECT * FROM event WHERE \(conditions.joined(separator: " AND ")) ORDER BY id LIMIT ?",
                arguments: arguments
            ).map(Self.event)
        }
    }

    public func events(kinds: Set<EventKind>, since: Moment, service: String?, limit: Int) async throws -> [Event] {
        try await pool.read { db in
            let kindList = kinds.map(\.rawValue).sorted()
            var arguments = StatementArguments(kindList) + [since.millisecondsSinceEpoch]
            var sql = "SELECT * FROM event WHERE kind IN (\(kindList.map { _ in "?" }.joined(separator: ","))) AND at >= ?"
            if let service {
                sql += " AND service = ?"
                arguments += [service]
            }
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql + " ORDER BY id LIMIT ?", arguments: arguments).map(Self.event)
        }
    }

    private static func event(_ row: Row) throws -> Event {
        Event(
            id: row["id"], at: Moment(millisecondsSinceEpoch: row["at"]), service: row["service"], rolloutID: row["rollout_id"],
            kind: EventKind(rawValue: row["kind"]), message: row["message"], evidence: try JSONCoding.decode([String: String].self, row["evidence"]),
            actor: row["actor"])
    }

    // MARK: Instances

    public func saveInstance(_ instance: InstanceRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO instance (id, service, version, host, port, pid, started_at, role, driver, handle, starting)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    instance.id, instance.service, instance.version.description, instance.host, instance.port,
                    instance.pid, instance.startedAt.millisecondsSinceEpoch, instance.role.rawValue,
                    try JSONCoding.encode(instance.driver), instance.handle, instance.starting,
                ])
        }
    }

    public func removeInstance(id: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM instance WHERE id = ?", arguments: [id]) }
    }

    public func instances(service: String) async throws -> [InstanceRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM instance WHERE service = ? ORDER BY started_at, id", arguments: [service]).map { row in
                InstanceRecord(
                    id: row["id"], service: row["service"], version: try SemanticVersion(parsing: row["version"]),
                    host: row["host"], port: row["port"], pid: row["pid"], startedAt: Moment(millisecondsSinceEpoch: row["started_at"]),
                    role: InstanceRole(rawValue: row["role"]) ?? .stable,
                    driver: try (row["driver"] as String?).map { try JSONCoding.decode(DriverSpec.self, $0) } ?? .process,
                    handle: row["handle"], starting: row["starting"])
            }
        }
    }
}
