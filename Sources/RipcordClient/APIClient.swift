import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1
import RipcordCore
import RipcordFlagService
import RipcordWire

/// The CLI's side of the JSON API.
struct APIClient {
    let baseURL: String
    let token: String?

    struct Failure: Error, CustomStringConvertible {
        let status: Int
        let code: String
        let message: String
        var problems: [FlagProblem] = []
        /// A refused flag document lists its problems one a line.
        var description: String {
            guard !problems.isEmpty else { return "error \(status) \(code): \(message)" }
            return "error \(status) \(code): \(problems.count) problem\(problems.count == 1 ? "" : "s") in the flag document:"
                + problems.map { "\n  \($0)" }.joined()
        }
    }

    /// An API that does not answer the connection within 3 s is reported as unreachable (a pipeline
    /// should not hang for the default 10 s per attempt). Lives as long as the CLI process.
    fileprivate static let reachability = Reachability()

    static let http: HTTPClient = {
        // A standing-by controller's 307 is followed by `send` itself, once, to the leader it names.
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(3)))
        // A refused or timed-out connection is the answer; retrying it would only hide it until the request's deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    func get<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws -> T {
        try await send(.GET, path, body: nil)
    }

    func post<T: Decodable, B: Encodable>(_ path: String, body: B?, as type: T.Type = T.self) async throws -> T {
        try await send(.POST, path, body: try body.map { try JSONEncoder().encode($0) })
    }

    func put<T: Decodable, B: Encodable>(_ path: String, body: B, as type: T.Type = T.self) async throws -> T {
        try await send(.PUT, path, body: try JSONEncoder().encode(body))
    }

    func delete<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws -> T {
        try await send(.DELETE, path, body: nil)
    }

    /// Posts a JSON document as it is (so the server sees every key, also ones this CLI does not know).
    func post<T: Decodable>(_ path: String, json: Data, as type: T.Type = T.self) async throws -> T {
        try await send(.POST, path, body: json)
    }

    /// Follows a server-sent-events route until the server ends it; `lastEventID` resumes after that event.
    func follow(_ path: String, lastEventID: Int64?, _ receive: (ServerSentEventParser.Event) async throws -> Void) async throws {
        var request = HTTPClientRequest(url: baseURL + path)
        request.headers.add(name: "accept", value: "text/event-stream")
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        if let lastEventID { request.headers.add(name: "last-event-id", value: String(lastEventID)) }
        try await Self.reachability.check(baseURL)
        let response = try await Self.http.execute(request, timeout: .hours(24 * 365))
        guard response.status == .ok else {
            let data = Data(buffer: try await response.body.collect(upTo: 1024 * 1024))
            let apiError = try? JSONDecoder().decode(ErrorEnvelope.self, from: data)
            throw Failure(
                status: Int(response.status.code), code: apiError?.error.code ?? "http",
                message: apiError?.error.message ?? String(decoding: data, as: UTF8.self))
        }
        var parser = ServerSentEventParser()
        for try await chunk in response.body {
            for event in try parser.feed(chunk.readableBytesView) { try await receive(event) }
        }
    }

    private func send<T: Decodable>(_ method: HTTPMethod, _ path: String, body: Data?) async throws -> T {
        try await send(method, url: baseURL + path, body: body, redirected: false)
    }

    private func send<T: Decodable>(_ method: HTTPMethod, url: String, body: Data?, redirected: Bool) async throws -> T {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        try await Self.reachability.check(baseURL)
        let response: HTTPClientResponse
        do {
            response = try await Self.http.execute(request, timeout: .seconds(30))
        } catch {
            throw Failure(status: 0, code: "unreachable", message: "cannot reach the Ripcord API at \(baseURL): is `ripcord serve` running? (\(error))")
        }
        let data = Data(buffer: try await response.body.collect(upTo: 32 * 1024 * 1024))
        // This controller stands by: the command goes to the leader (once; a second redirect is an answer).
        if response.status == .temporaryRedirect, !redirected, let leader = response.headers.first(name: "location") {
            return try await send(method, url: leader, body: body, redirected: true)
        }
        guard (200..<300).contains(Int(response.status.code)) else {
            if let apiError = try? JSONDecoder().decode(ErrorEnvelope.self, from: data) {
                throw Failure(
                    status: Int(response.status.code), code: apiError.error.code, message: apiError.error.message,
                    problems: apiError.error.problems ?? [])
            }
            throw Failure(status: Int(response.status.code), code: "http", message: String(decoding: data, as: UTF8.self))
        }
        if data.isEmpty, let nothing = NoContent() as? T { return nothing }
        return try JSONDecoder().decode(T.self, from: data)
    }
}

/// The answer of a route that answers 204 without a body.
struct NoContent: Decodable {}

/// Asks the API's health route once per process, with a 3 s deadline, before the first call: an
/// address that accepts connections but never answers (a wrong port behind a proxy, a hung host)
/// fails fast instead of at the 30 s deadline of a real call, which may legitimately take long.
private actor Reachability {
    private var reached: Set<String> = []

    func check(_ baseURL: String) async throws {
        guard !reached.contains(baseURL) else { return }
        do {
            let response = try await APIClient.http.execute(HTTPClientRequest(url: baseURL + "/api/v1/health"), timeout: .seconds(3))
            _ = try await response.body.collect(upTo: 64 * 1024)
        } catch {
            throw APIClient.Failure(
                status: 0, code: "unreachable",
                message: "cannot reach the Ripcord API at \(baseURL) within 3 s: is `ripcord serve` running there? (\(error))")
        }
        reached.insert(baseURL)
    }
}
