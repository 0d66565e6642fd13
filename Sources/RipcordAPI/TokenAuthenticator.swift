import Crypto
import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import RipcordCore
import RipcordFlagService
import RipcordFlags

/// Who presented a token: its name (recorded as the actor of the changes it makes), kind and environment.
public struct TokenPrincipal: Sendable, Equatable {
    public var name: String
    public var kind: TokenKind
    /// The environment of a client or frontend token.
    public var environment: String?
    /// After this moment the token is refused; nil: it does not expire.
    public var expiresAt: Date?

    public init(name: String, kind: TokenKind, environment: String?, expiresAt: Date? = nil) {
        self.name = name
        self.kind = kind
        self.environment = environment
        self.expiresAt = expiresAt
    }

    public func isExpired(at now: Date) -> Bool { expiresAt.map { $0 <= now } ?? false }
}

/// What a presented secret turned out to be.
public enum TokenVerdict: Sendable, Equatable {
    case valid(TokenPrincipal)
    case expired(name: String, at: Date)
    case revoked(name: String)
    case unknown
}

/// Token authentication. Only SHA-256 hashes of tokens are stored; a token itself is shown
/// once (or written to an owner-only file) and never logged. Every change to the stored tokens is
/// published here (`update`) before the API answers, so a revoked token is refused at once.
public final class TokenAuthenticator: Sendable {
    private struct Entry: Sendable {
        var principal: TokenPrincipal
        var revoked: Bool
    }

    private let table: NIOLockedValueBox<(generation: Int64, entries: [String: Entry])>
    /// Where the bootstrap admin token's secret is kept (rewritten when that token is rotated); nil: nowhere.
    public let tokenFile: String?

    public init(_ tokens: AccessTokens, tokenFile: String? = nil) {
        table = NIOLockedValueBox((-1, [:]))
        self.tokenFile = tokenFile
        update(tokens)
    }

    /// Takes the stored tokens as of `tokens.generation`; an older table than the one held is ignored.
    public func update(_ tokens: AccessTokens) {
        let entries = Dictionary(
            tokens.records.map { record in
                (
                    record.hash,
                    Entry(
                        principal: TokenPrincipal(
                            name: record.name, kind: record.kind, environment: record.environment,
                            expiresAt: record.expiresAt),
                        revoked: record.revokedAt != nil)
                )
            }, uniquingKeysWith: { first, _ in first })
        table.withLockedValue { table in
            guard tokens.generation > table.generation else { return }
            table = (tokens.generation, entries)
        }
    }

    /// Grows with every change of the tokens: a cached principal older than this is stale.
    public var generation: Int64 { table.withLockedValue { $0.generation } }

    /// The principal of a valid (known, unrevoked, unexpired) token.
    public func principal(for token: String) -> TokenPrincipal? {
        if case let .valid(principal) = verdict(for: token) { return principal }
        return nil
    }

    public func verdict(for token: String, at now: Date = Date()) -> TokenVerdict {
        let hash = Self.hash(token)
        guard let entry = table.withLockedValue({ $0.entries[hash] }) else { return .unknown }
        if entry.revoked { return .revoked(name: entry.principal.name) }
        if let expiresAt = entry.principal.expiresAt, expiresAt <= now { return .expired(name: entry.principal.name, at: expiresAt) }
        return .valid(entry.principal)
    }

    /// The token in an SDK's `Authorization` header: Unleash SDKs send it as is, others after "Bearer ".
    public static func sdkToken(fromAuthorization header: String) -> String {
        header.hasPrefix("Bearer ") ? String(header.dropFirst("Bearer ".count)) : header
    }

