import Foundation
import RipcordCore
import RipcordTestSupport
import Testing

/// Revoking a token against a real `ripcord serve`, seen from a client's raw socket: its open SDK
/// stream ends, a keep-alive connection that used it is refused on its next request, and so is a new one.
@Suite(.serialized, .tags(.integration)) struct TokenRevocationServeTests {
    /// Reads until `marker` arrives, the server closes, or `seconds` pass.
    func read(_ connection: RawConnection, until marker: String, within seconds: Double) async -> (text: String, found: Bool, closed: Bool) {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var text = ""
        while ContinuousClock.now < deadline {
            let (chunk, closed) = await connection.receive(within: 0.05)
            text += chunk
            if text.contains(marker) || closed { return (text, text.contains(marker), closed) }
        }
        return (text, false, false)
    }

    @Test func revokingAClientTokenEndsItsOpenStreamWithinASecondAndRefusesItAfterwards() async throws {
        let (process, api, directory, _) = try await ServeProcessTests.startServe("token-revoke")
        defer { process.signal(SIGTERM) }
        #expect(try await api.call("POST", "/api/v1/flags", body: #"{"name":"kill","enabled":true}"#).0 == 201)
        let (created, body) = try await api.call("POST", "/api/v1/tokens", body: #"{"name":"sdk-stream","kind":"client"}"#)
        #expect(created == 201)
        let token = try #require(body["token"] as? String)
        let port = try #require(Int(api.base.split(separator: ":").last ?? ""))
        let address = HostPort(host: "127.0.0.1", port: port)

        let stream = try RawConnection(address)
        stream.send("GET /api/client/streaming HTTP/1.1\r\nHost: ripcord\r\nAuthorization: \(token)\r\nAccept: text/event-stream\r\n\r\n")
        let opened = await read(stream, until: "unleash-connected", within: 10)
        #expect(opened.found, "\(opened.text)")
        #expect(opened.text.hasPrefix("HTTP/1.1 200"))

        // An OFREP evaluation on a keep-alive connection: the fast path remembers the connection's token.
        let evaluation = "POST /ofrep/v1/evaluate/flags/kill HTTP/1.1\r\nHost: ripcord\r\nAuthorization: \(token)\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        let keepAlive = try RawConnection(address)
        keepAlive.send(evaluation)
        #expect(await read(keepAlive, until: "\"value\":true", within: 10).found)

        _ = try await revokeAndExpectTheEndOf(stream, token: "sdk-stream", api)

        keepAlive.send(evaluation)
        let refused = await read(keepAlive, until: "\r\n\r\n", within: 5)
        #expect(refused.text.hasPrefix("HTTP/1.1 401"), "\(refused.text)")
        let (status, _) = try await get("\(api.base)/api/client/features", headers: [("authorization", token)])
        #expect(status == 401)
        #expect(!(try String(contentsOfFile: "\(directory)/serve.log", encoding: .utf8)).contains(token), "tokens are never logged")
    }

    @Test func revokingATokenEndsItsEventStreamWithinASecondAndNothingIsSentAfter() async throws {
        let (process, api, _, _) = try await ServeProcessTests.startServe("token-revoke-events")
        defer { process.signal(SIGTERM) }
        let (created, body) = try await api.call("POST", "/api/v1/tokens", body: #"{"name":"wallboard","kind":"viewer"}"#)
        #expect(created == 201)
        let token = try #require(body["token"] as? String)
        let port = try #require(Int(api.base.split(separator: ":").last ?? ""))
        let stream = try RawConnection(HostPort(host: "127.0.0.1", port: port))
        stream.send("GET /api/v1/events?service=checkout HTTP/1.1\r\nHost: ripcord\r\nAuthorization: Bearer \(token)\r\n\r\n")
        #expect(await read(stream, until: "HTTP/1.1 200", within: 10).found)
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.0.0"}"#).0 == 202)
        // Read up to the promotion, so whatever arrives after the revocation was sent after it.
        #expect(await read(stream, until: "event: rollout.promoted", within: 10).found, "the viewer follows the rollout")

        let ended = try await revokeAndExpectTheEndOf(stream, token: "wallboard", api)
        #expect(!ended.contains("event: "), "nothing is sent after the revocation: \(ended)")
        #expect(try await api.call("POST", "/api/v1/services/checkout/deploy", body: #"{"version":"1.1.0"}"#).0 == 202)
        let after = await stream.receive(within: 1)
        #expect(!after.text.contains("event: "), "\(after.text)")
    }

    /// Revokes the token and expects its open stream to end within 1.5 s: the server ends the chunked
    /// response (the last chunk: size 0, no data) or closes the connection. Returns what came meanwhile.
    func revokeAndExpectTheEndOf(_ stream: RawConnection, token name: String, _ api: ServeProcessTests.API) async throws -> String {
        let revokedAt = ContinuousClock.now
        #expect(try await api.call("DELETE", "/api/v1/tokens/\(name)").0 == 200)
        let ended = await read(stream, until: "0\r\n\r\n", within: 5)
        let elapsed = ContinuousClock.now - revokedAt
        #expect(ended.found || ended.closed, "the stream is still open 5 s after the revocation: \(ended.text)")
        #expect(elapsed < .seconds(1.5), "the stream ended \(elapsed) after the revocation")
        return ended.text
    }

    /// Opens `/api/client/streaming` with `token` and waits for its first event.
    func openStream(_ address: HostPort, token: String) async throws -> RawConnection {
        let stream = try RawConnection(address)
        stream.send("GET /api/client/streaming HTTP/1.1\r\nHost: ripcord\r\nAuthorization: \(token)\r\n\r\n")
        let opened = await read(stream, until: "unleash-connected", within: 10)
        #expect(opened.found, "\(opened.text)")
        return stream
    }

    @Test func rotatingATokenEndsTheStreamsOfItsOldSecretAndExpiryEndsTheRest() async throws {
        let (process, api, _, _) = try await ServeProcessTests.startServe("token-rotate-expire")
        defer { process.signal(SIGTERM) }
        let address = HostPort(host: "127.0.0.1", port: try #require(Int(api.base.split(separator: ":").last ?? "")))
        let rotating = try #require(try await api.call("POST", "/api/v1/tokens", body: #"{"name":"rotating","kind":"client"}"#).1["token"] as? String)
        let short = try #require(try await api.call("POST", "/api/v1/tokens", body: #"{"name":"short","kind":"client","expires":"2s"}"#).1["token"] as? String)
        let expiresAt = ContinuousClock.now + .seconds(2)
        let rotatingStream = try await openStream(address, token: rotating)
        let shortStream = try await openStream(address, token: short)

        let (rotated, body) = try await api.call("POST", "/api/v1/tokens/rotating/rotate")
        #expect(rotated == 200)
        let ended = await read(rotatingStream, until: "0\r\n\r\n", within: 2)
        #expect(ended.found || ended.closed, "the old secret's stream is still open: \(ended.text)")
        #expect(try await get("\(api.base)/api/client/features", headers: [("authorization", rotating)]).0 == 401)
        let renewed = try #require(body["token"] as? String)
        #expect(try await get("\(api.base)/api/client/features", headers: [("authorization", renewed)]).0 == 200)

        let expired = await read(shortStream, until: "0\r\n\r\n", within: 6)
        #expect(expired.found || expired.closed, "the expired token's stream is still open: \(expired.text)")
        let late = ContinuousClock.now - expiresAt
        #expect(late < .seconds(1.5), "the stream ended \(late) after the expiry")
        #expect(try await get("\(api.base)/api/client/features", headers: [("authorization", short)]).0 == 401)
    }
}
