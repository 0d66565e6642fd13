import Hummingbird
import RipcordCore
import RipcordInsights
import RipcordWire

extension DeploymentReport: ResponseEncodable {}
extension Postmortem: ResponseEncodable {}
extension Runbook: ResponseEncodable {}
extension DrillSchedule: ResponseEncodable {}

extension RipcordAPI {
    /// What the history tells, and practising the way back: the delivery report, post-mortems, runbooks and drills.
    static func addInsightRoutes(to api: RouterGroup<BasicRequestContext>, controller: some RolloutOperations, authenticator: TokenAuthenticator?) {
        api.get("report") { request, _ -> DeploymentReport in
            let period =
                try request.uri.queryParameters["since"].map { text in
                    guard let span = try? TimeSpan(parsing: String(text)), span > .zero else {
                        throw InputValidation.invalid("since", "since is a period such as 7d, 30d or 12h (got '\(text)')", code: "invalid_query")
                    }
                    return span
                } ?? TimeSpan(milliseconds: 30 * 86_400_000)
            let service = try request.uri.queryParameters["service"].map { try InputValidation.serviceName(String($0), field: "service") }
            return try await controller.report(period: period, service: service)
        }
        api.get("rollouts/:id/postmortem") { _, context -> Postmortem in
            try await controller.postmortem(rollout: try InputValidation.id(try context.parameters.require("id")))
        }
        api.get("releases/:id/postmortem") { _, context -> Postmortem in
            try await controller.postmortem(release: try InputValidation.id(try context.parameters.require("id")))
        }
        api.get("services/:name/runbook") { _, context -> Runbook in
            try await controller.runbook(service: try serviceName(context))
        }
        api.post("services/:name/drill") { request, context -> EditedResponse<RolloutSummary> in
            let name = try serviceName(context)
            let body = try await optionalBody(DrillRequest.self, request, context) ?? DrillRequest(fault: nil)
            let rollout = try await controller.drill(service: name, fault: try fault(body.fault), actor: actor(request, authenticator: authenticator))
            return EditedResponse(status: .accepted, response: RolloutSummary(rollout))
        }
        api.put("services/:name/drill-schedule") { request, context -> DrillSchedule in
            let name = try serviceName(context)
            let body = try await RipcordAPI.body(DrillScheduleRequest.self, request, context)
            guard let every = try? TimeSpan(parsing: body.every), every >= .seconds(1) else {
                throw InputValidation.invalid("every", "every is a period of at least 1s, such as 7d or 12h (got '\(body.every)')", code: "invalid_duration")
            }
            return try await controller.scheduleDrill(
                service: name, every: every, fault: try fault(body.fault), actor: actor(request, authenticator: authenticator))
        }
        api.delete("services/:name/drill-schedule") { request, context -> Accepted in
            let name = try serviceName(context)
            guard try await controller.unscheduleDrill(service: name, actor: actor(request, authenticator: authenticator)) else {
                throw APIError(.notFound, code: "no_drill_schedule", message: "\(name) has no scheduled drill")
            }
            return Accepted(accepted: true, message: "\(name)'s drills no longer run by themselves")
        }
        api.get("drill-schedules") { _, _ -> [DrillSchedule] in await controller.drillSchedules() }
        api.get("drills") { request, _ -> [EventView] in
            let service = try request.uri.queryParameters["service"].map { try InputValidation.serviceName(String($0), field: "service") }
            return try await controller.drillHistory(service: service).map(EventView.init)
        }
    }

    /// A fault as the API takes it (`errors=50%`, …); nil when none is given.
    private static func fault(_ text: String?) throws -> InjectedFault? {
        try text.map { text in
            do { return try InjectedFault(parsing: text) } catch let error as InjectedFault.ParseError {
                throw InputValidation.invalid("fault", error.description, code: "invalid_fault")
            }
        }
    }
}
