import Foundation
import GRDB
import RipcordCore

// A release is one row: its manifest, members and outcome as JSON, plus the columns queries need.
// Its members' rollouts live in the rollout table as ever, each naming the release.
extension SQLiteStore {
    static func createReleaseTable(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE release (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, phase TEXT NOT NULL,
                    terminal INTEGER NOT NULL, state TEXT NOT NULL, updated_at INTEGER NOT NULL);
                CREATE INDEX release_active ON release(terminal);
                """)
    }

    public func createRelease(at: Moment, _ make: @Sendable (Int64) -> Release) async throws -> Release {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO release (name, phase, terminal, state, updated_at) VALUES ('', '', 0, '', ?)",
                arguments: [at.millisecondsSinceEpoch])
            let release = make(db.lastInsertedRowID)
            try Self.update(db, release, at: at)
            return release
        }
    }

    public func saveRelease(_ release: Release, at: Moment) async throws {
        try await pool.write { db in try Self.update(db, release, at: at) }
    }

    private static func update(_ db: Database, _ release: Release, at: Moment) throws {
        // A finished release is history: nothing may turn it back into a running one.
        try db.execute(
            sql: "UPDATE release SET name = ?, phase = ?, terminal = ?, state = ?, updated_at = ? WHERE id = ? AND terminal = 0",
            arguments: [
                release.name, release.phase.rawValue, release.phase.isTerminal, try JSONCoding.encode(release),
                at.millisecondsSinceEpoch, release.id,
            ])
    }

    public func release(id: Int64) async throws -> Release? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT state FROM release WHERE id = ?", arguments: [id]).map { try JSONCoding.decode(Release.self, $0) }
        }
    }

    public func releases(limit: Int) async throws -> [Release] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM release ORDER BY id DESC LIMIT ?", arguments: [limit])
                .map { try JSONCoding.decode(Release.self, $0) }
        }
    }

    public func activeReleases() async throws -> [Release] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM release WHERE terminal = 0 ORDER BY id").map { try JSONCoding.decode(Release.self, $0) }
        }
    }
}
