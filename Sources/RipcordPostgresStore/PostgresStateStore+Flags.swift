import Foundation
import PostgresNIO
import RipcordCore
import RipcordFlagService
import RipcordFlags

// Flags as SQLiteStore keeps them (its +Flags extension): the current definition of each flag and
// segment per environment, an append-only change log holding both sides of every change, the SDKs'
// exposure totals and their registrations.
extension PostgresStateStore: FlagStore {
    public func flagState(environment: String) async throws -> FlagStateRecord {
        try await snapshot { connection in
            let revision = try await connection.first("SELECT COALESCE(MAX(id), 0) FROM flag_change WHERE environment = \(environment)", as: Int64.self) ?? 0
            let features = try await connection.rows("SELECT definition FROM flag WHERE environment = \(environment) ORDER BY position, name COLLATE \"C\"") {
                try JSONCoding.decode(FeatureDefinition.self, try $0.decode(String.self))
            }
            let segments = try await connection.rows("SELECT definition FROM flag_segment WHERE environment = \(environment) ORDER BY id") {
                try JSONCoding.decode(Segment.self, try $0.decode(String.self))
            }
            return FlagStateRecord(revision: revision, features: features, segments: segments)
        }
    }

    public func apply(_ mutations: [FlagMutation], environment: String, actor: String, reason: String?, at: Date) async throws -> [FlagChangeRecord] {
        let milliseconds = Self.milliseconds(at)
        return try await transaction { connection in
            // One writer per environment at a time: each compares with the state it replaces, and the
            // environment's revisions (its change ids) become visible in increasing order.
            try await connection.run("SELECT pg_advisory_xact_lock(hashtextextended('ripcord.flags:' || \(environment), 0))")
            var changes: [FlagChangeRecord] = []
            for mutation in mutations {
                let (target, before, after) = try await Self.apply(mutation, environment: environment, on: connection)
                guard before != after else { continue }
                let (kind, key) = Self.columns(target)
                let id = try await connection.first(
                    """
                    INSERT INTO flag_change (environment, target_kind, target, actor, at, before, after, reason)
                    VALUES (\(environment), \(kind), \(key), \(actor), \(milliseconds), \(before), \(after), \(reason))
                    RETURNING id
                    """, as: Int64.self)
                changes.append(
                    FlagChangeRecord(
                        id: try PostgresStateStoreError.require(id, "INSERT INTO flag_change returned no id"), environment: environment, target: target,
                        actor: actor, at: Self.date(milliseconds), before: before, after: after, reason: reason))
            }
            if !changes.isEmpty { try await Self.notifyTokensOrFlagsChanged(connection) }
            return changes
        }
    }

    /// Carries out one mutation: what it targets, and the target's JSON before and after (nil: absent).
    private static func apply(
        _ mutation: FlagMutation, environment: String, on connection: PostgresConnection
    ) async throws -> (target: FlagTarget, before: String?, after: String?) {
        switch mutation {
        case .putFlag(let feature):
            let before = try await connection.first(
                "SELECT definition FROM flag WHERE environment = \(environment) AND name = \(feature.name)", as: String.self)
            let after = try JSONCoding.encode(feature)
            if before != after {
                // New flags go last; an updated flag keeps its place in the document.
                try await connection.run(
                    """
                    INSERT INTO flag (environment, name, definition, position)
                    VALUES (\(environment), \(feature.name), \(after), (SELECT COALESCE(MAX(position), 0) + 1 FROM flag WHERE environment = \(environment)))
                    ON CONFLICT (environment, name) DO UPDATE SET definition = excluded.definition
                    """)
            }
            return (.flag(feature.name), before, after)
        case .deleteFlag(let name):
            let before = try await connection.first(
                "DELETE FROM flag WHERE environment = \(environment) AND name = \(name) RETURNING definition", as: String.self)
            return (.flag(name), before, nil)
        case .putSegment(let segment):
            let before = try await connection.first(
                "SELECT definition FROM flag_segment WHERE environment = \(environment) AND id = \(Int64(segment.id))", as: String.self)
            let after = try JSONCoding.encode(segment)
            try await connection.run(
                """
                INSERT INTO flag_segment (environment, id, definition) VALUES (\(environment), \(Int64(segment.id)), \(after))
                ON CONFLICT (environment, id) DO UPDATE SET definition = excluded.definition
                """)
            return (.segment(segment.id), before, after)
        case .deleteSegment(let id):
            let before = try await connection.first(
                "DELETE FROM flag_segment WHERE environment = \(environment) AND id = \(Int64(id)) RETURNING definition", as: String.self)
            return (.segment(id), before, nil)
        }
    }

    private static func columns(_ target: FlagTarget) -> (kind: String, key: String) {
        switch target {
        case .flag(let name): ("flag", name)
        case .segment(let id): ("segment", String(id))
        }
    }

    public func flagChanges(environment: String, target: FlagTarget?) async throws -> [FlagChangeRecord] {
        let (kind, key) = (target.map { Self.columns($0).kind }, target.map { Self.columns($0).key })
        return try await rows(
            """
            SELECT id, environment, target_kind, target, actor, at, before, after, reason FROM flag_change
            WHERE environment = \(environment) AND (\(kind)::text IS NULL OR (target_kind = \(kind) AND target = \(key)))
            ORDER BY id
            """
        ) { row in
            let (id, environment, kind, key, actor, at, before, after, reason) = try row.decode(
                (Int64, String, String, String, String, Int64, String?, String?, String?).self)
            return FlagChangeRecord(
                id: id, environment: environment, target: kind == "segment" ? .segment(Int(key) ?? 0) : .flag(key), actor: actor, at: Self.date(at),
                before: before, after: after, reason: reason)
        }
    }

