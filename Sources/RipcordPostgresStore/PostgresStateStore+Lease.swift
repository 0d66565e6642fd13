import PostgresNIO
import RipcordCore

/// The leader's lease and the fence on writes that act on rollouts.
///
/// The lease is one row (`leader_lease`, id 1). Its times are the database's clock
/// (`statement_timestamp()`), so controllers on hosts whose clocks disagree still agree on when it ends.
extension PostgresStateStore: LeaseStore {
    /// The database's clock in milliseconds, as SQL: when the statement began, the same wherever it appears in it.
    static let databaseNow = "(EXTRACT(EPOCH FROM statement_timestamp()) * 1000)::BIGINT"

    public func claimLease(holder: String, url: String, duration: TimeSpan) async throws -> LeaseClaim {
        // One statement: take a free or expired lease (term + 1) or renew our own (same term); another's
        // live lease is left alone and read back instead.
        try await transaction { connection in
            let claimed = try await Self.leaseRows(
                connection,
                """
                INSERT INTO leader_lease AS lease (id, holder, url, term, since, expires_at)
                VALUES (1, \(holder), \(url), 1, \(unescaped: Self.databaseNow), \(unescaped: Self.databaseNow) + \(duration.milliseconds))
                ON CONFLICT (id) DO UPDATE SET
                    term = CASE WHEN lease.holder = excluded.holder AND lease.expires_at > excluded.since THEN lease.term ELSE lease.term + 1 END,
                    since = CASE WHEN lease.holder = excluded.holder AND lease.expires_at > excluded.since THEN lease.since ELSE excluded.since END,
                    holder = excluded.holder, url = excluded.url, expires_at = excluded.expires_at
                WHERE lease.holder = excluded.holder OR lease.expires_at <= excluded.since
                RETURNING holder, url, term, since, expires_at, \(unescaped: Self.databaseNow)
                """)
            if let claimed = claimed.first { return claimed }
            return try PostgresStateStoreError.require(
                try await Self.leaseRows(connection, "SELECT holder, url, term, since, expires_at, \(unescaped: Self.databaseNow) FROM leader_lease WHERE id = 1")
                    .first, "the lease row vanished during a claim")
        }
    }

    public func releaseLease(holder: String, term: Int64) async throws {
        try await transaction { connection in
            try await connection.run(
                "UPDATE leader_lease SET expires_at = \(unescaped: Self.databaseNow) WHERE id = 1 AND holder = \(holder) AND term = \(term)")
        }
    }

    public func currentLease() async throws -> Lease? {
        try await rows("SELECT holder, url, term, since, expires_at, \(unescaped: Self.databaseNow) FROM leader_lease WHERE id = 1", Self.claim)
            .first.flatMap { $0.lease.expiresAt > $0.databaseNow ? $0.lease : nil }
    }

    private static func leaseRows(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> [LeaseClaim] {
        var claims: [LeaseClaim] = []
        for try await row in try await connection.query(query, logger: logger) { claims.append(try claim(row)) }
        return claims
    }

    private static func claim(_ row: PostgresRow) throws -> LeaseClaim {
        let (holder, url, term, since, expiresAt, now) = try row.decode((String, String, Int64, Int64, Int64, Int64).self)
        return LeaseClaim(
            lease: Lease(
                holder: holder, url: url, term: term, since: Moment(millisecondsSinceEpoch: since), expiresAt: Moment(millisecondsSinceEpoch: expiresAt)),
            databaseNow: Moment(millisecondsSinceEpoch: now))
    }

    // MARK: Fencing

    /// Checked first in every transaction that acts on a rollout. `FOR SHARE` holds the lease row until
    /// the transaction ends, so the lease cannot change hands between this check and the commit.
    static func checkFence(_ fence: WriteFence, _ connection: PostgresConnection) async throws {
        switch fence {
        case .none:
            return
        case .standingBy:
            throw StaleLeaderWrite(fence: fence)
        case let .leader(holder, term):
            let current = try await connection.first(
                """
                SELECT term FROM leader_lease WHERE id = 1 AND holder = \(holder) AND expires_at > \(unescaped: databaseNow) FOR SHARE
                """, as: Int64.self)
            guard current == term else { throw StaleLeaderWrite(fence: fence) }
        }
    }
}
