import Foundation
import Hummingbird

/// Cross-origin access for the endpoints a browser calls directly: the Unleash frontend API and
/// OFREP. A request from an allowed origin gets `Access-Control-Allow-Origin` (its origin) on every
/// answer, errors included, so the page can read them; a preflight is answered here, before any
/// token is asked for (browsers send none with it). Other origins get no CORS headers at all, so
/// browsers refuse to hand the answer to their pages.
struct CrossOriginMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowedOrigins: Set<String>
    /// How long a browser may reuse a preflight answer.
    static var maxAgeSeconds: Int { 3600 }

    init(allowedOrigins: [String]) {
        self.allowedOrigins = Set(allowedOrigins)
    }

    static func appliesTo(_ path: String) -> Bool {
        RipcordAPI.isFrontendPath(path) || path.hasPrefix("/ofrep/")
    }

    func allows(_ origin: String) -> Bool { allowedOrigins.contains("*") || allowedOrigins.contains(origin) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.appliesTo(request.uri.path), let origin = request.headers[.origin] else {
            return try await next(request, context)
        }
        let preflight = request.method == .options && request.headers[.accessControlRequestMethod] != nil
        guard allows(origin) else {
            if preflight {
                throw APIError(
                    .forbidden, code: "origin_not_allowed",
                    message: "the origin \(origin) is not in api.cors.allowedOrigins")
            }
            return try await next(request, context)
        }
        if preflight {
            var headers = HTTPFields()
            headers[.accessControlAllowOrigin] = origin
            headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
            // The SDKs send their own headers (unleash-appname, unleash-sdk, …): an allowed origin may send any.
            headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? "Authorization, Content-Type, If-None-Match"
            headers[.accessControlMaxAge] = String(Self.maxAgeSeconds)
            headers[.vary] = "Origin"
            return Response(status: .noContent, headers: headers)
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlExposeHeaders] = "ETag"
        response.headers[.vary] = "Origin"
        return response
    }
}
