import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RipcordCore

/// Checks an instance's health endpoint over HTTP.
/// Asks an instance whether it is healthy (the controller's seam; `HealthProbe` does it over HTTP).
public protocol HealthChecker: Sendable {
    func check(_ address: HostPort, spec: HealthCheckSpec) async -> HealthProbe.Result
}

public struct HealthProbe: HealthChecker {
    public enum Result: Sendable, Equatable {
        case healthy
        case unhealthy(String)
    }

    private let client: HTTPClient

    public init(client: HTTPClient = .shared) {
        self.client = client
    }

    public func check(_ address: HostPort, spec: HealthCheckSpec) async -> Result {
        var request = HTTPClientRequest(url: "http://\(address)\(spec.path)")
        request.method = .GET
        do {
            let response = try await client.execute(request, timeout: .milliseconds(spec.timeout.milliseconds))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return (200..<300).contains(Int(response.status.code)) ? .healthy : .unhealthy("health check returned \(response.status.code)")
        } catch {
            return .unhealthy("health check failed: \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectTimeout") { return "connect timeout" }
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("deadlineExceeded") { return "timed out" }
        return text
    }
}
