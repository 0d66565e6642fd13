import Foundation
import Hummingbird
import RipcordCore
import RipcordFlags
import RipcordFlagService

extension RipcordAPI {
    /// The flag admin routes under /api/v1 (admin tokens only; the auth middleware sees to that).
    static func addFlagRoutes(to api: RouterGroup<BasicRequestContext>, flags: FlagService, authenticator: TokenAuthenticator?) {
        @Sendable func actor(_ request: Request) -> String { RipcordAPI.actor(request, authenticator: authenticator) }

        api.get("flags") { request, _ -> Response in
            let snapshot = try await flags.snapshot(environment: flagEnvironment(request))
            return try json(
                FlagStateView(
                    environment: snapshot.environment, revision: snapshot.revision, version: 2,
                    features: snapshot.state.features, segments: snapshot.state.segments ?? [],
                    warnings: snapshot.evaluator.warnings.map(\.description)))
        }
        api.post("flags") { request, _ -> Response in
            let (feature, problems) = try await flagDocument(FeatureDefinition.self, .flag, request)
            return try json(
                try await flags.create(feature, environment: flagEnvironment(request), actor: actor(request), documentProblems: problems),
                status: .created)
        }
        api.post("flags/import") { request, _ -> Response in
            let env = try flagEnvironment(request)
            let (state, problems) = try await stateDocument(request, flags: flags, environment: env)
            let plan = try await flags.plan(state, environment: env, documentProblems: problems)
            let changes = try await flags.importState(state, environment: env, actor: actor(request))
            return try json(FlagApplyResult(environment: env, dryRun: false, plan: plan, changed: changes.count))
        }
        api.post("flags/apply") { request, _ -> Response in
            let (state, problems) = try await flagDocument(ClientFeatures.self, .state, request)
            let env = try flagEnvironment(request)
            let dryRun = request.uri.queryParameters["dryRun"] == "true"
            // Prune: flags the document does not list are deleted (and planned as deletions).
            let prune = request.uri.queryParameters["prune"] == "true"
            let plan = try await flags.plan(state, environment: env, prune: prune, documentProblems: problems)
            let changed = dryRun ? 0 : try await flags.importState(state, environment: env, actor: actor(request), prune: prune).count
            return try json(FlagApplyResult(environment: env, dryRun: dryRun, plan: plan, changed: changed))
        }
        api.get("flags/:name") { request, context -> Response in
            let flag = try flagName(context)
            let env = try flagEnvironment(request)
            guard let feature = try await flags.snapshot(environment: env).evaluator.definition(of: flag) else {
                throw APIError(FlagService.notFound(flag, env))
            }
            return try json(feature)
        }
        api.put("flags/:name") { request, context -> Response in
            let (feature, problems) = try await flagDocument(FeatureDefinition.self, .flag, request)
            guard feature.name == (try flagName(context)) else {
                throw APIError(.badRequest, code: "name_mismatch", message: "the body's name '\(feature.name)' differs from the path's")
            }
            try await flags.put(feature, environment: flagEnvironment(request), actor: actor(request), documentProblems: problems)
            return try json(feature)
        }
        api.delete("flags/:name") { request, context -> Response in
            try await flags.delete(flag: try flagName(context), environment: flagEnvironment(request), actor: actor(request))
            return Response(status: .noContent)
        }
        for (verb, enabled) in [("enable", true), ("disable", false)] {
            api.post("flags/:name/\(verb)") { request, context -> Response in
                try json(try await flags.setEnabled(enabled, flag: try flagName(context), environment: flagEnvironment(request), actor: actor(request)))
            }
        }
        api.post("flags/:name/rollout") { request, context -> Response in
            let rollout = try await body(RolloutRequest.self, request, context)
            guard rollout.percentage.isFinite, (0...100).contains(rollout.percentage) else {
                throw InputValidation.invalid("percentage", "a rollout percentage is 0 to 100 (got \(rollout.percentage))", code: "invalid_percentage")
            }
            if let stickiness = rollout.stickiness { _ = try InputValidation.text(stickiness, field: "stickiness", allowEmpty: false) }
            if let groupId = rollout.groupId { _ = try InputValidation.text(groupId, field: "groupId") }
            return try json(
                try await flags.setRollout(
                    rollout.percentage, stickiness: rollout.stickiness, groupId: rollout.groupId,
                    flag: try flagName(context), environment: flagEnvironment(request), actor: actor(request)))
        }
        api.get("flags/:name/history") { request, context -> Response in
            let changes = try await flags.history(flag: try flagName(context), environment: flagEnvironment(request))
            return try json(
                try changes.map { change in
                    FlagChangeView(
                        id: change.id, at: ISO8601Timestamp.format(change.at.timeIntervalSince1970), actor: change.actor, reason: change.reason,
                        before: try change.before.map { try JSONDecoder().decode(FeatureDefinition.self, from: Data($0.utf8)) },
                        after: try change.after.map { try JSONDecoder().decode(FeatureDefinition.self, from: Data($0.utf8)) })
                })
        }
        api.post("flags/:name/revert") { request, context -> Response in
            let revert = try await body(RevertRequest.self, request, context)
            guard revert.toChange > 0 else {
                throw InputValidation.invalid("toChange", "a change id is a positive whole number (got \(revert.toChange))", code: "invalid_id")
            }
            let flag = try flagName(context)
            let restored = try await flags.revert(flag: flag, toChange: revert.toChange, environment: flagEnvironment(request), actor: actor(request))
            // `null` when the restored state is "absent": the change reverted to was the flag's deletion.
            return try json(restored)
        }
        api.get("flag-staleness") { request, _ -> Response in
            let env = try flagEnvironment(request)
            let days =
                try request.uri.queryParameters["days"].map { text -> Int in
                    guard let days = Int(text), (0...36_500).contains(days) else {
                        throw InputValidation.invalid("days", "days is a whole number from 0 to 36500 (got '\(text)')", code: "invalid_days")
                    }
                    return days
                } ?? FlagStaleness.defaultDays
            let snapshot = try await flags.snapshot(environment: env)
            return try json(
                FlagStaleness.assess(
                    snapshot.state.features, history: try await flags.store.flagChanges(environment: env, target: nil),
                    exposures: try await flags.store.exposures(environment: env), days: days, now: Date()))
        }
        api.get("flag-metrics") { request, _ -> Response in
            let env = try flagEnvironment(request)
            return try json(
                FlagMetricsView(
                    environment: env, exposures: try await flags.store.exposures(environment: env),
                    clients: try await flags.store.clients(environment: env)))
        }
    }

