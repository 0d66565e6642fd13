import Foundation
import PostgresNIO
import RipcordCore
import RipcordFlagService

// Access tokens as SQLiteStore keeps them (its +Tokens extension): the hash of each secret with its
// name, kind, environment, expiry and revocation. Every change sets the row's `changed` to one past
// the highest, so MAX(changed) orders the tables the store hands out (`AccessTokens.generation`).
extension PostgresStateStore {
    /// Token changes take turns (across controllers too): the rules (`AccessTokenRules`) are checked
    /// against the tokens as they are when the change commits, and no two changes get the same `changed`.
    static let tokenLock: Int64 = 0x5249_5043_4F52_54  // "RIPCORT"

    @discardableResult
    public func addAccessToken(_ token: AccessTokenRecord) async throws -> AccessTokens {
        try await changingTokens { connection, tokens in
            try AccessTokenRules.creation(of: token, among: tokens)
            try await connection.run(
                """
                INSERT INTO access_token (hash, name, kind, environment, created_at, expires_at, revoked_at, bootstrap, created_by, changed)
                VALUES (\(token.hash), \(token.name), \(token.kind.rawValue), \(token.environment), \(Self.milliseconds(token.createdAt)),
                    \(token.expiresAt.map(Self.milliseconds)), \(token.revokedAt.map(Self.milliseconds)), \(token.bootstrap), \(token.createdBy),
                    (SELECT COALESCE(MAX(changed), 0) + 1 FROM access_token))
                """)
        }
    }

    public func accessTokens() async throws -> AccessTokens {
        try await snapshot(Self.tokens)
    }

    public func revokeAccessToken(name: String, at: Date, by actor: String?) async throws -> AccessTokens {
        try await changingTokens { connection, tokens in
            let token = try AccessTokenRules.revocation(of: name, among: tokens, at: at)
            try await connection.run(
                """
                UPDATE access_token SET revoked_at = \(Self.milliseconds(at)), revoked_by = \(actor),
                    changed = (SELECT MAX(changed) + 1 FROM access_token) WHERE hash = \(token.hash)
                """)
        }
    }

    public func rotateAccessToken(name: String, hash: String, expiresAt: Date??, at: Date, by actor: String?) async throws -> AccessTokens {
        try await changingTokens { connection, tokens in
            let token = try AccessTokenRules.rotation(of: name, among: tokens)
            let expiry = expiresAt ?? token.expiresAt
            try await connection.run(
                """
                UPDATE access_token SET hash = \(hash), expires_at = \(expiry.map(Self.milliseconds)), rotated_at = \(Self.milliseconds(at)),
                    rotated_by = \(actor), changed = (SELECT MAX(changed) + 1 FROM access_token) WHERE hash = \(token.hash)
                """)
        }
    }

    /// Runs `change` under the token lock with every token as it stands, and returns the tokens after it.
    /// A `Refusal` from the rules reaches the caller as itself (`transaction` reports other errors as
    /// `PostgresStateStoreError`); the rules refuse before anything is written.
    private func changingTokens(_ change: (PostgresConnection, [AccessTokenRecord]) async throws -> Void) async throws -> AccessTokens {
        try await transaction { connection -> Result<AccessTokens, Refusal> in
            try await connection.run("SELECT pg_advisory_xact_lock(\(Self.tokenLock))")
            do {
                try await change(connection, try await Self.tokens(connection).records)
            } catch let refusal as Refusal {
                return .failure(refusal)
            }
            try await Self.notifyTokensOrFlagsChanged(connection)
            return .success(try await Self.tokens(connection))
        }.get()
    }

    private static func tokens(_ connection: PostgresConnection) async throws -> AccessTokens {
        let generation = try await connection.first("SELECT COALESCE(MAX(changed), 0) FROM access_token", as: Int64.self) ?? 0
        // COLLATE "C": ties ordered by bytes, as SQLite orders them, whatever the database's locale.
        let records = try await connection.rows(
            """
            SELECT name, hash, kind, environment, created_at, expires_at, revoked_at, bootstrap, created_by, revoked_by, rotated_at, rotated_by
            FROM access_token ORDER BY created_at, name COLLATE "C"
            """
        ) { row in
            let (name, hash, kind, environment, createdAt, expiresAt, revokedAt, bootstrap, createdBy, revokedBy, rotatedAt, rotatedBy) = try row.decode(
                (String, String, String, String?, Int64, Int64?, Int64?, Bool, String?, String?, Int64?, String?).self)
            return AccessTokenRecord(
                name: name, hash: hash, kind: TokenKind(rawValue: kind) ?? .client, environment: environment, createdAt: date(createdAt),
                expiresAt: expiresAt.map(date), revokedAt: revokedAt.map(date), bootstrap: bootstrap, createdBy: createdBy, revokedBy: revokedBy,
                rotatedAt: rotatedAt.map(date), rotatedBy: rotatedBy)
        }
        return AccessTokens(generation: generation, records: records)
    }
}
