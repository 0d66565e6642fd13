import Foundation
import RipcordCore
import Hummingbird
import HummingbirdTesting
import RipcordAPI
import RipcordConfig
import RipcordController
import RipcordFlagService
import RipcordServer
import RipcordStore
import RipcordTestSupport
import Testing

@Suite(.serialized, .tags(.integration)) struct APITests {
    func withAPI(_ body: @escaping @Sendable (any TestClientProtocol, String, RipcordServer) async throws -> Void) async throws {
        let directory = try temporaryDirectory("api")
        let path = "\(directory)/ripcord.yaml"
        try checkoutConfig(directory: directory, strategy: "canary:\n  steps:\n    - setWeight: 10\n    - pause: {}", instances: 1)
            .write(toFile: path, atomically: true, encoding: .utf8)
        let server = try await RipcordServer(config: try ConfigLoader.load(file: path))
        try await server.start()
        let token = try String(contentsOfFile: server.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let app = Application(router: RipcordAPI.router(controller: server.controller, authenticator: server.authenticator))
        do {
            try await app.test(.router) { client in try await body(client, token, server) }
        } catch {
            await server.shutdown(keepInstances: false)
            throw error
        }
        await server.shutdown(keepInstances: false)
    }

    static func json(_ buffer: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] ?? [:]
    }

    static func errorCode(_ buffer: ByteBuffer) -> String? {
        (json(buffer)["error"] as? [String: Any])?["code"] as? String
    }

    @Test func requiresABearerToken() async throws {
        try await withAPI { client, token, server in
            try await client.execute(uri: "/api/v1/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/api/v1/services", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(Self.errorCode(response.body) == "unauthorized")
                #expect(response.headers[.contentType] == "application/json")
            }
            try await client.execute(uri: "/api/v1/services", method: .get, headers: [.authorization: "Bearer nope"]) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/api/v1/services", method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                #expect(response.status == .ok)
                let list = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [[String: Any]]
                #expect(list?.first?["name"] as? String == "checkout")
            }
            let attributes = try FileManager.default.attributesOfItem(atPath: server.tokenFile)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            #expect(try await server.store.accessTokens().records.map(\.hash) == [TokenAuthenticator.hash(token)], "only the hash is stored")
        }
    }

    @Test func badRequestsGetJSONErrorsAndChangeNothing() async throws {
        try await withAPI { client, token, server in
            let auth: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
            try await client.execute(
                uri: "/api/v1/services/checkout/deploy", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"version":"1.0"}"#)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(Self.errorCode(response.body) == "invalid_version")
            }
            try await client.execute(
                uri: "/api/v1/services/checkout/deploy", method: .post, headers: auth,
                body: ByteBuffer(string: "{not json")
            ) { response in
                #expect(response.status == .badRequest)
                #expect(Self.errorCode(response.body) == "invalid_request")
            }
            try await client.execute(
                uri: "/api/v1/services/nope/deploy", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"version":"1.0.0"}"#)
            ) { response in
                #expect(response.status == .notFound)
                #expect(Self.errorCode(response.body) == "unknown_service")
            }
            try await client.execute(uri: "/api/v1/services/checkout/promote", method: .post, headers: auth) { response in
                #expect(response.status == .conflict)
                #expect(Self.errorCode(response.body) == "no_active_rollout")
            }
            try await client.execute(uri: "/api/v1/rollouts/abc", method: .get, headers: auth) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/api/v1/nowhere", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
                #expect(Self.errorCode(response.body) == "not_found")
            }
            #expect(try await server.store.revisions(service: "checkout").isEmpty, "rejected requests recorded nothing")

            var rolloutID: Int?
            try await client.execute(
                uri: "/api/v1/services/checkout/deploy", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"version":"1.0.0"}"#)
            ) { response in
                #expect(response.status == .accepted)
                rolloutID = Self.json(response.body)["id"] as? Int
            }
            try await client.execute(
                uri: "/api/v1/services/checkout/deploy", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"version":"1.0.1"}"#)
            ) { response in
                #expect(response.status == .conflict)
                #expect(Self.errorCode(response.body) == "rollout_in_progress")
            }
            #expect(try await server.store.revisions(service: "checkout").count == 1, "the refused deploy added no revision")
            let id = try #require(rolloutID)
            try await client.execute(uri: "/api/v1/rollouts/\(id)", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                let events = Self.json(response.body)["events"] as? [[String: Any]]
                #expect(events?.first?["kind"] as? String == "rollout.started")
                #expect(!String(buffer: response.body).contains(token), "tokens never appear in events")
            }
        }
    }
}
