import Foundation
import GRDB
import RipcordFlagService

// Access tokens: the hash of each secret with its name, kind, environment, expiry and revocation.
// Every change bumps the row's `changed` to one past the highest, so MAX(changed) orders the tables
// the store hands out (`AccessTokens.generation`).
extension SQLiteStore {
    /// The admin token bootstrapped at first start moves from `token` into `access_token`, and
    /// names become unique (older databases may hold a name twice: later ones get "-2", "-3" …).
    static func addTokenLifecycle(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE access_token ADD COLUMN expires_at INTEGER;
                ALTER TABLE access_token ADD COLUMN revoked_at INTEGER;
                ALTER TABLE access_token ADD COLUMN bootstrap INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE access_token ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE access_token ADD COLUMN created_by TEXT;
                ALTER TABLE access_token ADD COLUMN revoked_by TEXT;
                ALTER TABLE access_token ADD COLUMN rotated_at INTEGER;
                ALTER TABLE access_token ADD COLUMN rotated_by TEXT;
                INSERT OR IGNORE INTO access_token (hash, name, kind, environment, created_at, bootstrap)
                    SELECT hash, name, 'admin', NULL, created_at, 1 FROM token;
                DROP TABLE token;
                """)
        var taken: Set<String> = []
        for row in try Row.fetchAll(db, sql: "SELECT rowid, name FROM access_token ORDER BY bootstrap DESC, created_at, rowid") {
            let name: String = row["name"]
            var unique = name
            var suffix = 2
            while taken.contains(unique) {
                unique = "\(name)-\(suffix)"
                suffix += 1
            }
            taken.insert(unique)
            if unique != name {
                try db.execute(sql: "UPDATE access_token SET name = ? WHERE rowid = ?", arguments: [unique, row["rowid"] as Int64])
            }
        }
        try db.execute(sql: "CREATE UNIQUE INDEX access_token_name ON access_token(name)")
    }

    @discardableResult
    public func addAccessToken(_ token: AccessTokenRecord) async throws -> AccessTokens {
        try await pool.write { db in
            try AccessTokenRules.creation(of: token, among: try Self.tokens(db).records)
            try db.execute(
                sql: """
                    INSERT INTO access_token (hash, name, kind, environment, created_at, expires_at, revoked_at, bootstrap, created_by, changed)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(changed), 0) + 1 FROM access_token))
                    """,
                arguments: [
                    token.hash, token.name, token.kind.rawValue, token.environment, Self.milliseconds(token.createdAt),
                    token.expiresAt.map(Self.milliseconds), token.revokedAt.map(Self.milliseconds), token.bootstrap, token.createdBy,
                ])
            return try Self.tokens(db)
        }
    }

    public func accessTokens() async throws -> AccessTokens {
        try await pool.read { db in try Self.tokens(db) }
    }

    public func revokeAccessToken(name: String, at: Date, by actor: String?) async throws -> AccessTokens {
        try await pool.write { db in
            let token = try AccessTokenRules.revocation(of: name, among: try Self.tokens(db).records, at: at)
            try db.execute(
                sql: """
                    UPDATE access_token SET revoked_at = ?, revoked_by = ?, changed = (SELECT MAX(changed) + 1 FROM access_token) WHERE hash = ?
                    """, arguments: [Self.milliseconds(at), actor, token.hash])
            return try Self.tokens(db)
        }
    }

    public func rotateAccessToken(name: String, hash: String, expiresAt: Date??, at: Date, by actor: String?) async throws -> AccessTokens {
        try await pool.write { db in
            let token = try AccessTokenRules.rotation(of: name, among: try Self.tokens(db).records)
            let expiry = expiresAt ?? token.expiresAt
            try db.execute(
                sql: """
                    UPDATE access_token SET hash = ?, expires_at = ?, rotated_at = ?, rotated_by = ?,
                        changed = (SELECT MAX(changed) + 1 FROM access_token) WHERE hash = ?
                    """, arguments: [hash, expiry.map(Self.milliseconds), Self.milliseconds(at), actor, token.hash])
            return try Self.tokens(db)
        }
    }

    private static func tokens(_ db: Database) throws -> AccessTokens {
        let generation = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(changed), 0) FROM access_token") ?? 0
        let records = try Row.fetchAll(db, sql: "SELECT * FROM access_token ORDER BY created_at, name").map { row in
            AccessTokenRecord(
                name: row["name"], hash: row["hash"], kind: TokenKind(rawValue: row["kind"]) ?? .client,
                environment: row["environment"], createdAt: date(row["created_at"]),
                expiresAt: (row["expires_at"] as Int64?).map(date), revokedAt: (row["revoked_at"] as Int64?).map(date),
                bootstrap: row["bootstrap"], createdBy: row["created_by"], revokedBy: row["revoked_by"],
                rotatedAt: (row["rotated_at"] as Int64?).map(date), rotatedBy: row["rotated_by"])
        }
        return AccessTokens(generation: generation, records: records)
    }

    private static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    private static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
