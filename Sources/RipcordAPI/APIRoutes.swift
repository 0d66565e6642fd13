import Foundation
import Hummingbird
import RipcordController
import RipcordCore
import RipcordFlagService

public struct DeployRequest: Codable, Sendable {
    public var version: String
    /// Deploy although some migrations have no undo script (a rollback would restore the code only).
    public var acceptAppOnlyRollback: Bool?
    public init(version: String, acceptAppOnlyRollback: Bool? = nil) {
        self.version = version
        self.acceptAppOnlyRollback = acceptAppOnlyRollback
    }
}

public struct PromoteRequest: Codable, Sendable {
    public var full: Bool?
    public init(full: Bool?) { self.full = full }
}

public struct AbortRequest: Codable, Sendable {
    public var reason: String?
    public init(reason: String?) { self.reason = reason }
}

public struct UndoRequest: Codable, Sendable {
    public var toRevision: Int?
    public init(toRevision: Int?) { self.toRevision = toRevision }
}

public struct Accepted: Codable, Sendable, ResponseEncodable {
    public var accepted: Bool
    public var message: String
}

extension ServiceStatus: ResponseEncodable {}
extension ServiceHistory: ResponseEncodable {}
extension RolloutSummary: ResponseEncodable {}
extension RolloutDetail: ResponseEncodable {}
extension EventView: ResponseEncodable {}
extension AlertOutcome: ResponseEncodable {}

/// The JSON API the CLI speaks. Documented in docs/api.md.
public enum RipcordAPI {
    public static let openPaths: Set<String> = ["/api/v1/health"]

    /// - Parameter flags: the flag service; when given, the flag admin routes, the Unleash client API
    ///   and OFREP are served too (and guarded flag rollouts with `flagRollouts`).
    public static func router(controller: Controller, authenticator: TokenAuthenticator?, flags: FlagService? = nil,
                              flagRollouts: FlagRolloutRunner? = nil) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        if let authenticator {
            router.add(middleware: AuthMiddleware(authenticator: authenticator, openPaths: openPaths))
        }
        let api = router.group("api/v1")
        api.get("health") { _, _ in ["status": "ok"] }
        api.get("services") { _, _ in try await controller.statuses() }
        api.get("services/:name") { _, context in
            try await controller.status(service: try serviceName(context))
        }
        api.post("services/:name/deploy") { request, context -> EditedResponse<RolloutSummary> in
            let name = try serviceName(context)
            let deploy = try await body(DeployRequest.self, request, context)
            let version = try InputValidation.version(deploy.version)
            let rollout = try await controller.deploy(service: name, version: version,
                                                      acceptAppOnlyRollback: deploy.acceptAppOnlyRollback ?? false)
            return EditedResponse(status: .accepted, response: RolloutSummary(rollout))
        }
        api.post("services/:name/promote") { request, context -> EditedResponse<Accepted> in
            let name = try serviceName(context)
            let body = try await optionalBody(PromoteRequest.self, request, context) ?? PromoteRequest(full: nil)
            try await controller.promote(service: name, full: body.full ?? false)
            return EditedResponse(status: .accepted, response: Accepted(accepted: true, message: "promote sent to \(name)'s rollout"))
        }
        api.post("services/:name/abort") { request, context -> EditedResponse<Accepted> in
            let name = try serviceName(context)
            let reason = try await abortReason(request, context)
            try await controller.abort(service: name, reason: reason)
            return EditedResponse(status: .accepted, response: Accepted(accepted: true, message: "abort sent to \(name)'s rollout"))
        }
        api.post("services/:name/undo") { request, context -> EditedResponse<RolloutSummary> in
            let name = try serviceName(context)
            let body = try await optionalBody(UndoRequest.self, request, context) ?? UndoRequest(toRevision: nil)
            if let revision = body.toRevision, revision < 1 {
                throw InputValidation.invalid("toRevision", "a revision is a positive whole number (got \(revision))", code: "invalid_revision")
            }
            let rollout = try await controller.undo(service: name, toRevision: body.toRevision)
            return EditedResponse(status: .accepted, response: RolloutSummary(rollout))
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
        addReleaseRoutes(to: api, controller: controller)
        api.post("alerts/alertmanager") { request, context -> [AlertOutcome] in
            let webhook = try await body(AlertmanagerWebhook.self, request, context, upTo: largeBodyLimit)
            var outcomes: [AlertOutcome] = []
            for alert in webhook.ripcordAlerts { outcomes.append(try await controller.receive(alert)) }
            return outcomes
        }
        router.get("metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: await controller.metricsExposition())))
        }
        if let flags {
            addFlagRoutes(to: api, flags: flags, authenticator: authenticator)
            addSDKRoutes(to: router, flags: flags, authenticator: authenticator)
            if let flagRollouts { addGuardedRolloutRoutes(to: api, flags: flags, runner: flagRollouts) }
        }
        return router
    }

    /// Bodies that may list many items (Alertmanager's grouped alerts, release manifests).
    static let largeBodyLimit = 2 * 1024 * 1024

    /// Decodes a JSON body when there is one; commands like promote may be sent without a body.
    static func optionalBody<T: Decodable>(_ type: T.Type, _ request: Request, _ context: BasicRequestContext,
                                           upTo limit: Int = 64 * 1024) async throws -> T? {
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        guard buffer.readableBytes > 0 else { return nil }
        return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
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
