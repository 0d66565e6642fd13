import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RipcordCore

/// Sends one synthetic request to a service's front door, pinned to the candidate.
public struct SyntheticRequester: Sendable {
    private let client: HTTPClient

    public init(client: HTTPClient = .shared) {
        self.client = client
    }

    /// The response status, or nil when none came back (the router counts that as the candidate's failure too).
    @discardableResult
    public func send(_ spec: SyntheticTrafficSpec, frontDoor: HostPort) async -> Int? {
        var request = HTTPClientRequest(url: "http://\(frontDoor)\(spec.path)")
        request.method = HTTPMethod(rawValue: spec.method)
        for (name, value) in spec.headers { request.headers.add(name: name, value: value) }
        request.headers.replaceOrAdd(name: SyntheticTrafficSpec.pinHeader, value: "candidate")
        request.headers.replaceOrAdd(name: SyntheticTrafficSpec.markerHeader, value: "1")
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            _ = try? await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        } catch {
            return nil
        }
    }
}
