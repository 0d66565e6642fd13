import Foundation
import Hummingbird
import RipcordFlagService
import RipcordFlags
import ServiceLifecycle

/// `POST /api/client/register` (the fields Ripcord keeps).
struct ClientRegisterBody: Decodable {
    var appName: String
    var instanceId: String?
    var sdkVersion: String?
}

/// `POST /api/client/metrics`: per-flag yes/no counts and variant counts of one bucket.
struct ClientMetricsBody: Decodable {
    struct Bucket: Decodable {
        var toggles: [String: Toggle]
    }
    struct Toggle: Decodable {
        var yes: Int?
        var no: Int?
        var variants: [String: Int]?
    }
    var appName: String
    var bucket: Bucket
}

extension RipcordAPI {
    /// Paths the SDK protocols own; their tokens are checked here, not by the admin middleware.
    static func isSDKPath(_ path: String) -> Bool {
        path.hasPrefix("/api/client/") || path.hasPrefix("/ofrep/")
    }

    /// Who is calling an SDK endpoint. Unleash SDKs send the token as is; `Bearer` is accepted too.
    /// Without an authenticator (the loopback demo) every caller reads the default environment.
    static func sdkPrincipal(_ request: Request, authenticator: TokenAuthenticator?, allowed: Set<TokenKind>) throws -> TokenPrincipal {
        guard let authenticator else { return TokenPrincipal(name: "anonymous", kind: .client, environment: FlagService.defaultEnvironment) }
        guard let token = request.headers[.authorization], !token.isEmpty else {
            throw APIError(.unauthorized, code: "unauthorized", message: "this endpoint needs an SDK token in the Authorization header")
        }
        let principal = try authenticator.authenticate(TokenAuthenticator.sdkToken(fromAuthorization: token))
        guard allowed.contains(principal.kind), principal.environment != nil else {
            let kinds = allowed.map(\.rawValue).sorted().joined(separator: " or ")
            throw APIError(.forbidden, code: "forbidden", message: "this endpoint needs a \(kinds) token, not a \(principal.kind.rawValue) token")
        }
        return principal
    }

    static func addSDKRoutes(to router: Router<BasicRequestContext>, flags: FlagService, authenticator: TokenAuthenticator?) {
        let client = router.group("api/client")
        @Sendable func environment(_ request: Request, allowed: Set<TokenKind> = [.client]) throws -> String {
            try sdkPrincipal(request, authenticator: authenticator, allowed: allowed).environment ?? FlagService.defaultEnvironment
        }

        client.get("features") { request, _ -> Response in
            let snapshot = try await flags.snapshot(environment: try environment(request))
            if request.headers[.ifNoneMatch] == snapshot.etag {
                return Response(status: .notModified, headers: [.eTag: snapshot.etag])
            }
            return Response(status: .ok, headers: [.contentType: "application/json", .eTag: snapshot.etag],
                            body: .init(byteBuffer: ByteBuffer(bytes: snapshot.clientFeaturesJSON)))
        }
        client.post("register") { request, context -> Response in
            let env = try environment(request)
            guard let body = try await optionalBody(ClientRegisterBody.self, request, context) else {
                throw APIError(.badRequest, code: "invalid_request", message: "register needs a JSON body with appName")
            }
            let registration = ClientRegistration(appName: try InputValidation.text(body.appName, field: "appName", allowEmpty: false),
                                                  instanceId: try InputValidation.text(body.instanceId ?? "", field: "instanceId"),
                                                  sdkVersion: try body.sdkVersion.map { try InputValidation.text($0, field: "sdkVersion") }, lastSeen: Date())
            try await flags.store.register(registration, environment: env)
            return Response(status: .accepted)
        }
        client.post("metrics") { request, context -> Response in
            let env = try environment(request)
            guard let body = try await optionalBody(ClientMetricsBody.self, request, context) else {
                throw APIError(.badRequest, code: "invalid_request", message: "metrics needs a JSON body with appName and bucket")
            }
            _ = try InputValidation.text(body.appName, field: "appName", allowEmpty: false)
            let counts = try body.bucket.toggles.map { name, toggle in
                _ = try InputValidation.flagName(name, field: "bucket.toggles")
                return try ExposureCount(appName: body.appName, flag: name, yes: toggle.yes ?? 0, no: toggle.no ?? 0,
                                  variants: toggle.variants ?? [:]).validated()
            }
            try await flags.store.recordExposures(counts, environment: env)
            return Response(status: .accepted)
        }
        client.get("streaming") { request, _ -> Response in
            let principal = try sdkPrincipal(request, authenticator: authenticator, allowed: [.client])
            let env = principal.environment ?? FlagService.defaultEnvironment
            // Subscribe before reading the snapshot so no change falls between the two. Streams are the
            // token's: revoking or rotating it ends them (`finishStreams(owner:)`), and so does its expiry.
            let owner = authenticator == nil ? nil : principal.name
            let updates = flags.subscribe(environment: env, owner: owner)
            // A revocation between the check above and the subscription would miss this stream: check again.
            _ = try sdkPrincipal(request, authenticator: authenticator, allowed: [.client])
            let snapshot = try await flags.snapshot(environment: env)
            // No content length: Hummingbird sends the stream with chunked transfer encoding, which SDKs need.
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                            body: ResponseBody { writer in
                let hydration = DeltaEvent.hydration(eventId: snapshot.revision, features: snapshot.state.features,
                                                     segments: snapshot.state.segments ?? [])
                try await writer.write(try ServerSentEvents.event("unleash-connected", id: snapshot.revision, events: [hydration]))
                var sent = snapshot.revision
                let expiry = principal.expiresAt.map { expiresAt in
                    Task {
                        try await Task.sleep(for: .seconds(max(0, expiresAt.timeIntervalSinceNow)))
                        flags.finishStreams(owner: owner)
                    }
                }
                defer { expiry?.cancel() }
                // A stream never ends on its own: on shutdown it is finished so the server can stop.
                try await withGracefulShutdownHandler {
                    for await message in updates {
                        switch message {
                        case .update(let update) where update.revision > sent:
                            try await writer.write(try ServerSentEvents.event("unleash-updated", id: update.revision, events: update.events))
                            sent = update.revision
                        case .update: continue
                        case .heartbeat: try await writer.write(ByteBuffer(string: ":\n\n"))
                        }
                    }
                } onGracefulShutdown: {
                    flags.finishStreams()
                }
                try await writer.finish(nil)
            })
        }

