import Foundation

/// The release a migration was applied for: the service and its version.
public struct MigrationRelease: Sendable, Equatable, CustomStringConvertible {
    public let service: String
    public let version: String

    public init(service: String, version: String) {
        self.service = service
        self.version = version
    }

    public var description: String { "\(service)@\(version)" }
}

/// One row of the history table: a script that was applied (or, with `success` false, a
/// non-transactional script that started and did not finish).
public struct AppliedMigration: Sendable, Equatable {
    public let script: String
    public let kind: MigrationScript.Kind
    public let version: MigrationVersion?
    public let description: String
    public let checksum: String
    /// The undo script as it was when this migration was applied: what `undo` runs.
    public let undoScript: String?
    public let undoSQL: String?
    public let undoChecksum: String?
    public let appliedBy: String
    public let appliedAt: Date
    public let duration: Duration
    public let success: Bool
    public let release: MigrationRelease?
}

/// The history table, through SQL that SQLite and PostgreSQL both run.
enum HistoryTable {
    static let name = "ripcord_schema_history"

    static func create(_ session: any MigrationSession) async throws {
        try await session.execute(
            """
            CREATE TABLE IF NOT EXISTS \(name) (
                script TEXT PRIMARY KEY, kind TEXT NOT NULL, version TEXT, description TEXT NOT NULL, checksum TEXT NOT NULL,
                undo_script TEXT, undo_sql TEXT, undo_checksum TEXT,
                applied_by TEXT NOT NULL, applied_at BIGINT NOT NULL, duration_microseconds BIGINT NOT NULL,
                success INTEGER NOT NULL, release_service TEXT, release_version TEXT)
            """)
    }

    /// Whether the table is there, asked without creating it (a role that may only read cannot).
    static func exists(_ session: any MigrationSession, dialect: SQLDialect) async throws -> Bool {
        let sql =
            switch dialect {
            case .sqlite: "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
            case .postgres: "SELECT count(*) FROM pg_catalog.pg_class WHERE oid = to_regclass($1)"
            }
        return try await session.query(sql, [.text(name)]).first?.first.flatMap(\.integer).map { $0 > 0 } ?? false
    }

    private static let columns = """
        script, kind, version, description, checksum, undo_script, undo_sql, undo_checksum,
        applied_by, applied_at, duration_microseconds, success, release_service, release_version
        """

    static func all(_ session: any MigrationSession) async throws -> [AppliedMigration] {
        try await session.query("SELECT \(columns) FROM \(name)", []).map { row in
            guard row.count == 14, let script = row[0].text, let kindText = row[1].text, let kind = MigrationScript.Kind(rawValue: kindText) else {
                throw MigrationError.database("\(name) has a row this version of Ripcord cannot read: \(row)")
            }
            return AppliedMigration(
                script: script, kind: kind, version: row[2].text.flatMap(MigrationVersion.init), description: row[3].text ?? "",
                checksum: row[4].text ?? "", undoScript: row[5].text, undoSQL: row[6].text, undoChecksum: row[7].text,
                appliedBy: row[8].text ?? "", appliedAt: Date(timeIntervalSince1970: Double(row[9].integer ?? 0) / 1000),
                duration: .microseconds(row[10].integer ?? 0), success: row[11].integer == 1,
                release: row[12].text.map { MigrationRelease(service: $0, version: row[13].text ?? "") })
        }
        .sorted { ($0.version ?? MigrationVersion.repeatableOrder, $0.script) < ($1.version ?? MigrationVersion.repeatableOrder, $1.script) }
    }

    static func insert(_ session: any MigrationSession, _ row: AppliedMigration) async throws {
        let values: [SQLValue] = [
            .text(row.script), .text(row.kind.rawValue), row.version.map { .text($0.description) } ?? .null, .text(row.description),
            .text(row.checksum), row.undoScript.map(SQLValue.text) ?? .null, row.undoSQL.map(SQLValue.text) ?? .null,
            row.undoChecksum.map(SQLValue.text) ?? .null, .text(row.appliedBy),
            .integer(Int64(row.appliedAt.timeIntervalSince1970 * 1000)), .integer(row.duration.microseconds), .integer(row.success ? 1 : 0),
            row.release.map { .text($0.service) } ?? .null, row.release.map { .text($0.version) } ?? .null,
        ]
        let placeholders = (1...values.count).map { "$\($0)" }.joined(separator: ", ")
        try await session.execute("INSERT INTO \(name) (\(columns)) VALUES (\(placeholders))", values)
    }

    static func delete(_ session: any MigrationSession, script: String) async throws {
        try await session.execute("DELETE FROM \(name) WHERE script = $1", [.text(script)])
    }

    static func markSucceeded(_ session: any MigrationSession, script: String, duration: Duration) async throws {
        try await session.execute(
            "UPDATE \(name) SET success = 1, duration_microseconds = $1 WHERE script = $2",
            [.integer(duration.microseconds), .text(script)])
    }

    /// `repair`: the scripts on disk become the ones on record.
    static func acceptScripts(_ session: any MigrationSession, script: String, checksum: String, undo: MigrationScript?) async throws {
        try await session.execute(
            """
            UPDATE \(name) SET checksum = $1, undo_script = $2, undo_sql = $3, undo_checksum = $4 WHERE script = $5
            """,
            [
                .text(checksum), undo.map { .text($0.fileName) } ?? .null, undo.map { .text($0.sql) } ?? .null,
                undo.map { .text($0.checksum) } ?? .null, .text(script),
            ])
    }
}

extension MigrationVersion {
    /// Repeatable scripts sort after every version, as they run after the versioned ones.
    static let repeatableOrder = MigrationVersion(String(Int.max))!
}

extension Duration {
    var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}
