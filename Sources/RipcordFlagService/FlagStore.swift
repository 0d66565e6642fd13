import Foundation
import RipcordCore
import RipcordFlags

/// What an access token may do. Admin tokens manage flags (and everything else); client (SDK)
/// tokens read the flags of one environment; frontend tokens only evaluate flags of one environment;
/// router tokens let one standalone router, named as the token, follow the routes and report;
/// viewer tokens only read the admin API (the web view's read-only sign-in).
public enum TokenKind: String, Codable, Sendable, CaseIterable {
    case admin, client, frontend, router, viewer

    /// Admin, router and viewer tokens are not bound to a flag environment.
    public var hasEnvironment: Bool { self == .client || self == .frontend }
}

/// A stored access token: only the SHA-256 hash of its secret is kept. Names are unique for good
/// (a revoked token keeps its name), so an event's actor always names one token.
public struct AccessTokenRecord: Codable, Sendable, Equatable {
    public var name: String
    public var hash: String
    public var kind: TokenKind
    /// The environment a client or frontend token is bound to; nil for admin tokens.
    public var environment: String?
    public var createdAt: Date
    /// After this moment the token is refused; nil: it does not expire.
    public var expiresAt: Date?
    /// When the token was revoked; nil while it is not.
    public var revokedAt: Date?
    /// The admin token created at first start, whose secret is in the state directory's `admin.token`.
    public var bootstrap: Bool
    /// Who made each change (the acting token's name; nil: Ripcord itself), and when it was last rotated.
    public var createdBy: String?
    public var revokedBy: String?
    public var rotatedAt: Date?
    public var rotatedBy: String?

    public init(
        name: String, hash: String, kind: TokenKind, environment: String?, createdAt: Date, expiresAt: Date? = nil,
        revokedAt: Date? = nil, bootstrap: Bool = false, createdBy: String? = nil, revokedBy: String? = nil,
        rotatedAt: Date? = nil, rotatedBy: String? = nil
    ) {
        self.name = name
        self.hash = hash
        self.kind = kind
        self.environment = environment
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.bootstrap = bootstrap
        self.createdBy = createdBy
        self.revokedBy = revokedBy
        self.rotatedAt = rotatedAt
        self.rotatedBy = rotatedBy
    }
}

/// One edit of an environment's flag state, as the store applies it.
public enum FlagMutation: Sendable, Equatable {
    case putFlag(FeatureDefinition)
    case deleteFlag(String)
    case putSegment(Segment)
    case deleteSegment(Int)
}

/// What a change touched: a flag (by name) or a segment (by id).
public enum FlagTarget: Sendable, Equatable, Hashable, Codable {
    case flag(String)
    case segment(Int)
}

/// One recorded change: who made it, when, and the target's state before and after (nil: absent).
public struct FlagChangeRecord: Sendable, Equatable {
    public var id: Int64
    public var environment: String
    public var target: FlagTarget
    public var actor: String
    public var at: Date
    /// JSON of the flag or segment before the change; nil when it did not exist.
    public var before: String?
    /// JSON after the change; nil when the change deleted it.
    public var after: String?
    /// Why the change was made, when its author said (e.g. the rollback that turned the flag off).
    public var reason: String?

    public init(
        id: Int64, environment: String, target: FlagTarget, actor: String, at: Date, before: String?, after: String?,
        reason: String? = nil
    ) {
        self.id = id
        self.environment = environment
        self.target = target
        self.actor = actor
        self.at = at
        self.before = before
        self.after = after
        self.reason = reason
    }
}

/// An environment's whole flag state. `revision` is the id of its latest change (0: never changed),
/// so it grows with every change and serves as ETag and streaming event id.
public struct FlagStateRecord: Sendable, Equatable {
    public var revision: Int64
    public var features: [FeatureDefinition]
    public var segments: [Segment]

    public init(revision: Int64, features: [FeatureDefinition], segments: [Segment]) {
        self.revision = revision
        self.features = features
        self.segments = segments
    }
}

/// How often an SDK saw a flag evaluate on and off, and each variant, as its metrics reported.
public struct ExposureCount: Codable, Sendable, Equatable {
    public var appName: String
    public var flag: String
    public var yes: Int
    public var no: Int
    public var variants: [String: Int]
    /// When an SDK last reported evaluating the flag (nil: never, or before this was recorded).
    public var lastSeen: Date?

    public init(appName: String, flag: String, yes: Int, no: Int, variants: [String: Int], lastSeen: Date? = nil) {
        self.appName = appName
        self.flag = flag
        self.yes = yes
        self.no = no
        self.variants = variants
        self.lastSeen = lastSeen
    }