        let ofrep = router.group("ofrep/v1/evaluate")
        let evaluators: Set<TokenKind> = [.client, .frontend]
        ofrep.post("flags/:key") { request, context -> Response in
            let raw = try context.parameters.require("key")
            let key = raw.removingPercentEncoding ?? raw
            let snapshot = try await flags.snapshot(environment: try environment(request, allowed: evaluators))
            var request = request
            let body = try await request.collectBody(upTo: OFREP.maxBodyBytes)
            do throws(OFREP.Failure) {
                return ofrepResponse(.ok, try OFREP.evaluate(key, body: Array(body.readableBytesView), in: snapshot))
            } catch {
                return ofrepResponse(error.errorCode == .flagNotFound ? .notFound : .badRequest, OFREP.error(key: key, error))
            }
        }
        ofrep.post("flags") { request, context -> Response in
            let snapshot = try await flags.snapshot(environment: try environment(request, allowed: evaluators))
            var request = request
            let body = try await request.collectBody(upTo: OFREP.maxBodyBytes)
            let flagContext: FlagContext
            do throws(OFREP.Failure) { flagContext = try OFREP.context(fromBody: Array(body.readableBytesView)) } catch {
                return ofrepResponse(.badRequest, OFREP.error(key: nil, error))
            }
            let answer = OFREP.bulk(snapshot.evaluator.evaluateAll(context: flagContext))
            let etag = "\"\(snapshot.revision)-\(String(fnv1a(answer), radix: 16))\""
            if request.headers[.ifNoneMatch] == etag { return Response(status: .notModified, headers: [.eTag: etag]) }
            var response = ofrepResponse(.ok, answer)
            response.headers[.eTag] = etag
            return response
        }
    }

    private static func ofrepResponse(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// A content hash for the bulk ETag: it changes exactly when the answer does.
    private static func fnv1a(_ text: String) -> UInt64 {
        text.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}

/// Server-sent events in Unleash's streaming shape: `data` is `{"events": [...]}`.
enum ServerSentEvents {
    struct Payload: Encodable { let events: [DeltaEvent] }

    static func event(_ name: String, id: Int64, events: [DeltaEvent]) throws -> ByteBuffer {
        let data = String(decoding: try JSONEncoder().encode(Payload(events: events)), as: UTF8.self)
        // JSON has no raw newlines, so the payload is one `data:` line.
        return ByteBuffer(string: "event: \(name)\nid: \(id)\ndata: \(data)\n\n")
    }
}
