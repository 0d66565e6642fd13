import Foundation
import RipcordCore
import RipcordFlagService
import RipcordStore
import RipcordTestSupport
import Testing

/// Tokens in the SQLite store: the rules checked inside each change, and the migration of older files.
@Suite(.tags(.integration)) struct AccessTokenStoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ripcord-tokens-\(UUID().uuidString)").path
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func open() throws -> SQLiteStore {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try SQLiteStore(path: "\(directory)/state.sqlite")
    }

    func token(_ name: String, _ kind: TokenKind, expiresAt: Date? = nil) -> AccessTokenRecord {
        AccessTokenRecord(
            name: name, hash: "hash-\(name)", kind: kind, environment: kind == .admin ? nil : "default", createdAt: now,
            expiresAt: expiresAt)
    }

    func refusal(_ body: () async throws -> Void) async -> Refusal? {
        do {
            try await body()
            return nil
        } catch {
            return error as? Refusal
        }
    }

    @Test func namesAreUniqueEvenAfterRevocation() async throws {
        let store = try open()
        try await store.addAccessToken(token("admin", .admin))
        try await store.addAccessToken(token("ci", .client))
        var duplicate = token("ci", .frontend)
        duplicate.hash = "another"
        #expect(await refusal { try await store.addAccessToken(duplicate) }?.code == "token_name_taken")
        _ = try await store.revokeAccessToken(name: "ci", at: now, by: "ops")
        #expect(await refusal { try await store.addAccessToken(duplicate) }?.code == "token_name_taken", "a revoked token keeps its name")
        #expect(try await store.accessTokens().records.map(\.name) == ["admin", "ci"], "the refused tokens stored nothing")
    }

    @Test func theLastActiveAdminTokenCannotBeRevoked() async throws {
        let store = try open()
        try await store.addAccessToken(token("admin", .admin))
        try await store.addAccessToken(token("expired-admin", .admin, expiresAt: now.addingTimeInterval(-1)))
        let refused = await refusal { _ = try await store.revokeAccessToken(name: "admin", at: now, by: "ops") }
        #expect(refused?.code == "last_admin_token")
        #expect(refused?.message.contains("lock everyone out") == true, "\(refused?.message ?? "")")
        try await store.addAccessToken(token("ops", .admin))
        let tokens = try await store.revokeAccessToken(name: "admin", at: now, by: "ops")
        #expect(tokens.named("admin")?.state(at: now) == .revoked && tokens.named("admin")?.revokedBy == "ops")
        #expect(await refusal { _ = try await store.revokeAccessToken(name: "ops", at: now, by: "ops") }?.code == "last_admin_token")
        #expect(await refusal { _ = try await store.revokeAccessToken(name: "admin", at: now, by: "ops") }?.code == "token_revoked")
        #expect(await refusal { _ = try await store.revokeAccessToken(name: "nobody", at: now, by: "ops") }?.code == "unknown_token")
    }

    @Test func rotationReplacesTheSecretAndEveryChangeRaisesTheGeneration() async throws {
        let store = try open()
        let created = try await store.addAccessToken(token("sdk", .client, expiresAt: now.addingTimeInterval(60)))
        let rotated = try await store.rotateAccessToken(name: "sdk", hash: "new-hash", expiresAt: nil, at: now, by: "ops")
        #expect(rotated.records.map(\.hash) == ["new-hash"])
        #expect(rotated.named("sdk")?.rotatedAt == now && rotated.named("sdk")?.rotatedBy == "ops")
        #expect(rotated.named("sdk")?.expiresAt == now.addingTimeInterval(60), "rotation keeps the expiry unless given one")
        #expect(rotated.named("sdk")?.kind == .client && rotated.named("sdk")?.environment == "default")
        let extended = try await store.rotateAccessToken(name: "sdk", hash: "newer-hash", expiresAt: .some(nil), at: now, by: "ops")
        #expect(extended.named("sdk")?.expiresAt == nil)
        #expect(created.generation < rotated.generation && rotated.generation < extended.generation)
        try await store.addAccessToken(token("admin", .admin))
        let revoked = try await store.revokeAccessToken(name: "sdk", at: now, by: "ops")
        #expect(revoked.generation > extended.generation + 1)
        #expect(await refusal { _ = try await store.rotateAccessToken(name: "sdk", hash: "x", expiresAt: nil, at: now, by: "ops") }?.code == "token_revoked")
    }

    @Test func aDatabaseFromBeforeTokenLifecyclesKeepsItsAdminTokenAndGetsUniqueNames() async throws {
        _ = try open()
        // Back to the tables as they were: the bootstrap token apart, names not unique.
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: try SystemProgram.require("sqlite3", package: "sqlite3"))
        sqlite.arguments = [
            "\(directory)/state.sqlite",
            """
            DROP INDEX access_token_name;
            ALTER TABLE access_token DROP COLUMN expires_at;
            ALTER TABLE access_token DROP COLUMN revoked_at;
            ALTER TABLE access_token DROP COLUMN bootstrap;
            ALTER TABLE access_token DROP COLUMN changed;
            ALTER TABLE access_token DROP COLUMN created_by;
            ALTER TABLE access_token DROP COLUMN revoked_by;
            ALTER TABLE access_token DROP COLUMN rotated_at;
            ALTER TABLE access_token DROP COLUMN rotated_by;
            CREATE TABLE token (name TEXT NOT NULL, hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
            INSERT INTO token VALUES ('admin', 'hash-bootstrap', 1000);
            INSERT INTO access_token (hash, name, kind, environment, created_at) VALUES
                ('hash-1', 'client-default', 'client', 'default', 2000),
                ('hash-2', 'client-default', 'client', 'default', 3000),
                ('hash-3', 'admin', 'admin', NULL, 4000);
            DELETE FROM grdb_migrations WHERE identifier = 'tokens-v2-lifecycle';
            """,
        ]
        try sqlite.run()
        sqlite.waitUntilExit()
        #expect(sqlite.terminationStatus == 0)

        let tokens = try await open().accessTokens()
        #expect(tokens.records.map(\.name) == ["admin", "client-default", "client-default-2", "admin-2"])
        #expect(tokens.records.map(\.hash) == ["hash-bootstrap", "hash-1", "hash-2", "hash-3"], "every secret still works")
        #expect(tokens.named("admin")?.bootstrap == true && tokens.named("admin")?.kind == .admin)
        #expect(tokens.records.allSatisfy { $0.state(at: now) == .active })
    }
}