    enum CodingKeys: String, CodingKey { case appName, flag, yes, no, variants, lastSeen }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            appName: try c.decode(String.self, forKey: .appName), flag: try c.decode(String.self, forKey: .flag),
            yes: try c.decode(Int.self, forKey: .yes), no: try c.decode(Int.self, forKey: .no),
            variants: try c.decode([String: Int].self, forKey: .variants),
            lastSeen: try c.decodeIfPresent(ISO8601Date.self, forKey: .lastSeen)?.date)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(appName, forKey: .appName)
        try c.encode(flag, forKey: .flag)
        try c.encode(yes, forKey: .yes)
        try c.encode(no, forKey: .no)
        try c.encode(variants, forKey: .variants)
        try c.encodeIfPresent(lastSeen.map(ISO8601Date.init), forKey: .lastSeen)
    }

    /// The most one report may count for one flag or variant. An SDK's bucket covers seconds to
    /// minutes; a larger number is not a count but an attempt to overflow the totals.
    public static let maxReportedCount = 1 << 40

    /// Counts a client may report: none negative or above `maxReportedCount`. Throws naming the field.
    public func validated() throws(Refusal) -> ExposureCount {
        func check(_ value: Int, _ field: String) throws(Refusal) {
            guard (0...Self.maxReportedCount).contains(value) else {
                throw Refusal(
                    .invalid, "invalid_count", "bucket.toggles.\(flag).\(field) must be a count from 0 to \(Self.maxReportedCount), not \(value)",
                    field: "bucket.toggles.\(flag).\(field)")
            }
        }
        try check(yes, "yes")
        try check(no, "no")
        for (variant, count) in variants { try check(count, "variants.\(variant)") }
        return self
    }

    /// Adds another report's counts to these totals. Totals stop at `Int.max` rather than
    /// overflow: years of counts from one SDK must not trap the process.
    public mutating func add(_ other: ExposureCount) {
        yes = Self.saturatingSum(yes, other.yes)
        no = Self.saturatingSum(no, other.no)
        variants.merge(other.variants, uniquingKeysWith: Self.saturatingSum)
    }

    static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? Int.max : Int.min) : sum
    }
}

/// An SDK instance that registered with `POST /api/client/register`.
public struct ClientRegistration: Codable, Sendable, Equatable {
    public var appName: String
    public var instanceId: String
    public var sdkVersion: String?
    public var lastSeen: Date

    public init(appName: String, instanceId: String, sdkVersion: String?, lastSeen: Date) {
        self.appName = appName
        self.instanceId = instanceId
        self.sdkVersion = sdkVersion
        self.lastSeen = lastSeen
    }

    enum CodingKeys: String, CodingKey { case appName, instanceId, sdkVersion, lastSeen }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            appName: try c.decode(String.self, forKey: .appName), instanceId: try c.decode(String.self, forKey: .instanceId),
            sdkVersion: try c.decodeIfPresent(String.self, forKey: .sdkVersion), lastSeen: try c.decode(ISO8601Date.self, forKey: .lastSeen).date)
    }

    /// `lastSeen` as ISO 8601 text (not Foundation's seconds since 2001).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(appName, forKey: .appName)
        try c.encode(instanceId, forKey: .instanceId)
        try c.encodeIfPresent(sdkVersion, forKey: .sdkVersion)
        try c.encode(ISO8601Date(lastSeen), forKey: .lastSeen)
    }
}

/// A date written as ISO 8601 text (`2026-01-31T12:00:00.000Z`) in JSON.
public struct ISO8601Date: Codable, Sendable, Equatable {
    public var date: Date

    public init(_ date: Date) { self.date = date }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let seconds = ISO8601Timestamp.parse(text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO 8601 date: \(text)")
        }
        date = Date(timeIntervalSince1970: seconds)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(ISO8601Timestamp.format(date.timeIntervalSince1970))
    }
}

/// Where flags, their change history, access tokens and SDK metrics are kept.
///
/// `apply` must be atomic: every mutation of one call and its change records land together or
/// not at all. Mutations that leave a target as it was are not recorded.
public protocol FlagStore: Sendable {
    func flagState(environment: String) async throws -> FlagStateRecord
    /// Applies the mutations in order and returns the changes recorded (one per target that changed).
    func apply(_ mutations: [FlagMutation], environment: String, actor: String, reason: String?, at: Date) async throws -> [FlagChangeRecord]
    /// Changes of an environment, oldest first; only those of `target` when given.
    func flagChanges(environment: String, target: FlagTarget?) async throws -> [FlagChangeRecord]
    func environments() async throws -> [String]

    /// Stores a new token; throws a conflict (`AccessTokenRules.creation`) when its name is taken.
    @discardableResult
    func addAccessToken(_ token: AccessTokenRecord) async throws -> AccessTokens
    func accessTokens() async throws -> AccessTokens
    /// Revokes the named token unless `AccessTokenRules.revocation` refuses; `by` names the acting token.
    func revokeAccessToken(name: String, at: Date, by actor: String?) async throws -> AccessTokens
    /// Gives the named token a new secret (its hash) and, when `expiresAt` is given, a new expiry
    /// (`.some(nil)`: none), unless `AccessTokenRules.rotation` refuses; `by` names the acting token.
    func rotateAccessToken(name: String, hash: String, expiresAt: Date??, at: Date, by actor: String?) async throws -> AccessTokens

    /// Adds reported counts to the totals; a report with evaluations makes its flag seen `at`.
    func recordExposures(_ counts: [ExposureCount], environment: String, at: Date) async throws
    func exposures(environment: String) async throws -> [ExposureCount]
    func register(_ client: ClientRegistration, environment: String) async throws
    func clients(environment: String) async throws -> [ClientRegistration]
}

extension FlagStore {
    public func recordExposures(_ counts: [ExposureCount], environment: String) async throws {
        try await recordExposures(counts, environment: environment, at: Date())
    }
}
