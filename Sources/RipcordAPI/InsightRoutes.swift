import Hummingbird
import RipcordCore
import RipcordInsights

extension DeploymentReport: ResponseEncodable {}
extension Postmortem: ResponseEncodable {}
extension Runbook: ResponseEncodable {}

extension RipcordAPI {
    /// What the history tells: the delivery report, post-mortems and runbooks (`ripcord report`, `postmortem`, `runbook`).
    static func addInsightRoutes(to api: RouterGroup<BasicRequestContext>, controller: some RolloutOperations) {
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
    }
}