    public func environments() async throws -> [String] {
        // COLLATE "C": ordered by bytes, as SQLite orders them, whatever the database's locale.
        try await rows("SELECT environment FROM flag_change GROUP BY environment ORDER BY environment COLLATE \"C\"") { try $0.decode(String.self) }
    }

    // MARK: Exposures and clients

    public func recordExposures(_ counts: [ExposureCount], environment: String, at: Date) async throws {
        try await transaction { connection in
            // Totals are read, added to and written back: reports for one environment take turns, or one
            // report's counts would overwrite another's.
            try await connection.run("SELECT pg_advisory_xact_lock(hashtextextended('ripcord.exposures:' || \(environment), 0))")
            for count in counts {
                var total =
                    try await connection.rows(
                        """
                        SELECT app_name, flag, yes, no, variants, last_seen FROM flag_exposure
                        WHERE environment = \(environment) AND app_name = \(count.appName) AND flag = \(count.flag)
                        """, Self.exposure
                    ).first ?? ExposureCount(appName: count.appName, flag: count.flag, yes: 0, no: 0, variants: [:])
                total.add(count)
                // Only a report of evaluations makes the flag seen (SDKs also send empty buckets).
                if count.yes > 0 || count.no > 0 { total.lastSeen = max(total.lastSeen ?? at, at) }
                try await connection.run(
                    """
                    INSERT INTO flag_exposure (environment, app_name, flag, yes, no, variants, last_seen)
                    VALUES (\(environment), \(count.appName), \(count.flag), \(Int64(total.yes)), \(Int64(total.no)), \(try JSONCoding.encode(total.variants)),
                        \(total.lastSeen.map(Self.milliseconds)))
                    ON CONFLICT (environment, app_name, flag) DO UPDATE SET yes = excluded.yes, no = excluded.no, variants = excluded.variants,
                        last_seen = excluded.last_seen
                    """)
            }
        }
    }

    public func exposures(environment: String) async throws -> [ExposureCount] {
        try await rows(
            """
            SELECT app_name, flag, yes, no, variants, last_seen FROM flag_exposure WHERE environment = \(environment)
            ORDER BY flag COLLATE "C", app_name COLLATE "C"
            """, Self.exposure)
    }

    /// A stored row of counts, read as SQLite's store reads its own: clients wrote these numbers, and a
    /// row copied from SQLite may hold what an older Ripcord let through (a negative count, bad JSON).
    private static func exposure(_ row: PostgresRow) throws -> ExposureCount {
        let (appName, flag, yes, no, variants, lastSeen) = try row.decode((String, String, Int64, Int64, String, Int64?).self)
        return ExposureCount(
            appName: appName, flag: flag, yes: Int(max(0, yes)), no: Int(max(0, no)),
            variants: ((try? JSONCoding.decode([String: Int].self, variants)) ?? [:]).mapValues { max(0, $0) }, lastSeen: lastSeen.map(date))
    }

    public func register(_ client: ClientRegistration, environment: String) async throws {
        try await transaction { connection in
            try await connection.run(
                """
                INSERT INTO flag_client (environment, app_name, instance_id, sdk_version, last_seen)
                VALUES (\(environment), \(client.appName), \(client.instanceId), \(client.sdkVersion), \(Self.milliseconds(client.lastSeen)))
                ON CONFLICT (environment, app_name, instance_id) DO UPDATE SET sdk_version = excluded.sdk_version, last_seen = excluded.last_seen
                """)
        }
    }

    public func clients(environment: String) async throws -> [ClientRegistration] {
        try await rows(
            """
            SELECT app_name, instance_id, sdk_version, last_seen FROM flag_client WHERE environment = \(environment)
            ORDER BY app_name COLLATE "C", instance_id COLLATE "C"
            """
        ) { row in
            let (appName, instanceID, sdkVersion, lastSeen) = try row.decode((String, String, String?, Int64).self)
            return ClientRegistration(appName: appName, instanceId: instanceID, sdkVersion: sdkVersion, lastSeen: Self.date(lastSeen))
        }
    }

    // MARK: Dates as SQLite's store keeps them (milliseconds since the epoch)

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
}

// MARK: Reading in one snapshot

extension PostgresStateStore {
    /// Runs `body` in one read-only transaction that sees one snapshot of the database: reads that belong
    /// together (a revision and the flags it stands for) agree even while another controller writes.
    func snapshot<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await transaction { connection in
            try await connection.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return try await body(connection)
        }
    }
}

extension PostgresConnection {
    /// The rows of one query in the connection's transaction, each decoded by `decode`.
    func rows<Row>(_ query: PostgresQuery, _ decode: (PostgresRow) throws -> Row) async throws -> [Row] {
        var rows: [Row] = []
        for try await row in try await self.query(query, logger: PostgresStateStore.logger) { rows.append(try decode(row)) }
        return rows
    }
}
