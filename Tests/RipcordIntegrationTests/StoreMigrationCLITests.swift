import Foundation
import RipcordCore
import RipcordFlagService
import RipcordStore
import RipcordTestSupport
import Testing

/// `ripcord store migrate-to-postgres` as an operator runs it: the counts printed, no token hash shown,
/// a second copy into the same database refused.
@Suite(.postgresServer, .tags(.integration)) struct StoreMigrationCLITests {
    @Test func migrateToPostgresPrintsTheCountsAndRefusesASecondCopy() async throws {
        let server = try #require(PostgresServer.current)
        let state = try temporaryDirectory("state")
        let store = try SQLiteStore.openState(directory: state, tokenFile: "\(state)/admin.token")
        try await store.addAccessToken(
            AccessTokenRecord(name: "admin", hash: "hash-of-the-admin-secret", kind: .admin, environment: nil, createdAt: Date(), bootstrap: true))
        _ = try await store.record(service: "checkout", rolloutID: nil, events: [EventDraft("note", "one"), EventDraft("note", "two")], at: Moment(millisecondsSinceEpoch: 0))
        let arguments = ["store", "migrate-to-postgres", "--state-dir", state, "--url", server.urlWithoutPassword(database: "postgres"), "--sslmode", "disable"]

        let (status, output) = try await ChildProcess.runRipcord(arguments)
        #expect(status == 0, "\(output)")
        let rows = output.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(rows.contains("access_token 1") && rows.contains("event 2") && rows.contains("flag 0"), "\(output)")
        #expect(!output.contains("hash-of-the-admin-secret"))

        let (again, refusal) = try await ChildProcess.runRipcord(arguments)
        #expect(again == 1 && refusal.contains("already holds Ripcord state (rows in event, access_token)"), "\(refusal)")
    }
}
