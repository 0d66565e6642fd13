import Foundation
import GRDB
import RipcordCore
import RipcordFlagService
import RipcordFlags

// Flags live in the same SQLite file as the rollout state: the current definition of each flag
// and segment per environment, plus an append-only change log holding both sides of every change.
extension SQLiteStore: FlagStore {
    static func createFlagTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE flag (environment TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,
                    position INTEGER NOT NULL, PRIMARY KEY (environment, name));
                CREATE TABLE flag_segment (environment TEXT NOT NULL, id INTEGER NOT NULL, definition TEXT NOT NULL,
                    PRIMARY KEY (environment, id));
                CREATE TABLE flag_change (id INTEGER PRIMARY KEY AUTOINCREMENT, environment TEXT NOT NULL,
                    target_kind TEXT NOT NULL, target TEXT NOT NULL, actor TEXT NOT NULL, at INTEGER NOT NULL,
                    before TEXT, after TEXT);
                CREATE INDEX flag_change_target ON flag_change(environment, target_kind, target, id);
                CREATE TABLE access_token (hash TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
                    environment TEXT, created_at INTEGER NOT NULL);
                CREATE TABLE flag_exposure (environment TEXT NOT NULL, app_name TEXT NOT NULL, flag TEXT NOT NULL,
                    yes INTEGER NOT NULL, no INTEGER NOT NULL, variants TEXT NOT NULL,
                    PRIMARY KEY (environment, app_name, flag));
                CREATE TABLE flag_client (environment TEXT NOT NULL, app_name TEXT NOT NULL, instance_id TEXT NOT NULL,
                    sdk_version TEXT, last_seen INTEGER NOT NULL, PRIMARY KEY (environment, app_name, instance_id));
                """)
    }

    static func addFlagChangeReason(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE flag_change ADD COLUMN reason TEXT")
    }

    static func addExposureLastSeen(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE flag_exposure ADD COLUMN last_seen INTEGER")
    }

    public func flagState(environment: String) async throws -> FlagStateRecord {
        try await pool.read { db in
            let revision = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM flag_change WHERE environment = ?", arguments: [environment]) ?? 0
            let features = try String.fetchAll(
                db, sql: "SELECT definition FROM flag WHERE environment = ? ORDER BY position, name",
                arguments: [environment]
            ).map { try JSONCoding.decode(FeatureDefinition.self, $0) }
            let segments = try String.fetchAll(
                db, sql: "SELECT definition FROM flag_segment WHERE environment = ? ORDER BY id",
                arguments: [environment]
            ).map { try JSONCoding.decode(Segment.self, $0) }
            return FlagStateRecord(revision: revision, features: features, segments: segments)
        }
    }

    public func apply(_ mutations: [FlagMutation], environment: String, actor: String, reason: String?, at: Date) async throws -> [FlagChangeRecord] {
        let milliseconds = Int64((at.timeIntervalSince1970 * 1000).rounded())
        return try await pool.write { db in
            var changes: [FlagChangeRecord] = []
            for mutation in mutations {
                let target: FlagTarget
                let before: String?
                let after: String?
                switch mutation {
                case .putFlag(let feature):
                    target = .flag(feature.name)
                    before = try String.fetchOne(
                        db, sql: "SELECT definition FROM flag WHERE environment = ? AND name = ?",
                        arguments: [environment, feature.name])
                    after = try JSONCoding.encode(feature)
                    if before != after {
                        // New flags go last; an updated flag keeps its place in the document.
                        let position =
                            try Int.fetchOne(
                                db, sql: "SELECT COALESCE(MAX(position), 0) + 1 FROM flag WHERE environment = ?",
                                arguments: [environment]) ?? 1
                        try db.execute(
                            sql: """
                                INSERT INTO flag (environment, name, definition, position) VALUES (?, ?, ?, ?)
                                ON CONFLICT(environment, name) DO UPDATE SET definition = excluded.definition
                                """, arguments: [environment, feature.name, after, position])
                    }
                case .deleteFlag(let name):
                    target = .flag(name)
                    before = try String.fetchOne(
                        db, sql: "SELECT definition FROM flag WHERE environment = ? AND name = ?",
                        arguments: [environment, name])
                    after = nil
                    try db.execute(sql: "DELETE FROM flag WHERE environment = ? AND name = ?", arguments: [environment, name])
                case .putSegment(let segment):
                    target = .segment(segment.id)
                    before = try String.fetchOne(
                        db, sql: "SELECT definition FROM flag_segment WHERE environment = ? AND id = ?",
                        arguments: [environment, segment.id])
                    after = try JSONCoding.encode(segment)
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO flag_segment (environment, id, definition) VALUES (?, ?, ?)",
                        arguments: [environment, segment.id, after])
                case .deleteSegment(let id):
                    target = .segment(id)
                    before = try String.fetchOne(
                        db, sql: "SELECT definition FROM flag_segment WHERE environment = ? AND id = ?",
                        arguments: [environment, id])
                    after = nil
                    try db.execute(sql: "DELETE FROM flag_segment WHERE environment = ? AND id = ?", arguments: [environment, id])
                }
                guard before != after else { continue }
                let (kind, key) = Self.columns(target)
                try db.execute(
                    sql: "INSERT INTO flag_change (environment, target_kind, target, actor, at, before, after, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    arguments: [environment, kind, key, actor, milliseconds, before, after, reason])
                changes.append(
                    FlagChangeRecord(
                        id: db.lastInsertedRowID, environment: environment, target: target, actor: actor,
                        at: Date(timeIntervalSince1970: Double(milliseconds) / 1000), before: before, after: after,
                        reason: reason))
            }
            return changes
        }
    }

    private static func columns(_ target: FlagTarget) -> (kind: String, key: String) {
        switch target {
        case .flag(let name): ("flag", name)
        case .segment(let id): ("segment", String(id))
        }
    }

    public func flagChanges(environment: String, target: FlagTarget?) async throws -> [FlagChangeRecord] {
        try await pool.read { db in
            var sql = "SELECT * FROM flag_change WHERE environment = ?"
            var arguments: StatementArguments = [environment]
            if let target {
                let (kind, key) = Self.columns(target)
                sql += " AND target_kind = ? AND target = ?"
                arguments += [kind, key]
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY id", arguments: arguments).map { row in
                let key: String = row["target"]
                let kind: String = row["target_kind"]
                return FlagChangeRecord(
                    id: row["id"], environment: row["environment"],
                    target: kind == "segment" ? .segment(Int(key) ?? 0) : .flag(key),
                    actor: row["actor"], at: Date(timeIntervalSince1970: Double(row["at"] as Int64) / 1000),
                    before: row["before"], after: row["after"], reason: row["reason"])
            }
        }
    }

    public func environments() async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT environment FROM flag_change ORDER BY environment")
        }
    }

    public func recordExposures(_ counts: [ExposureCount], environment: String, at: Date) async throws {
        try await pool.write { db in
            for count in counts {
                var total =
                    try Row.fetchOne(
                        db, sql: "SELECT * FROM flag_exposure WHERE environment = ? AND app_name = ? AND flag = ?",
                        arguments: [environment, count.appName, count.flag]
                    ).map(Self.exposure)
                    ?? ExposureCount(appName: count.appName, flag: count.flag, yes: 0, no: 0, variants: [:])
                total.add(count)
                // Only a report of evaluations makes the flag seen (SDKs also send empty buckets).
                if count.yes > 0 || count.no > 0 { total.lastSeen = max(total.lastSeen ?? at, at) }
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO flag_exposure (environment, app_name, flag, yes, no, variants, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        environment, count.appName, count.flag, total.yes, total.no, try JSONCoding.encode(total.variants),
                        total.lastSeen.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) },
                    ])
            }
        }
    }

    public func exposures(environment: String) async throws -> [ExposureCount] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM flag_exposure WHERE environment = ? ORDER BY flag, app_name", arguments: [environment])
                .map(Self.exposure)
        }
    }

    /// A stored row of counts, read without trusting it: clients wrote these numbers, and a row
    /// written before counts were bounded may hold a REAL (SQLite's answer to an overflowing sum).
    private static func exposure(_ row: Row) -> ExposureCount {
        func count(_ value: DatabaseValue) -> Int {
            switch value.storage {
            case .int64(let int): max(0, Int(int))
            case .double(let double): double.isNaN || double <= 0 ? 0 : (double >= Double(Int.max) ? Int.max : Int(double))
            default: 0
            }
        }
        let variants = (String.fromDatabaseValue(row["variants"]).flatMap { try? JSONCoding.decode([String: Int].self, $0) }) ?? [:]
        return ExposureCount(
            appName: String.fromDatabaseValue(row["app_name"]) ?? "", flag: String.fromDatabaseValue(row["flag"]) ?? "",
            yes: count(row["yes"]), no: count(row["no"]), variants: variants.mapValues { max(0, $0) },
            lastSeen: Int64.fromDatabaseValue(row["last_seen"]).map { Date(timeIntervalSince1970: Double($0) / 1000) })
    }

    public func register(_ client: ClientRegistration, environment: String) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO flag_client (environment, app_name, instance_id, sdk_version, last_seen) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    environment, client.appName, client.instanceId, client.sdkVersion,
                    Int64((client.lastSeen.timeIntervalSince1970 * 1000).rounded()),
                ])
        }
    }

    public func clients(environment: String) async throws -> [ClientRegistration] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM flag_client WHERE environment = ? ORDER BY app_name, instance_id", arguments: [environment]).map { row in
                ClientRegistration(
                    appName: row["app_name"], instanceId: row["instance_id"], sdkVersion: row["sdk_version"],
                    lastSeen: Date(timeIntervalSince1970: Double(row["last_seen"] as Int64) / 1000))
            }
        }
    }
}
