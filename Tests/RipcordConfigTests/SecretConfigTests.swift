import Foundation
import RipcordConfig
import RipcordCore
import RipcordTestSupport
import Testing

/// Secrets in `ripcord.yaml`: `${ENV_NAME}` and `{ file: PATH }` references kept as written, and
/// PostgreSQL settings that keep the password out of the configuration.
@Suite(.tags(.unit)) struct SecretConfigTests: ConfigParsing {
    static let service = "services:\n  a:\n    listen: 127.0.0.1:1\n    run: { command: 'a {port}' }\n"

    @Test func headersMayBeEnvironmentOrFileReferencesKeptAsWritten() throws {
        let config = try parse(
            Self.service + """
                    hooks:
                      - { name: check, at: afterStep, http: { url: "http://h/x", headers: { Authorization: "${HOOK_TOKEN}", X-Key: { file: secrets/key }, X-Plain: yes } } }
                notifications:
                  - { name: chat, url: "https://chat.example/x", headers: { Authorization: { file: /run/secrets/chat } } }
                """)
        #expect(
            config.services[0].hooks[0].action
                == .http(
                    url: "http://h/x",
                    headers: [
                        "Authorization": .environment("HOOK_TOKEN"), "X-Key": .file("/etc/ripcord/secrets/key"), "X-Plain": .literal("yes"),
                    ]))
        #expect(config.notifications[0].headers == ["Authorization": .file("/run/secrets/chat")])
    }

    @Test func aReferenceInsideOtherTextOrAMalformedOneIsRefusedWithItsPlace() throws {
        let partial = try #require(
            error(
                Self.service + """
                        hooks:
                          - { name: check, at: afterStep, http: { url: "http://h/x", headers: { Authorization: "Bearer ${TOKEN}" } } }
                    """))
        #expect(partial.key == "services.a.hooks[0].http.headers.Authorization" && partial.line == 6)
        #expect(partial.message.contains("whole value"))
        let badName = try #require(error(Self.service + "notifications:\n  - { name: x, url: http://h/x, headers: { A: \"${1X}\" } }\n"))
        #expect(badName.key == "notifications[0].headers.A" && badName.line == 6)
        let unknownKey = try #require(error(Self.service + "notifications:\n  - { name: x, url: http://h/x, headers: { A: { path: /x } } }\n"))
        #expect(unknownKey.key.hasPrefix("notifications[0].headers.A"))
    }

    @Test func aPostgresURLHoldingAPasswordIsRefusedBecauseRevisionsStoreIt() throws {
        let refused = try #require(error(Self.service + "    migrations: { folder: m, postgres: \"postgres://app:hunter2@db/app\" }\n"))
        #expect(refused.key == "services.a.migrations.postgres" && refused.line == 5)
        #expect(refused.message.contains("password") && refused.message.contains("${ENV_NAME}") && !refused.message.contains("hunter2"))
        let inMapping = try #require(error(Self.service + "    migrations: { folder: m, postgres: { url: \"postgres://app:hunter2@db/app\" } }\n"))
        #expect(inMapping.key == "services.a.migrations.postgres.url")
    }

    @Test func postgresSettingsTakeAReferenceAPasswordFileAndTLS() throws {
        let plain = try parse(Self.service + "    migrations: { folder: m, postgres: \"postgres://app@db/app?sslmode=require\" }\n")
        #expect(plain.services[0].migrations?.database == .postgres(url: .literal("postgres://app@db/app?sslmode=require")))
        let referenced = try parse(Self.service + "    migrations: { folder: m, postgres: \"${DATABASE_URL}\" }\n")
        #expect(referenced.services[0].migrations?.database == .postgres(url: .environment("DATABASE_URL")))
        let fromFile = try parse(Self.service + "    migrations: { folder: m, postgres: { file: db-url } }\n")
        #expect(fromFile.services[0].migrations?.database == .postgres(url: .file("/etc/ripcord/db-url")))
        let full = try parse(
            Self.service + """
                    migrations:
                      folder: m
                      postgres: { url: "postgres://app@db/app", passwordFile: pg-password, sslmode: verify-full, sslrootcert: /etc/ssl/db-ca.pem }
                """)
        #expect(
            full.services[0].migrations?.database
                == .postgres(
                    url: .literal("postgres://app@db/app"), passwordFile: "/etc/ripcord/pg-password", sslMode: .verifyFull, sslRootCert: "/etc/ssl/db-ca.pem"))
        let badMode = try #require(error(Self.service + "    migrations: { folder: m, postgres: { url: \"postgres://a@db/a\", sslmode: always } }\n"))
        #expect(badMode.key == "services.a.migrations.postgres.sslmode" && badMode.message.contains("verify-full"))
    }

    @Test func referencesAreStoredAsWrittenAndOldPlainHeadersStillDecode() throws {
        let hook = HookSpec(
            name: "h", point: .afterStep,
            action: .http(
                url: "http://h/x",
                headers: [
                    "A": .environment("TOKEN"), "B": .file("/run/secrets/b"), "C": .literal("plain"),
                ]))
        let json = String(decoding: try JSONEncoder().encode(hook), as: UTF8.self)
        #expect(json.contains(#""A":"${TOKEN}""#) && json.contains(#""B":{"file":"\/run\/secrets\/b"}"#) && json.contains(#""C":"plain""#))
        #expect(try JSONDecoder().decode(HookSpec.self, from: Data(json.utf8)) == hook)
        // A literal is a plain string, as every header was before references: stored revisions still decode.
        let database = #"{"postgres":{"url":"postgres://app@db/app"}}"#
        #expect(try JSONDecoder().decode(MigrationsSpec.Database.self, from: Data(database.utf8)) == .postgres(url: .literal("postgres://app@db/app")))
    }
}
