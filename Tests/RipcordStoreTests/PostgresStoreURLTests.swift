import Foundation
import RipcordCore
import RipcordFlagService
import RipcordPostgresStore
import RipcordTestSupport
import Testing

/// `PostgresStateStore.open(url:…)`, what `serve` and `ripcord store` connect with: the password and TLS
/// as libpq takes them, against a server that wants both.
@Suite(.postgresServer(password: "store-secret", tls: true), .tags(.integration)) struct PostgresStoreURLTests {
    @Test func theStoreConnectsOverVerifiedTLSWithThePasswordFromAFile() async throws {
        let server = try #require(PostgresServer.current)
        let passwordFile = try temporaryDirectory("password") + "/password"
        try "store-secret\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let store = try await PostgresStateStore.open(
            url: server.urlWithoutPassword(database: "postgres"), passwordFile: passwordFile, sslMode: .verifyFull, sslRootCert: server.certificate)
        let events = try await store.record(service: "checkout", rolloutID: nil, events: [EventDraft("note", "over TLS")], at: Moment(millisecondsSinceEpoch: 0))
        #expect(try await store.lastEventID() == events.last?.id)
        await store.close()
    }

    /// A one-shot command must not wait for ever on a pool that keeps retrying.
    @Test func aRefusedLoginFailsAtOnceSayingWhy() async throws {
        let server = try #require(PostgresServer.current)
        let started = ContinuousClock.now
        await #expect {
            _ = try await PostgresStateStore.open(url: server.url(database: "postgres").replacingOccurrences(of: "store-secret", with: "wrong"), sslMode: .require)
        } throws: { error in
            "\(error)".contains("cannot connect to postgres 127.0.0.1:\(server.port)/postgres") && "\(error)".contains("password authentication failed")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}
