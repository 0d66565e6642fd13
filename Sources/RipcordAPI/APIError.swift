import Foundation
import Hummingbird
import NIOCore
import RipcordCore
import RipcordFlagService
import RipcordWire

/// Every API failure is JSON: `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status.
public struct APIError: HTTPResponseError, Codable, Equatable {
    public var error: ErrorBody
    public var statusCode: Int

    public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil, problems: [FlagProblem]? = nil) {
        error = ErrorBody(code: code, message: message, problems: problems, field: field)
        statusCode = status.code
    }

    private enum CodingKeys: String, CodingKey { case error }

    public init(from decoder: any Decoder) throws {
        error = try decoder.container(keyedBy: CodingKeys.self).decode(ErrorBody.self, forKey: .error)
        statusCode = 0
    }

    public var status: HTTPResponse.Status { .init(code: statusCode) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(self)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    init(_ refusal: Refusal) {
        let status: HTTPResponse.Status =
            switch refusal.kind {
            case .notFound: .notFound
            case .conflict: .conflict
            case .invalid: .badRequest
            }
        self.init(
            status, code: refusal.code, message: refusal.message, field: refusal.field,
            problems: refusal.problems.isEmpty ? nil : refusal.problems)
    }
}

/// Turns whatever a handler throws into an `APIError`, so clients always get the same shape.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let refusal as Refusal {
            throw APIError(refusal)
        } catch let error as NIOTooManyBytesError {
            // Thrown by collectBody(upTo:) on every route: the client sent more than the route reads.
            let limit = error.maxBytes.map { " (at most \($0) bytes)" } ?? ""
            throw APIError(.contentTooLarge, code: "body_too_large", message: "the request body is larger than this route accepts\(limit)")
        } catch let error as HTTPError {
            let code =
                switch error.status {
                case .notFound: "not_found"
                case .badRequest: "invalid_request"
                case .contentTooLarge: "body_too_large"
                default: "http_\(error.status.code)"
                }
            throw APIError(error.status, code: code, message: error.body ?? error.status.reasonPhrase)
        } catch let error as DecodingError {
            throw APIError(
                .badRequest, code: "invalid_request", message: "the request body is not valid JSON of the expected shape: \(Self.explain(error))",
                field: Self.field(error))
        } catch {
            throw APIError(.internalServerError, code: "internal", message: "internal error: \(error)")
        }
    }

    /// The body path of the field at fault (`manifest.services[0].version`), nil for the body as a whole.
    static func field(_ error: DecodingError) -> String? {
        let (path, key): ([any CodingKey], (any CodingKey)?) =
            switch error {
            case .keyNotFound(let key, let context): (context.codingPath, key)
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): (context.codingPath, nil)
            @unknown default: ([], nil)
            }
        let keys = (path + [key].compactMap { $0 }).map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return keys.isEmpty ? nil : String(keys.drop { $0 == "." })
    }

    /// Which field, and what is wrong with it, in words a client can act on.
    static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "the body" : String(keys.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is missing".replacingOccurrences(of: "the body.", with: "")
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "\(path(context)) has the wrong type"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
