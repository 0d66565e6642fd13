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
        path.hasPrefix("/api/client/") || path.hasPrefix("/ofrep/") || isFrontendPath(path)
    }

    /// The Unleash frontend API and its older name (browsers and mobile apps).
    static func isFrontendPath(_ path: String) -> Bool {
        for prefix in ["/api/frontend", "/api/proxy"] where path == prefix || path.hasPrefix(prefix + "/") { return true }
        return false
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
            let filter = ClientFeatureFilter(query: request.uri.query)
            guard !filter.selectsEverything else {
                return cached(request, etag: snapshot.etag, contentType: "application/json", snapshot.clientFeaturesJSON)
            }
            var selected = snapshot.clientState
            selected.features = selected.features.filter(filter.includes)
            let body = try sortedJSON(selected)
            // The same revision answers differently per filter: the filter is part of the validator.
            let etag = "\"\(snapshot.environment):\(snapshot.revision):\(String(fnv1a(request.uri.query ?? ""), radix: 16))\""
            return cached(request, etag: etag, contentType: "application/json", body)
        }
        client.get("features/:name") { request, context -> Response in
            let name = try flagName(context)
            let snapshot = try await flags.snapshot(environment: try environment(request))
            guard let feature = snapshot.clientState.features.first(where: { $0.name == name }) else {
                throw APIError(FlagService.notFound(name, snapshot.environment))
            }
            return try json(feature)
        }
        client.get("delta") { request, _ -> Response in
            let env = try environment(request)
            // The SDK sends its last event id as the validator (`"42"`, or bare, or weak).
            let known = request.headers[.ifNoneMatch].flatMap { Int64($0.replacingOccurrences(of: "W/", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "\" "))) }
            guard let delta = try await flags.delta(environment: env, after: known, filter: ClientFeatureFilter(query: request.uri.query)) else {
                return Response(status: .notModified, headers: request.headers[.ifNoneMatch].map { [.eTag: $0] } ?? [:])
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json", .eTag: "\"\(delta.revision)\""],
                body: .init(byteBuffer: ByteBuffer(bytes: try sortedJSON(ServerSentEvents.Payload(events: delta.events)))))
        }
        client.post("register") { request, context -> Response in
            let env = try environment(request)
            guard let body = try await optionalBody(ClientRegisterBody.self, request, context) else {
                throw APIError(.badRequest, code: "invalid_request", message: "register needs a JSON body with appName")
            }
            let registration = ClientRegistration(
                appName: try InputValidation.text(body.appName, field: "appName", allowEmpty: false),
                instanceId: try InputValidation.text(body.instanceId ?? "", field: "instanceId"),
                sdkVersion: try body.sdkVersion.map { try InputValidation.text($0, field: "sdkVersion") }, lastSeen: Date())
            try await flags.store.register(registration, environment: env)
            return Response(status: .accepted)
        }
        client.post("metrics") { request, context -> Response in
            try await recordMetrics(request, context, flags: flags, environment: try environment(request))
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
            let filter = ClientFeatureFilter(query: request.uri.query)
            // No content length: Hummingbird sends the stream with chunked transfer encoding, which SDKs need.
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    let hydration = DeltaEvent.hydration(
                        eventId: snapshot.revision, features: snapshot.clientState.features.filter(filter.includes),
                        segments: snapshot.clientState.segments ?? [])
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
                                let events = update.events.filter(filter.includes)
                                if !events.isEmpty {
                                    try await writer.write(try ServerSentEvents.event("unleash-updated", id: update.revision, events: events))
                                }
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
                let evaluation = try OFREP.evaluate(key, body: Array(body.readableBytesView), in: snapshot)
                flags.countEvaluations([(evaluation.flag, evaluation.enabled)], environment: snapshot.environment)
                return ofrepResponse(.ok, OFREP.success(evaluation))
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
            let answer = OFREP.bulk(snapshot, context: flagContext)
            let etag = "\"\(snapshot.revision)-\(String(fnv1a(answer), radix: 16))\""
            if request.headers[.ifNoneMatch] == etag { return Response(status: .notModified, headers: [.eTag: etag]) }
            var response = ofrepResponse(.ok, answer)
            response.headers[.eTag] = etag
            return response
        }
    }

    /// The Unleash frontend API under `/api/frontend` and `/api/proxy`: GET evaluates the context in
    /// the query, POST the context in the body (`{"context": {...}}`); both list the flags that are on.
    /// Frontend tokens (meant to be public in a browser) and client tokens are accepted.
    static func addFrontendRoutes(to router: Router<BasicRequestContext>, flags: FlagService, authenticator: TokenAuthenticator?) {
        let evaluators: Set<TokenKind> = [.frontend, .client]
        @Sendable func snapshot(_ request: Request) async throws -> FlagSnapshot {
            let principal = try sdkPrincipal(request, authenticator: authenticator, allowed: evaluators)
            return try await flags.snapshot(environment: principal.environment ?? FlagService.defaultEnvironment)
        }
        @Sendable func toggles(_ request: Request, _ snapshot: FlagSnapshot, _ flagContext: FlagContext) throws -> Response {
            let body = try FrontendAPI.toggles(snapshot, context: flagContext)
            return cached(request, etag: "\"\(snapshot.revision)-\(String(fnv1a(body), radix: 16))\"", contentType: "application/json", body)
        }
        for prefix in ["api/frontend", "api/proxy"] {
            let group = router.group(RouterPath(prefix))
            group.get { request, _ -> Response in
                let snapshot = try await snapshot(request)
                return try toggles(request, snapshot, FrontendAPI.context(fromQuery: request.uri.query))
            }
            group.post { request, _ -> Response in
                let snapshot = try await snapshot(request)
                var request = request
                let body = try await request.collectBody(upTo: OFREP.maxBodyBytes)
                let flagContext: FlagContext
                do throws(OFREP.Failure) { flagContext = try OFREP.context(fromBody: Array(body.readableBytesView)) } catch {
                    throw APIError(.badRequest, code: "invalid_context", message: error.errorDetails)
                }
                return try toggles(request, snapshot, flagContext)
            }
            group.post("client/metrics") { request, context -> Response in
                let principal = try sdkPrincipal(request, authenticator: authenticator, allowed: evaluators)
                return try await recordMetrics(request, context, flags: flags, environment: principal.environment ?? FlagService.defaultEnvironment)
            }
        }
    }

    /// `POST …/client/metrics`: an SDK's per-flag counts of one bucket, added to the environment's totals.
    private static func recordMetrics(_ request: Request, _ context: BasicRequestContext, flags: FlagService, environment: String) async throws -> Response {
        guard let body = try await optionalBody(ClientMetricsBody.self, request, context) else {
            throw APIError(.badRequest, code: "invalid_request", message: "metrics needs a JSON body with appName and bucket")
        }
        _ = try InputValidation.text(body.appName, field: "appName", allowEmpty: false)
        let counts = try body.bucket.toggles.map { name, toggle in
            _ = try InputValidation.flagName(name, field: "bucket.toggles")
            return try ExposureCount(
                appName: body.appName, flag: name, yes: toggle.yes ?? 0, no: toggle.no ?? 0,
                variants: toggle.variants ?? [:]
            ).validated()
        }
        try await flags.store.recordExposures(counts, environment: environment)
        return Response(status: .accepted)
    }

    /// A JSON body with its validator, or 304 when the caller already has it.
    private static func cached(_ request: Request, etag: String, contentType: String, _ body: Data) -> Response {
        if request.headers[.ifNoneMatch] == etag { return Response(status: .notModified, headers: [.eTag: etag]) }
        return Response(status: .ok, headers: [.contentType: contentType, .eTag: etag], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    private static func sortedJSON<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }

    private static func ofrepResponse(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// A content hash for the bulk ETag: it changes exactly when the answer does.
    private static func fnv1a(_ text: String) -> UInt64 { fnv1a(Data(text.utf8)) }

    private static func fnv1a(_ bytes: Data) -> UInt64 {
        bytes.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
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
