import Crypto
import Foundation
import Hummingbird
import RipcordCore

/// Bearer-token authentication. Only SHA-256 hashes of tokens are stored; a token itself is shown
/// once, written to an owner-only file, and never logged.
public struct TokenAuthenticator: Sendable {
    private let hashes: Set<String>

    public init(hashes: [String]) { self.hashes = Set(hashes) }

    public func accepts(_ token: String) -> Bool { hashes.contains(Self.hash(token)) }

    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
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

struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let authenticator: TokenAuthenticator
    let openPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(.unauthorized, code: "unauthorized", message: "this API needs a bearer token (Authorization: Bearer <token>)")
        }
        guard authenticator.accepts(String(header.dropFirst("Bearer ".count))) else {
            throw APIError(.unauthorized, code: "unauthorized", message: "the token is not valid")
        }
        return try await next(request, context)
    }
}
