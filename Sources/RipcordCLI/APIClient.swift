import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RipcordAPI

/// The CLI's side of the JSON API.
struct APIClient {
    let baseURL: String
    let token: String?

    struct Failure: Error, CustomStringConvertible {
        let status: Int
        let code: String
        let message: String
        var description: String { "error \(status) \(code): \(message)" }
    }

    func get<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws -> T {
        try await send(.GET, path, body: Optional<String>.none)
    }

    func post<T: Decodable, B: Encodable>(_ path: String, body: B?, as type: T.Type = T.self) async throws -> T {
        try await send(.POST, path, body: body)
    }

    func delete<T: Decodable>(_ path: String, as type: T.Type = T.self) async throws -> T {
        try await send(.DELETE, path, body: Optional<String>.none)
    }

    private func send<T: Decodable, B: Encodable>(_ method: HTTPMethod, _ path: String, body: B?) async throws -> T {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            throw Failure(status: 0, code: "unreachable", message: "cannot reach the Ripcord API at \(baseURL): is `ripcord serve` running? (\(error))")
        }
        let data = Data(buffer: try await response.body.collect(upTo: 32 * 1024 * 1024))
        guard (200..<300).contains(Int(response.status.code)) else {
            if let apiError = try? JSONDecoder().decode(APIError.self, from: data) {
                throw Failure(status: Int(response.status.code), code: apiError.error.code, message: apiError.error.message)
            }
            throw Failure(status: Int(response.status.code), code: "http", message: String(decoding: data, as: UTF8.self))
        }
        return try JSONDecoder().decode(T.self, from: data)
    }
}
