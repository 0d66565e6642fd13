import RipcordCore
import RipcordFlags

// The flag admin API's requests and answers (`/api/v1/flags`, `/api/v1/tokens`): what the CLI decodes.

/// `POST /api/v1/flags/:name/rollout`.
public struct RolloutRequest: Codable, Sendable {
    public var percentage: Double
    public var stickiness: String?
    public var groupId: String?
    public init(percentage: Double, stickiness: String? = nil, groupId: String? = nil) {
        self.percentage = percentage
        self.stickiness = stickiness
        self.groupId = groupId
    }
}

/// `POST /api/v1/flags/:name/revert`: back to the state right after change `toChange`.
public struct RevertRequest: Codable, Sendable {
    public var toChange: Int64
    public init(toChange: Int64) { self.toChange = toChange }
}

/// An environment's flags: the Unleash export shape plus its revision and any compile warnings.
public struct FlagStateView: Codable, Sendable {
    public var environment: String
    public var revision: Int64
    public var version: Int
    public var features: [FeatureDefinition]
    public var segments: [Segment]
    public var warnings: [String]

    public init(environment: String, revision: Int64, version: Int, features: [FeatureDefinition], segments: [Segment], warnings: [String]) {
        self.environment = environment
        self.revision = revision
        self.version = version
        self.features = features
        self.segments = segments
        self.warnings = warnings
    }
}

/// One recorded change of a flag.
public struct FlagChangeView: Codable, Sendable {
    public var id: Int64
    public var at: String
    public var actor: String
    public var reason: String?
    public var before: FeatureDefinition?
    public var after: FeatureDefinition?

    public init(id: Int64, at: String, actor: String, reason: String? = nil, before: FeatureDefinition? = nil, after: FeatureDefinition? = nil) {
        self.id = id
        self.at = at
        self.actor = actor
        self.reason = reason
        self.before = before
        self.after = after
    }
}

/// The answer to import and apply: the changes made (or, on a dry run, planned).
public struct FlagApplyResult: Codable, Sendable {
    public var environment: String
    public var dryRun: Bool
    public var plan: [PlannedChange]
    public var changed: Int

    public init(environment: String, dryRun: Bool, plan: [PlannedChange], changed: Int) {
        self.environment = environment
        self.dryRun = dryRun
        self.plan = plan
        self.changed = changed
    }
}

public struct FlagMetricsView: Codable, Sendable {
    public var environment: String
    public var exposures: [ExposureCount]
    public var clients: [ClientRegistration]

    public init(environment: String, exposures: [ExposureCount], clients: [ClientRegistration]) {
        self.environment = environment
        self.exposures = exposures
        self.clients = clients
    }
}

/// `POST /api/v1/tokens`.
public struct CreateTokenRequest: Codable, Sendable {
    public var name: String
    public var kind: TokenKind
    public var environment: String?
    /// When the token stops working: a duration from now (`30d`, `12h`) or an ISO 8601 date or time; absent: never.
    public var expires: String?
    public init(name: String, kind: TokenKind, environment: String?, expires: String? = nil) {
        self.name = name
        self.kind = kind
        self.environment = environment
        self.expires = expires
    }
}

/// `POST /api/v1/tokens/:name/rotate`: a new secret for the same name, kind and environment.
public struct RotateTokenRequest: Codable, Sendable {
    /// A new expiry, as for creation (`never`: none); absent: the token keeps its expiry.
    public var expires: String?
    public init(expires: String?) { self.expires = expires }
}

/// A token as listed: never its hash; `token` (the secret) only in the answer that created or rotated it.
public struct TokenView: Codable, Sendable {
    public var name: String
    public var kind: TokenKind
    public var environment: String?
    public var createdAt: String
    public var expiresAt: String?
    public var state: AccessTokenState
    public var revokedAt: String?
    /// The names of the tokens that created, revoked and last rotated it (absent: Ripcord itself).
    public var createdBy: String?
    public var revokedBy: String?
    public var rotatedAt: String?
    public var rotatedBy: String?
    public var token: String?

    public init(
        name: String, kind: TokenKind, environment: String? = nil, createdAt: String, expiresAt: String? = nil, state: AccessTokenState, revokedAt: String? = nil,
        createdBy: String? = nil, revokedBy: String? = nil, rotatedAt: String? = nil, rotatedBy: String? = nil, token: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.environment = environment
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.state = state
        self.revokedAt = revokedAt
        self.createdBy = createdBy
        self.revokedBy = revokedBy
        self.rotatedAt = rotatedAt
        self.rotatedBy = rotatedBy
        self.token = token
    }
}