    /// Lower-case hex SHA-256. Runs on every SDK request, so it avoids `String(format:)`.
    public static func hash(_ token: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(token.utf8)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    public static func generateToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return "rpc_" + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// Makes sure an active admin token exists: on first start (or when every admin token has been
    /// revoked or has expired), creates one, writes it to `tokenFile` with mode 0600 and stores its hash.
    /// Returns the authenticator for all stored tokens.
    public static func bootstrap(store: any FlagStore, tokenFile: String, at now: Date) async throws -> TokenAuthenticator {
        var tokens = try await store.accessTokens()
        if !tokens.records.contains(where: { $0.kind == .admin && $0.state(at: now) == .active }) {
            let token = generateToken()
            var name = "admin"
            var suffix = 2
            while tokens.named(name) != nil {
                name = "admin-\(suffix)"
                suffix += 1
            }
            try writeSecret(token + "\n", to: tokenFile)
            tokens = try await store.addAccessToken(
                AccessTokenRecord(
                    name: name, hash: hash(token), kind: .admin, environment: nil,
                    createdAt: now, bootstrap: true))
        }
        return TokenAuthenticator(tokens, tokenFile: tokenFile)
    }

    static func writeSecret(_ text: String, to path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(text.utf8))
    }
}

/// Admin API authentication: `Authorization: Bearer <admin token>`. The SDK protocols
/// (`/api/client/…`, `/ofrep/…`) authenticate SDK tokens themselves (`SDKAuthentication`).
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let authenticator: TokenAuthenticator
    let openPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if openPaths.contains(path) || RipcordAPI.isSDKPath(path) || RipcordAPI.isWebViewFile(path) { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(.unauthorized, code: "unauthorized", message: "this API needs a bearer token (Authorization: Bearer <token>)")
        }
        let principal = try authenticator.authenticate(String(header.dropFirst("Bearer ".count)))
        switch principal.kind {
        case .admin:
            break
        case .router:
            guard Self.isOwnRouterCall(request, router: principal.name) else {
                throw APIError(
                    .forbidden, code: "forbidden",
                    message: "a router token may only follow the routes and report as its own router '\(principal.name)'")
            }
        case .viewer:
            guard Self.isViewerCall(request) else {
                throw APIError(
                    .forbidden, code: "forbidden",
                    message: "a viewer token may only read: GET under /api/v1 (not tokens or routes/watch) and GET /metrics")
            }
        case .client, .frontend:
            throw APIError(.forbidden, code: "forbidden", message: "a \(principal.kind.rawValue) token may only use the SDK endpoints (/api/client, /api/frontend, /ofrep)")
        }
        return try await next(request, context)
    }

    /// What a viewer token may call: reads of the admin API and the metrics. Not the token list, and
    /// not the routes stream (an open one counts as a standalone router, whose silence holds analysis).
    /// The path is split as the router splits it (empty components dropped), so `/api/v1//tokens/`
    /// is the token list here too.
    static func isViewerCall(_ request: Request) -> Bool {
        guard request.method == .get else { return false }
        let parts = request.uri.path.split(separator: "/")
        if parts == ["metrics"] { return true }
        guard parts.count >= 3, parts[0] == "api", parts[1] == "v1" else { return false }
        return parts[2] != "tokens" && parts[2] != "routes"
    }

    /// The two calls a standalone router makes, under its own name: a stolen edge host's token can
    /// neither change anything nor speak for another router.
    static func isOwnRouterCall(_ request: Request, router name: String) -> Bool {
        switch (request.method, request.uri.path) {
        case (.get, "/api/v1/routes/watch"):
            return request.uri.queryParameters["router"].map(String.init) == name
        case (.post, "/api/v1/routers/\(name)/reports"):
            return true
        default:
            return false
        }
    }
}

extension TokenAuthenticator {
    /// The principal of a valid token, or the 401 that says why the token is refused.
    func authenticate(_ token: String) throws(APIError) -> TokenPrincipal {
        switch verdict(for: token) {
        case let .valid(principal):
            return principal
        case let .expired(name, at):
            throw APIError(
                .unauthorized, code: "token_expired",
                message: "the token '\(name)' expired at \(ISO8601Timestamp.format(at.timeIntervalSince1970)); rotate it with a new expiry or create a new one")
        case let .revoked(name):
            throw APIError(.unauthorized, code: "token_revoked", message: "the token '\(name)' has been revoked")
        case .unknown:
            throw APIError(.unauthorized, code: "unauthorized", message: "the token is not valid")
        }
    }
}
