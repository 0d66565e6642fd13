import Foundation
import Hummingbird
import NIOCore
import RipcordWire

/// Which controller leads, for a controller that shares its store with others.
public protocol LeadershipReporting: Sendable {
    func leadership() async -> LeadershipView
}

/// A controller standing by answers what only the leader may do with a 307 to the leader (the same
/// method, path and body), or a 503 while no controller leads. Reads of the store stay here; so do the
/// SDK protocols, which only read flags and count evaluations.
struct FollowerRedirectMiddleware<Context: RequestContext>: RouterMiddleware {
    let leadership: any LeadershipReporting

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.onlyTheLeaderAnswers(request) else { return try await next(request, context) }
        let view = await leadership.leadership()
        guard view.role == "follower" else { return try await next(request, context) }
        guard let leader = view.leader, let url = view.leaderURL else {
            var response = try APIError(
                .serviceUnavailable, code: "no_leader",
                message: "no controller leads right now (an election is under way, at most one lease long): try again in a second"
            ).response(from: request, context: context)
            response.headers[.retryAfter] = "1"
            return response
        }
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        var response = try APIError(
            .temporaryRedirect, code: "not_leader", message: "\(view.me) stands by; \(leader) leads (term \(view.term ?? 0)) at \(base)"
        ).response(from: request, context: context)
        response.headers[.location] = base + request.uri.description
        return response
    }

    /// Commands change state; routers follow and report to the leader alone (a follower has no routes to give).
    static func onlyTheLeaderAnswers(_ request: Request) -> Bool {
        let path = request.uri.path
        guard path.hasPrefix("/api/v1/") else { return false }
        if path == "/api/v1/routes/watch" || path == "/api/v1/routers" || path.hasPrefix("/api/v1/routers/") { return true }
        return request.method != .get && request.method != .head
    }
}
