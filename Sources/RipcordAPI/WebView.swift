import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RipcordFlagService

/// `GET /api/v1/whoami`: the name and kind of the token a request carries, so the web view knows
/// whether to offer its buttons (a viewer token gets none).
public struct WhoAmI: Codable, Sendable, Equatable, ResponseEncodable {
    public var name: String
    public var kind: TokenKind

    public init(name: String, kind: TokenKind) {
        self.name = name
        self.kind = kind
    }
}

extension RipcordAPI {
    /// The web view's files. They hold no data, so they are served without a token (the API calls
    /// the page makes carry the one it is signed in with).
    static let webViewFiles: [String: (contentType: String, body: ByteBuffer)] = [
        "ui": ("text/html; charset=utf-8", ByteBuffer(string: WebViewAssets.page)),
        "ui/app.js": ("text/javascript; charset=utf-8", ByteBuffer(string: WebViewAssets.script)),
        "ui/app.css": ("text/css; charset=utf-8", ByteBuffer(string: WebViewAssets.style)),
    ]

    /// Whether a path is one of the web view's files, split as the router splits it (`/ui/` is `/ui`).
    static func isWebViewFile(_ path: String) -> Bool {
        webViewFiles[path.split(separator: "/").joined(separator: "/")] != nil
    }

    /// Scripts and styles only from this server's own files (no inline script, nothing from elsewhere),
    /// the page never framed (its buttons change things), types as sent, and no referrer.
    static let webViewHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-cache",
    ]

    /// `/ui` (the page), `/ui/app.js`, `/ui/app.css`, and `GET /api/v1/whoami`.
    static func addWebViewRoutes(to router: Router<BasicRequestContext>, api: RouterGroup<BasicRequestContext>, authenticator: TokenAuthenticator?) {
        for (path, file) in webViewFiles {
            router.get(RouterPath(path)) { _, _ -> Response in
                var headers = webViewHeaders
                headers[.contentType] = file.contentType
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: file.body))
            }
        }
        api.get("whoami") { request, _ -> WhoAmI in
            // Without tokens (the loopback demo) everyone may do everything.
            guard let authenticator else { return WhoAmI(name: "anonymous", kind: .admin) }
            guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
                throw APIError(.unauthorized, code: "unauthorized", message: "this API needs a bearer token (Authorization: Bearer <token>)")
            }
            let principal = try authenticator.authenticate(String(header.dropFirst("Bearer ".count)))
            return WhoAmI(name: principal.name, kind: principal.kind)
        }
    }
}
