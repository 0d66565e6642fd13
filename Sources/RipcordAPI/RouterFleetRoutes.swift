import Foundation
import Hummingbird
import NIOCore
import RipcordCore
import RipcordWire
import ServiceLifecycle

extension RouterView: ResponseEncodable {}

extension RipcordAPI {
    /// Standalone routers: the routes stream they follow, the reports they send, and the operator's view.
    /// Without a fleet (`router.mode: embedded`) each answers 409, so a router pointed at such a
    /// controller says why it gets nothing.
    static func addRouterFleetRoutes(to api: RouterGroup<BasicRequestContext>, fleet: (any RouterFleet)?) {
        @Sendable func requireFleet() throws -> any RouterFleet {
            guard let fleet else {
                throw APIError(.conflict, code: "router_mode_embedded", message: "this controller serves its front doors itself (router.mode: embedded)")
            }
            return fleet
        }
        api.get("routes/watch") { request, _ -> Response in
            let fleet = try requireFleet()
            let name = try routerName(request.uri.queryParameters["router"].map(String.init) ?? "", field: "router")
            // A router from before deltas does not ask for them: it gets the whole table at every change.
            let takesDeltas = request.uri.queryParameters["deltas"] == "true"
            let updates = try await fleet.watch(router: name, heartbeat: .seconds(2))
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    // A stream never ends on its own: on shutdown it is finished so the server can stop.
                    try await withGracefulShutdownHandler {
                        try await writeRoutes(updates, takesDeltas: takesDeltas, to: &writer)
                    } onGracefulShutdown: {
                        Task { await fleet.finishStreams() }
                    }
                    try await writer.finish(nil)
                })
        }
        api.post("routers/:name/reports") { request, context -> Response in
            let fleet = try requireFleet()
            let name = try routerName(try context.parameters.require("name"), field: "name")
            let report = try await body(RouterReport.self, request, context, limit: RouterReport.maxBodyBytes)
            try validate(report)
            try await fleet.record(report, from: name)
            return Response(status: .noContent)
        }
        api.get("routers") { _, _ -> [RouterView] in
            try await requireFleet().routerViews()
        }
        api.delete("routers/:name") { _, context -> Accepted in
            let name = try routerName(try context.parameters.require("name"), field: "name")
            guard try await requireFleet().forget(router: name) else {
                throw APIError(.notFound, code: "unknown_router", message: "no router named '\(name)'")
            }
            return Accepted(accepted: true, message: "router \(name) forgotten: its silence no longer holds analysis")
        }
    }

    /// One router's routes stream as server-sent events: `routes` (the whole table) and `delta` events, or
    /// for a router that takes no deltas the whole table at every change.
    static func writeRoutes(_ updates: AsyncStream<RouteStreamMessage>, takesDeltas: Bool, to writer: inout any ResponseBodyWriter) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func event(_ name: String, generation: UInt64, _ value: some Encodable) throws -> ByteBuffer {
            var event = ByteBuffer(string: "event: \(name)\nid: \(generation)\ndata: ")
            event.writeBytes(try encoder.encode(value))
            event.writeString("\n\n")
            return event
        }
        // The table as this stream last sent it, for a router that takes whole tables only.
        var sent: FleetRoutes?
        for await message in updates {
            switch message {
            case let .routes(routes):
                sent = routes
                try await writer.write(try event("routes", generation: routes.generation, routes))
            case let .delta(delta) where takesDeltas:
                try await writer.write(try event("delta", generation: delta.generation, delta))
            case let .delta(delta):
                // A change was dropped: ending the stream makes the router come back for the whole table.
                guard let next = sent?.applying(delta) else { return }
                sent = next
                try await writer.write(try event("routes", generation: next.generation, next))
            case .heartbeat:
                try await writer.write(ByteBuffer(string: ":\n\n"))
            }
        }
    }

    static func routerName(_ name: String, field: String) throws -> String {
        guard RouterName.isValid(name) else {
            throw APIError(.badRequest, code: "invalid_router_name", message: "a router name is \(RouterName.rule)", field: field)
        }
        return name
    }

    /// A report is summed into every analysis: bounded in size, and its names checked like any other.
    static func validate(_ report: RouterReport) throws {
        guard report.series.count <= RouterReport.maxSeries else {
            throw APIError(.badRequest, code: "invalid_report", message: "at most \(RouterReport.maxSeries) series in a report", field: "series")
        }
        guard report.problems.count <= RouterReport.maxProblems else {
            throw APIError(.badRequest, code: "invalid_report", message: "at most \(RouterReport.maxProblems) problems in a report", field: "problems")
        }
        _ = try InputValidation.text(report.boot, field: "boot", allowEmpty: false)
        for (index, problem) in report.problems.enumerated() { _ = try InputValidation.text(problem, field: "problems[\(index)]") }
        for (index, series) in report.series.enumerated() {
            _ = try InputValidation.serviceName(series.service, field: "series[\(index)].service")
            let metrics = series.metrics
            let counters = metrics.responsesByClass + [metrics.connectionFailures, metrics.latency.total] + metrics.latency.counts
            guard counters.allSatisfy({ $0 <= RouterReport.maxCount }) else {
                throw APIError(.badRequest, code: "invalid_report", message: "a counter above \(RouterReport.maxCount)", field: "series[\(index)].metrics")
            }
        }
    }
}
