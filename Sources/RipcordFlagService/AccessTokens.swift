import Foundation
import RipcordCore

/// Where a token stands: only an active one is accepted.
public enum AccessTokenState: String, Codable, Sendable {
    case active, expired, revoked
}

extension AccessTokenRecord {
    public func state(at now: Date) -> AccessTokenState {
        if revokedAt != nil { return .revoked }
        if let expiresAt, expiresAt <= now { return .expired }
        return .active
    }
}

/// Every stored token, as of one change. `generation` grows with every change, so a reader that
/// holds an older table can tell, and two changes published out of order never undo each other.
public struct AccessTokens: Sendable, Equatable {
    public var generation: Int64
    public var records: [AccessTokenRecord]

    public init(generation: Int64, records: [AccessTokenRecord]) {
        self.generation = generation
        self.records = records
    }

    public func named(_ name: String) -> AccessTokenRecord? { records.first { $0.name == name } }
}

/// What may be done to tokens. Stores check these inside the transaction that makes the change.
public enum AccessTokenRules {
    public static func creation(of token: AccessTokenRecord, among tokens: [AccessTokenRecord]) throws(Refusal) {
        if let taken = tokens.first(where: { $0.name == token.name }) {
            let state = taken.revokedAt == nil ? "" : " (revoked; names stay taken so events keep naming one token)"
            throw Refusal(.conflict, "token_name_taken", "a token named '\(token.name)' already exists\(state); choose another name (ripcord tokens create --name NAME)")
        }
    }

    /// The token to revoke. Refused for an unknown or already revoked token, and for the last active
    /// admin token: without one nobody could use the API any more.
    public static func revocation(of name: String, among tokens: [AccessTokenRecord], at now: Date) throws(Refusal) -> AccessTokenRecord {
        let token = try existing(name, among: tokens)
        guard token.revokedAt == nil else { throw Refusal(.conflict, "token_revoked", "the token '\(name)' is already revoked") }
        let otherAdmins = tokens.filter { $0.name != name && $0.kind == .admin && $0.state(at: now) == .active }
        if token.kind == .admin, token.state(at: now) == .active, otherAdmins.isEmpty {
            let origin = token.bootstrap ? "the admin token created at first start and " : ""
            throw Refusal(
                .conflict, "last_admin_token",
                "'\(name)' is \(origin)the last active admin token: revoking it would lock everyone out of the API. "
                    + "Create another admin token first (ripcord tokens create --kind admin --name NAME), or rotate this one (ripcord tokens rotate \(name))")
        }
        return token
    }

    /// The token to rotate: any that is not revoked (an expired one may get a new secret and expiry).
    public static func rotation(of name: String, among tokens: [AccessTokenRecord]) throws(Refusal) -> AccessTokenRecord {
        let token = try existing(name, among: tokens)
        guard token.revokedAt == nil else {
            throw Refusal(.conflict, "token_revoked", "the token '\(name)' is revoked and cannot be rotated; create a new token")
        }
        return token
    }

    private static func existing(_ name: String, among tokens: [AccessTokenRecord]) throws(Refusal) -> AccessTokenRecord {
        guard let token = tokens.first(where: { $0.name == name }) else {
            throw Refusal(.notFound, "unknown_token", "no token named '\(name)' (see ripcord tokens list)")
        }
        return token
    }
}