    /// The environment a flag request names (`?environment=`), by default `default`.
    static func flagEnvironment(_ request: Request) throws -> String {
        guard let name = request.uri.queryParameters["environment"].map(String.init) else { return FlagService.defaultEnvironment }
        return try InputValidation.environment(name)
    }

    /// The flag named by the path (`/flags/:name`), percent-decoded.
    static func flagName(_ context: BasicRequestContext) throws -> String {
        let raw = try context.parameters.require("name")
        return try InputValidation.flagName(raw.removingPercentEncoding ?? raw)
    }

    /// An environment's flags to import: the `/api/client/features` shape, or Unleash's admin export
    /// (`UnleashExport`), with the problems found in it as sent.
    static func stateDocument(_ request: Request, flags: FlagService, environment: String) async throws -> (ClientFeatures, [FlagProblem]) {
        guard let data = try await bodyData(request, limit: BodyLimit.flagState) else {
            throw APIError(.badRequest, code: "invalid_request", message: "this request needs a JSON body")
        }
        guard UnleashExport.isExport(data) else {
            return (try JSONDecoder().decode(ClientFeatures.self, from: data), FlagValidation.unknownKeys(in: data, shape: .state))
        }
        let stored = try await flags.snapshot(environment: environment).state.segments ?? []
        return try UnleashExport.state(from: data, environment: environment, storedSegments: stored)
    }

    /// A flag document (one flag, or an environment's flags) and the unknown keys found in it as sent.
    static func flagDocument<T: Decodable>(
        _ type: T.Type, _ shape: FlagValidation.DocumentShape,
        _ request: Request
    ) async throws -> (T, [FlagProblem]) {
        guard let data = try await bodyData(request, limit: shape == .flag ? BodyLimit.flag : BodyLimit.flagState) else {
            throw APIError(.badRequest, code: "invalid_request", message: "this request needs a JSON body")
        }
        return (try JSONDecoder().decode(T.self, from: data), FlagValidation.unknownKeys(in: data, shape: shape))
    }

    static func body<T: Decodable>(
        _ type: T.Type, _ request: Request, _ context: BasicRequestContext,
        limit: Int = BodyLimit.standard
    ) async throws -> T {
        guard let value = try await optionalBody(type, request, context, limit: limit) else {
            throw APIError(.badRequest, code: "invalid_request", message: "this request needs a JSON body")
        }
        return value
    }

    /// A JSON response with sorted keys.
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
