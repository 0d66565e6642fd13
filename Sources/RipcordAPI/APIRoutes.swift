import Foundation
import Hummingbird
import RipcordCore
import RipcordFlagService
import RipcordWire

extension ServiceStatus: ResponseEncodable {}
extension ServiceHistory: ResponseEncodable {}
extension RolloutSummary: ResponseEncodable {}
extension RolloutDetail: ResponseEncodable {}
extension ReloadSummary: ResponseEncodable {}
extension VersionOutcome: ResponseEncodable {}
extension EventView: ResponseEncodable {}
extension AlertOutcome: ResponseEncodable {}
extension RouterMeasurements: ResponseEncodable {}
extension Accepted: ResponseEncodable {}
extension LeadershipView: ResponseEncodable {}

/// The JSON API the CLI speaks. Documented in docs/api.md.
public enum RipcordAPI {
    public static let openPaths: Set<String> = ["/api/v1/health"]

    /// - Parameter flags: the flag service; when given, the flag admin routes, the Unleash client API
    ///   and OFREP are served too (and guarded flag rollouts with `flagRollouts`).
    /// - Parameter corsAllowedOrigins: web origins whose pages may call the frontend API and OFREP.
    public static func router(
        controller: some RolloutOperations, authenticator: TokenAuthenticator?, flags: FlagService? = nil,
        flagRollouts: (any GuardedFlagRollouts)? = nil, corsAllowedOrigins: [String] = [], reloader: (any ConfigurationReloading)? = nil,
        fleet: (any RouterFleet)? = nil, leadership: (any LeadershipReporting)? = nil
    ) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        if !corsAllowedOrigins.isEmpty { router.add(middleware: CrossOriginMiddleware(allowedOrigins: corsAllowedOrigins)) }
        router.add(middleware: ErrorMiddleware())
        if let authenticator {
            router.add(middleware: AuthMiddleware(authenticator: authenticator, openPaths: openPaths))
        }
        if let leadership { router.add(middleware: FollowerRedirectMiddleware(leadership: leadership)) }
        let api = router.group("api/v1")
        @Sendable func actor(_ request: Request) -> String { RipcordAPI.actor(request, authenticator: authenticator) }
        api.get("health") { _, _ in ["status": "ok"] }
        api.get("leader") { _, _ in await leadership?.leadership() ?? .single }
        addWebViewRoutes(to: router, api: api, authenticator: authenticator)
        if let reloader {
            api.post("reload") { request, _ in try await reloader.reload(actor: actor(request)) }
        }
        api.get("services") { _, _ in try await controller.statuses() }
        api.get("services/:name") { _, context in
            try await controller.status(service: try serviceName(context))
        }
        api.post("services/:name/deploy") { request, context -> EditedResponse<RolloutSummary> in
            let name = try serviceName(context)
            let deploy = try await body(DeployRequest.self, request, context)
            let version = try InputValidation.version(deploy.version)
            let rollout = try await controller.deploy(
                service: name, version: version,
                acceptAppOnlyRollback: deploy.acceptAppOnlyRollback ?? false, force: deploy.force ?? false,
                configChanged: deploy.configChanged ?? false, actor: actor(request))
            return EditedResponse(status: .accepted, response: RolloutSummary(rollout))
        }
        api.post("services/:name/promote") { request, context -> EditedResponse<Accepted> in
            let name = try serviceName(context)
            let body = try await optionalBody(PromoteRequest.self, request, context) ?? PromoteRequest(full: nil)
            let message = try await controller.promote(service: name, full: body.full ?? false, actor: actor(request))
            return EditedResponse(status: .accepted, response: Accepted(accepted: true, message: message))
        }
        api.post("services/:name/abort") { request, context -> EditedResponse<Accepted> in
            let name = try serviceName(context)
            let reason = try await abortReason(request, context)
            try await controller.abort(service: name, reason: reason, actor: actor(request))
            return EditedResponse(status: .accepted, response: Accepted(accepted: true, message: "abort sent to \(name)'s rollout"))
        }
        api.post("services/:name/pause") { request, context -> EditedResponse<Accepted> in
            let name = try serviceName(context)
            let body = try await optionalBody(AbortRequest.self, request, context) ?? AbortRequest(reason: nil)
            let reason = try body.reason.map { try InputValidation.text($0, field: "reason") } ?? "paused by a user"
            try await controller.hold(service: name, reason: reason, actor: actor(request))
            return EditedResponse(
                status: .accepted,
                response: Accepted(
                    accepted: true, message: "\(name)'s rollout holds where it is until resumed; analysis keeps judging and can still roll it back"))
        }
        api.post("services/:name/resume") { request, context -> EditedResponse<Accepted> in
            let name = try serviceName(context)
            try await controller.unhold(service: name, actor: actor(request))
            return EditedResponse(status: .accepted, response: Accepted(accepted: true, message: "\(name)'s rollout goes on where it was held"))
        }
        api.post("services/:name/restart") { request, context -> Accepted in
            let message = try await controller.restart(service: try serviceName(context), actor: actor(request))
            return Accepted(accepted: true, message: message)
        }
        api.post("services/:name/retry") { request, context -> EditedResponse<RolloutSummary> in
            let rollout = try await controller.retry(service: try serviceName(context), actor: actor(request))
            return EditedResponse(status: .accepted, response: RolloutSummary(rollout))
        }
        api.post("services/:name/undo") { request, context -> EditedResponse<RolloutSummary> in
            let name = try serviceName(context)
            let body = try await optionalBody(UndoRequest.self, request, context) ?? UndoRequest(toRevision: nil)
            if let revision = body.toRevision, revision < 1 {
                throw InputValidation.invalid("toRevision", "a revision is a positive whole number (got \(revision))", code: "invalid_revision")
            }
            let rollout = try await controller.undo(
                service: name, toRevision: body.toRevision, note: nil,
                instant: body.instant ?? false, force: body.force ?? false, actor: actor(request))
            return EditedResponse(status: .accepted, response: RolloutSummary(rollout))
        }
        api.get("services/:name/measurements") { _, context -> RouterMeasurements in
            try await controller.measurements(service: try serviceName(context))
        }
        api.get("services/:name/versions") { _, context -> [VersionOutcome] in
            try await controller.versions(service: try serviceName(context))
        }
        api.delete("services/:name/rejections/:version") { request, context -> Accepted in
            let name = try serviceName(context)
            let version = try InputValidation.version(try context.parameters.require("version"), field: "version")
            try await controller.unreject(service: name, version: version, actor: actor(request))
            return Accepted(accepted: true, message: "\(name) \(version) is no longer rejected: it may be deployed again")
        }
        api.get("services/:name/history") { _, context in
            try await controller.history(service: try serviceName(context))
        }
        api.get("services/:name/events") { request, context -> [EventView] in
            let name = try serviceName(context)
            let after = try integer(request, "after") ?? 0
            let limit = min(try integer(request, "limit") ?? 500, 5000)
            return try await controller.events(service: name, rolloutID: nil, afterID: after, limit: Int(limit))
                .map(EventView.init)
        }
        api.get("rollouts/:id") { _, context -> RolloutDetail in
            let id = try InputValidation.id(try context.parameters.require("id"))
            let rollout = try await controller.rollout(id: id)
            let events = try await controller.events(service: nil, rolloutID: id, afterID: 0, limit: 5000)
            return RolloutDetail(rollout: RolloutSummary(rollout), events: events.map(EventView.init))
        }
        addReleaseRoutes(to: api, controller: controller, authenticator: authenticator)
        addEventStreamRoute(to: api, controller: controller, authenticator: authenticator)
        addInsightRoutes(to: api, controller: controller, authenticator: authenticator)
        addRouterFleetRoutes(to: api, fleet: fleet)
        api.post("alerts/alertmanager") { request, context -> [AlertOutcome] in
            let webhook = try await body(AlertmanagerWebhook.self, request, context, limit: BodyLimit.large)
            var outcomes: [AlertOutcome] = []
            for alert in webhook.ripcordAlerts { outcomes.append(try await controller.receive(alert, serviceLabel: "service", actor: actor(request))) }
            return outcomes
        }
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: await controller.metricsExposition())))
        }
        if let flags {
            addFlagRoutes(to: api, flags: flags, authenticator: authenticator)
            addTokenRoutes(to: api, store: flags.store, flags: flags, authenticator: authenticator)
            addSDKRoutes(to: router, flags: flags, authenticator: authenticator)
            addFrontendRoutes(to: router, flags: flags, authenticator: authenticator)
            if let flagRollouts { addGuardedRolloutRoutes(to: api, flags: flags, runner: flagRollouts, authenticator: authenticator) }
        }
        return router
    }

    /// The most a request body may hold, by route: bigger bodies are refused with 413.
    public enum BodyLimit {
        /// Commands, tokens, SDK registrations and metrics.
        public static let standard = 64 * 1024
        /// Bodies that may list many items (Alertmanager's grouped alerts, release manifests).
        public static let large = 2 << 20
        /// One flag's definition (create, replace): room for long IN lists.
        public static let flag = 1 << 20
        /// A whole environment's flags (import, apply): room for large Unleash exports.
        public static let flagState = 32 << 20
    }

    /// Decodes a JSON body when there is one; commands like promote may be sent without a body.
    static func optionalBody<T: Decodable>(
        _ type: T.Type, _ request: Request, _ context: BasicRequestContext,
        limit: Int = BodyLimit.standard
    ) async throws -> T? {
        guard let data = try await bodyData(request, limit: limit) else { return nil }
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// The request body (nil when empty); more than `limit` bytes throws (answered 413).
    static func bodyData(_ request: Request, limit: Int) async throws -> Data? {
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        return buffer.readableBytes > 0 ? Data(buffer.readableBytesView) : nil
    }

    static func integer(_ request: Request, _ name: String) throws -> Int64? {
        guard let text = request.uri.queryParameters[name[...]] else { return nil }
        guard let value = Int64(String(text)), value >= 0 else {
            throw InputValidation.invalid(name, "query parameter '\(name)' must be a non-negative whole number", code: "invalid_query")
        }
        return value
    }

    /// The service named by the path (`/services/:name`).
    static func serviceName(_ context: BasicRequestContext) throws -> String {
        try InputValidation.serviceName(try context.parameters.require("name"), field: "name")
    }

    /// An abort's optional `reason`, recorded in the events.
    static func abortReason(_ request: Request, _ context: BasicRequestContext) async throws -> String {
        let body = try await optionalBody(AbortRequest.self, request, context) ?? AbortRequest(reason: nil)
        return try body.reason.map { try InputValidation.text($0, field: "reason") } ?? "aborted by a user"
    }
}
