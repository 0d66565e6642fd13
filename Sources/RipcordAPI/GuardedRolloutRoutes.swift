import Foundation
import Hummingbird
import RipcordCore
import RipcordFlagService
import RipcordFlags
import RipcordWire

extension RipcordAPI {
    static func addGuardedRolloutRoutes(
        to api: RouterGroup<BasicRequestContext>, flags: FlagService, runner: any GuardedFlagRollouts,
        authenticator: TokenAuthenticator?
    ) {
        @Sendable func actor(_ request: Request) -> String { RipcordAPI.actor(request, authenticator: authenticator) }
        /// The rollout named by the path, which must belong to the path's flag.
        @Sendable func rollout(_ request: Request, _ context: BasicRequestContext) async throws -> FlagRollout {
            let flag = try flagName(context)
            let environment = try flagEnvironment(request)
            let id = try InputValidation.id(try context.parameters.require("id"))
            let rollout = try await runner.rollout(id: id)
            guard rollout.plan.flag == flag, rollout.plan.environment == environment else {
                throw APIError(.notFound, code: "unknown_guarded_rollout", message: "guarded rollout \(id) is not one of this flag's")
            }
            return rollout
        }

        api.post("flags/:name/guarded-rollouts") { request, context -> Response in
            let flag = try flagName(context)
            let env = try flagEnvironment(request)
            let asked = try await body(GuardedRolloutRequest.self, request, context)
            _ = try InputValidation.serviceName(asked.service)
            try InputValidation.positive(asked.stepDuration, field: "stepDuration")
            if let deadline = asked.progressDeadline { try InputValidation.positive(deadline, field: "progressDeadline") }
            if let analysis = asked.analysis { try InputValidation.analysis(analysis) }
            for (index, percentage) in asked.steps.enumerated() where !(1...100).contains(percentage) {
                throw InputValidation.invalid("steps[\(index)]", "a step's percentage is 1 to 100 (got \(percentage))", code: "invalid_percentage")
            }
            guard try await flags.snapshot(environment: env).evaluator.contains(flag) else { throw APIError(FlagService.notFound(flag, env)) }
            let configured = await runner.configuredAnalysis(service: asked.service)
            let plan = FlagRolloutPlan(
                flag: flag, environment: env,
                steps: asked.steps.map { FlagRolloutStep(percentage: $0, duration: asked.stepDuration) },
                service: asked.service, analysis: asked.analysis ?? configured ?? AnalysisSpec(),
                progressDeadline: asked.progressDeadline ?? .seconds(600))
            return try json(GuardedRolloutView(try await runner.start(plan, actor: actor(request))), status: .created)
        }
        api.get("flags/:name/guarded-rollouts") { request, context -> Response in
            try json(try await runner.rollouts(flag: try flagName(context), environment: try flagEnvironment(request)).map { GuardedRolloutView($0) })
        }
        api.get("flags/:name/guarded-rollouts/:id") { request, context -> Response in
            let rollout = try await rollout(request, context)
            return try json(GuardedRolloutView(rollout, events: try await runner.events(id: rollout.id)))
        }
        api.post("flags/:name/guarded-rollouts/:id/abort") { request, context -> Response in
            let rollout = try await rollout(request, context)
            try await runner.abort(id: rollout.id, reason: try await abortReason(request, context), actor: actor(request))
            return try json(Accepted(accepted: true, message: "abort sent to guarded rollout \(rollout.id)"), status: .accepted)
        }
    }
}
