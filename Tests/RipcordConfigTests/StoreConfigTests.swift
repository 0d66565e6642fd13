import Foundation
import RipcordConfig
import RipcordCore
import Testing

extension ConfigLoaderTests {
    static let external = oneService + "router: { mode: external }\n"

    @Test func sqliteInTheStateDirectoryIsTheDefaultStoreWithNoElection() throws {
        let config = try parse(Self.oneService)
        #expect(config.store == .sqlite)
        #expect(config.highAvailability == nil)
    }

    @Test func aPostgresStoreComesWithAnElectionOnDefaults() throws {
        let config = try parse(Self.external + "store:\n  postgres: { url: 'postgres://ripcord@db:5432/ripcord', passwordFile: pg.pass, sslmode: verify-full }\n")
        #expect(
            config.store
                == .postgres(
                    PostgresConnectionSpec(
                        url: .literal("postgres://ripcord@db:5432/ripcord"), passwordFile: "/etc/ripcord/pg.pass", sslMode: .verifyFull)))
        let ha = try #require(config.highAvailability)
        #expect(ha.renewInterval == .seconds(1) && ha.leaseDuration == .seconds(5))
        #expect(ha.advertiseURL == "http://127.0.0.1:7070")
        #expect(ha.name.hasSuffix("-7070"))
    }

    @Test func electionSettingsAreRead() throws {
        let config = try parse(
            Self.external
                + "store: { postgres: '${DATABASE_URL}' }\nha: { name: ctl-a, advertiseURL: 'http://10.0.0.5:7070', renewInterval: 500ms, leaseDuration: 3s }\n")
        #expect(config.store == .postgres(PostgresConnectionSpec(url: .environment("DATABASE_URL"))))
        #expect(
            config.highAvailability
                == HighAvailabilitySpec(name: "ctl-a", advertiseURL: "http://10.0.0.5:7070", renewInterval: .milliseconds(500), leaseDuration: .seconds(3)))
    }

    @Test func badStoreAndElectionSettingsNameTheirLineAndField() throws {
        let embedded = try #require(error(Self.oneService + "store: { postgres: 'postgres://ripcord@db/ripcord' }\n"))
        #expect(embedded.key == "store" && embedded.line == 5 && embedded.message.contains("router.mode: external"))
        let password = try #require(error(Self.external + "store: { postgres: 'postgres://ripcord:hunter2@db/ripcord' }\n"))
        #expect(password.key == "store.postgres" && password.message.contains("password"))
        let noStore = try #require(error(Self.external + "ha: { name: a }\n"))
        #expect(noStore.key == "ha" && noStore.message.contains("store.postgres"))
        let store = "store: { postgres: 'postgres://ripcord@db/ripcord' }\n"
        let tooShort = try #require(error(Self.external + store + "ha: { renewInterval: 2s, leaseDuration: 3s }\n"))
        #expect(tooShort.key == "ha.leaseDuration" && tooShort.message.contains("twice renewInterval"))
        let tooLong = try #require(error(Self.external + store + "ha: { renewInterval: 3s }\n"))
        #expect(tooLong.key == "ha.renewInterval" && tooLong.message.contains("half of leaseDuration"))
        let badName = try #require(error(Self.external + store + "ha: { name: 'a b' }\n"))
        #expect(badName.key == "ha.name")
        let unknown = try #require(error(Self.external + store + "ha: { lease: 5s }\n"))
        #expect(unknown.key == "ha.lease" && unknown.message.contains("leaseDuration"))
        let wildcard = try #require(error("api: { listen: 0.0.0.0:7070 }\n" + Self.external + store))
        #expect(wildcard.key == "store" && wildcard.message.contains("advertiseURL"))
    }
}
