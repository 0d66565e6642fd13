import Foundation
import Hummingbird
import RipcordAPI
import RipcordConfig
import RipcordServer
import RipcordTestSupport
import Testing
import Yams

/// docs/openapi.yaml stays true: it describes every route the server registers, and nothing else.
@Suite(.tags(.integration)) struct OpenAPIDescriptionTests {
    static let documentPath = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../docs/openapi.yaml").standardized.path

    /// "METHOD /path/{param}" for every operation in the document.
    static func describedOperations() throws -> Set<String> {
        let document = try #require(try Yams.load(yaml: String(contentsOfFile: documentPath, encoding: .utf8)) as? [String: Any])
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let paths = try #require(document["paths"] as? [String: Any])
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        return Set(
            paths.flatMap { path, item in
                ((item as? [String: Any]) ?? [:]).keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" }
            })
    }

    /// "METHOD /path/{param}" for every route of the API application `ripcord serve` runs (flags, SDK and OFREP included).
    static func registeredRoutes() async throws -> Set<String> {
        let directory = try temporaryDirectory("openapi")
        let path = "\(directory)/ripcord.yaml"
        try checkoutConfig(directory: directory, strategy: "canary:\n  steps: []", instances: 1).write(toFile: path, atomically: true, encoding: .utf8)
        let server = try await RipcordServer(config: try ConfigLoader.load(file: path))
        let router = server.apiRouter()
        await server.shutdown(keepInstances: false)
        return Set(
            router.routes.map { route in
                let path = route.path.description
                return "\(route.method.rawValue) \(path.hasPrefix("/") ? path : "/" + path)"
            })
    }

    @Test func everyRegisteredRouteIsDescribedAndEveryDescribedOperationIsRegistered() async throws {
        let described = try Self.describedOperations()
        let registered = try await Self.registeredRoutes()
        #expect(registered.count > 40)
        #expect(registered.subtracting(described).sorted() == [], "registered but missing from docs/openapi.yaml")
        #expect(described.subtracting(registered).sorted() == [], "described in docs/openapi.yaml but not registered")
    }
}
