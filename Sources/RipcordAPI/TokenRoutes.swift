import Foundation
import Hummingbird
import RipcordCore
import RipcordWire
import RipcordFlagService
import RipcordFlags

extension RipcordAPI {
    /// The name of the token that made a request: the actor recorded on what it changes (events,
    /// flag history). "anonymous" when the API runs without tokens (the loopback-only demo).
    static func actor(_ request: Request, authenticator: TokenAuthenticator?) -> String {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return "anonymous" }
        return authenticator?.principal(for: String(header.dropFirst("Bearer ".count)))?.name ?? "anonymous"
    }

    /// Creating, listing, revoking and rotating tokens (admin tokens only; the auth middleware sees
    /// to that). Each change reaches the authenticator before the answer, and a token that stops
    /// working has its open streams ended.
    static func addTokenRoutes(
        to api: RouterGroup<BasicRequestContext>, store: any FlagStore, flags: FlagService,
        authenticator: TokenAuthenticator?
    ) {
        api.post("tokens") { request, context -> Response in
            let create = try await body(CreateTokenRequest.self, request, context)
            _ = try InputValidation.tokenName(create.name)
            if !create.kind.hasEnvironment, create.environment != nil {
                throw InputValidation.invalid("environment", "\(create.kind.rawValue) tokens are not bound to an environment", code: "invalid_token")
            }
            if create.kind == .router, !RouterName.isValid(create.name) {
                throw InputValidation.invalid("name", "a router token is named as its router: \(RouterName.rule)", code: "invalid_token_name")
            }
            let environment = create.kind.hasEnvironment ? (create.environment ?? FlagService.defaultEnvironment) : nil
            if let environment { _ = try InputValidation.environment(environment) }
            let now = Date()
            let secret = TokenAuthenticator.generateToken()
            let record = AccessTokenRecord(
                name: create.name, hash: TokenAuthenticator.hash(secret), kind: create.kind,
                environment: environment, createdAt: now, expiresAt: try expiry(create.expires, now: now) ?? nil,
                createdBy: actor(request, authenticator: authenticator))
            authenticator?.update(try await store.addAccessToken(record))
            return try json(TokenView(record, secret: secret, at: now), status: .created)
        }
        api.get("tokens") { _, _ -> Response in
            let now = Date()
            return try json(try await store.accessTokens().records.map { TokenView($0, secret: nil, at: now) })
        }
        api.delete("tokens/:name") { request, context -> Response in
            let name = try tokenName(context)
            let now = Date()
            let tokens = try await store.revokeAccessToken(name: name, at: now, by: actor(request, authenticator: authenticator))
            authenticator?.update(tokens)
            flags.finishStreams(owner: name)
            return try json(TokenView(try stored(name, in: tokens), secret: nil, at: now))
        }
        api.post("tokens/:name/rotate") { request, context -> Response in
            let name = try tokenName(context)
            let rotate = try await optionalBody(RotateTokenRequest.self, request, context) ?? RotateTokenRequest(expires: nil)
            let now = Date()
            let secret = TokenAuthenticator.generateToken()
            let tokens = try await store.rotateAccessToken(
                name: name, hash: TokenAuthenticator.hash(secret),
                expiresAt: try expiry(rotate.expires, now: now), at: now,
                by: actor(request, authenticator: authenticator))
            let rotated = try stored(name, in: tokens)
            authenticator?.update(tokens)
            flags.finishStreams(owner: name)
            if rotated.bootstrap, let file = authenticator?.tokenFile {
                // The CLI on this machine reads the bootstrap token from its file: keep it working.
                try TokenAuthenticator.writeSecret(secret + "\n", to: file)
            }
            return try json(TokenView(rotated, secret: secret, at: now))
        }
    }

    /// The token a change was just made to, as the store now holds it.
    private static func stored(_ name: String, in tokens: AccessTokens) throws -> AccessTokenRecord {
        guard let token = tokens.named(name) else {
            throw APIError(.internalServerError, code: "internal", message: "the token '\(name)' is missing after the change")
        }
        return token
    }

    /// The token named by the path (`/tokens/:name`), percent-decoded. Only its length is checked:
    /// tokens created before names were restricted keep theirs and must stay revocable.
    static func tokenName(_ context: BasicRequestContext) throws -> String {
        let raw = try context.parameters.require("name")
        let name = raw.removingPercentEncoding ?? raw
        guard !name.isEmpty, name.count <= 100, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw InputValidation.invalid("name", "a token name is 1 to 100 characters, none of them control characters", code: "invalid_token_name")
        }
        return name
    }

    /// When a token given `expires` stops working: nil when not given, `.some(nil)` for `never`.
    static func expiry(_ text: String?, now: Date) throws -> Date?? {
        guard let text else { return nil }
        if text == "never" { return .some(nil) }
        let date: Date
        if let span = try? TimeSpan(parsing: text) {
            date = now.addingTimeInterval(span.seconds)
        } else if let seconds = ISO8601Timestamp.parse(text) {
            date = Date(timeIntervalSince1970: seconds)
        } else {
            throw APIError(
                .badRequest, code: "invalid_expires",
                message: "expires: '\(text)' is neither a duration (30d, 12h) nor an ISO 8601 date or time (2027-01-31, 2027-01-31T12:00:00Z), nor 'never'")
        }
        guard date > now else {
            throw APIError(.badRequest, code: "invalid_expires", message: "expires: '\(text)' is not in the future")
        }
        return .some(date)
    }
}

extension TokenView {
    init(_ record: AccessTokenRecord, secret: String?, at now: Date) {
        func format(_ date: Date) -> String { ISO8601Timestamp.format(date.timeIntervalSince1970) }
        self.init(
            name: record.name, kind: record.kind, environment: record.environment, createdAt: format(record.createdAt),
            expiresAt: record.expiresAt.map(format), state: record.state(at: now), revokedAt: record.revokedAt.map(format),
            createdBy: record.createdBy, revokedBy: record.revokedBy, rotatedAt: record.rotatedAt.map(format), rotatedBy: record.rotatedBy,
            token: secret)
    }
}
