import Crypto
import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import RipcordCore
import RipcordFlagService

/// Who presented a token: its name (recorded as the author of flag changes), kind and environment.
public struct TokenPrincipal: Sendable, Equatable {
    public var name: String
    public var kind: TokenKind
    /// The environment of a client or frontend token.
    public var environment: String?

    public init(name: String, kind: TokenKind, environment: String?) {
        self.name = name
        self.kind = kind
        self.environment = environment
    }
}

/// Token authentication. Only SHA-256 hashes of tokens are stored; a token itself is shown
/// once (or written to an owner-only file) and never logged. Tokens created while serving are
/// accepted at once.
public final class TokenAuthenticator: Sendable {
    private let principals: NIOLockedValueBox<[String: TokenPrincipal]>

    /// Admin tokens by hash.
    public init(hashes: [String]) {
        principals = NIOLockedValueBox(Dictionary(hashes.map { ($0, TokenPrincipal(name: "admin", kind: .admin, environment: nil)) },
                                                  uniquingKeysWith: { first, _ in first }))
    }

    /// Whether the token is a valid admin token.
    public func accepts(_ token: String) -> Bool { principal(for: token)?.kind == .admin }

    public func principal(for token: String) -> TokenPrincipal? {
        let hash = Self.hash(token)
        return principals.withLockedValue { $0[hash] }
    }

    /// The token in an SDK's `Authorization` header: Unleash SDKs send it as is, others after "Bearer ".
    public static func sdkToken(fromAuthorization header: String) -> String {
        header.hasPrefix("Bearer ") ? String(header.dropFirst("Bearer ".count)) : header
    }

    /// Accepts a stored token from now on.
    public func register(_ token: AccessTokenRecord) {
        principals.withLockedValue { $0[token.hash] = TokenPrincipal(name: token.name, kind: token.kind, environment: token.environment) }
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

    /// Makes sure an admin token exists: on first start, creates one, stores its hash and writes it to
    /// `tokenFile` with mode 0600. Returns the authenticator for all stored tokens.
    public static func bootstrap(store: any StateStore, tokenFile: String, at now: Moment) async throws -> TokenAuthenticator {
        var hashes = try await store.tokenHashes()
        if hashes.isEmpty {
            let token = generateToken()
            try writeSecret(token + "\n", to: tokenFile)
            try await store.addToken(name: "admin", hash: hash(token), at: now)
            hashes = [hash(token)]
        }
        return TokenAuthenticator(hashes: hashes)
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
        if openPaths.contains(path) || RipcordAPI.isSDKPath(path) { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(.unauthorized, code: "unauthorized", message: "this API needs a bearer token (Authorization: Bearer <token>)")
        }
        guard let principal = authenticator.principal(for: String(header.dropFirst("Bearer ".count))) else {
            throw APIError(.unauthorized, code: "unauthorized", message: "the token is not valid")
        }
        guard principal.kind == .admin else {
            throw APIError(.forbidden, code: "forbidden", message: "a \(principal.kind.rawValue) token may only use the SDK endpoints (/api/client, /ofrep)")
        }
        return try await next(request, context)
    }
}
