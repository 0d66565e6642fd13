import Foundation
import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
@testable import RipcordAPI
import RipcordFlagService
import RipcordFlags
import RipcordStore
import RipcordTestSupport
import Testing

/// The OFREP fast path on an `EmbeddedChannel`: what it answers itself, and that it hands everything
/// else on unchanged and in order.
@Suite(.tags(.unit)) struct OFREPFastPathTests {
    struct Setup {
        let channel: EmbeddedChannel
        let token: String
    }

    func setup() async throws -> Setup {
        let directory = try temporaryDirectory("ofrep-fast-path")
        let store = try SQLiteStore(path: "\(directory)/ripcord.sqlite")
        let flags = FlagService(store: store)
        try await flags.create(FeatureDefinition(name: "new-checkout", enabled: true), environment: "default", actor: "test")
        _ = try await flags.snapshot(environment: "default")
        let token = "rpc_client_token"
        let authenticator = TokenAuthenticator(
            AccessTokens(
                generation: 1,
                records: [
                    AccessTokenRecord(name: "sdk", hash: TokenAuthenticator.hash(token), kind: .client, environment: "default", createdAt: Date())
                ]))
        let channel = EmbeddedChannel(handler: OFREPFastPathHandler(flags: flags, authenticator: authenticator))
        return Setup(channel: channel, token: token)
    }

    func send(_ channel: EmbeddedChannel, _ path: String, method: HTTPRequest.Method = .post, token: String?, body: String) throws {
        var fields = HTTPFields()
        if let token { fields[.authorization] = token }
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: method, scheme: "http", authority: "x", path: path, headerFields: fields)))
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: body)))
        try channel.writeInbound(HTTPRequestPart.end(nil))
    }

    /// The parts that reached the routes.
    func handedOn(_ channel: EmbeddedChannel) throws -> [HTTPRequestPart] {
        var parts: [HTTPRequestPart] = []
        while let part = try channel.readInbound(as: HTTPRequestPart.self) { parts.append(part) }
        return parts
    }

    func answer(_ channel: EmbeddedChannel) throws -> (HTTPResponse, String)? {
        guard case let .head(head)? = try channel.readOutbound(as: HTTPResponsePart.self),
            case let .body(body)? = try channel.readOutbound(as: HTTPResponsePart.self),
            case .end? = try channel.readOutbound(as: HTTPResponsePart.self)
        else { return nil }
        return (head, String(buffer: body))
    }

    @Test func aPlainEvaluationIsAnsweredOnTheEventLoop() async throws {
        let setup = try await setup()
        try send(setup.channel, "/ofrep/v1/evaluate/flags/new-checkout", token: setup.token, body: #"{"context":{"targetingKey":"ann"}}"#)
        #expect(try handedOn(setup.channel).isEmpty)
        let (head, body) = try #require(try answer(setup.channel))
        #expect(head.status == .ok && head.headerFields[.contentType] == "application/json")
        #expect(body == #"{"key":"new-checkout","value":true,"reason":"STATIC","variant":"","metadata":{"enabled":true}}"#)
    }

    @Test func everythingElseGoesToTheRoutesUnchanged() async throws {
        let setup = try await setup()
        let refused: [(String, String?, String)] = [
            ("/ofrep/v1/evaluate/flags/unknown", setup.token, "{}"),
            ("/ofrep/v1/evaluate/flags/new-checkout", "rpc_wrong", "{}"),
            ("/ofrep/v1/evaluate/flags/new-checkout", nil, "{}"),
            ("/ofrep/v1/evaluate/flags/new-checkout", setup.token, "{not json"),
            ("/ofrep/v1/evaluate/flags", setup.token, "{}"),
            ("/api/v1/services", setup.token, ""),
        ]
        for (path, token, body) in refused {
            try send(setup.channel, path, token: token, body: body)
            let parts = try handedOn(setup.channel)
            guard parts.count == 3, case let .head(head) = parts[0], case let .body(passed) = parts[1], case .end = parts[2] else {
                Issue.record("\(path): handed on \(parts)")
                continue
            }
            #expect(head.path == path && String(buffer: passed) == body, "\(path) reaches the routes as sent")
            #expect(try setup.channel.readOutbound(as: HTTPResponsePart.self) == nil, "\(path) is not answered here")
            // The routes answer it; only then may the next request be answered here.
            try setup.channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .notFound)))
            try setup.channel.writeOutbound(HTTPResponsePart.end(nil))
            while try setup.channel.readOutbound(as: HTTPResponsePart.self) != nil {}
        }
    }

    @Test func whileTheRoutesOweAnAnswerTheNextRequestWaitsInLine() async throws {
        let setup = try await setup()
        try send(setup.channel, "/api/v1/services", method: .get, token: setup.token, body: "")
        #expect(try handedOn(setup.channel).count == 3)
        try send(setup.channel, "/ofrep/v1/evaluate/flags/new-checkout", token: setup.token, body: "{}")
        #expect(try handedOn(setup.channel).count == 3, "answering it now would overtake the answer still owed")
        #expect(try setup.channel.readOutbound(as: HTTPResponsePart.self) == nil)
        try setup.channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try setup.channel.writeOutbound(HTTPResponsePart.end(nil))
        try setup.channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try setup.channel.writeOutbound(HTTPResponsePart.end(nil))
        while try setup.channel.readOutbound(as: HTTPResponsePart.self) != nil {}
        try send(setup.channel, "/ofrep/v1/evaluate/flags/new-checkout", token: setup.token, body: "{}")
        #expect(try handedOn(setup.channel).isEmpty && (try answer(setup.channel)) != nil, "answered here again once nothing is owed")
    }
}
