import Foundation
import GRDB
import Logging
import PostgresNIO
import RipcordCore
import RipcordFlagService
import RipcordMigrations
import RipcordPostgresStore
import RipcordStore
import RipcordTestSupport
import Testing

/// Everything both stores keep: the state, flags and tokens, guarded flag rollouts.
typealias FullStore = StateStore & FlagStore & FlagRolloutStore

/// The stores every contract test runs on.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    /// Runs `body` with a new, empty place for state of this kind, and closes every store it opened.
    func withPlace(_ body: (StorePlace) async throws -> Void) async throws {
        let place: StorePlace
        switch self {
        case .sqlite:
            place = StorePlace(kind: self, location: try temporaryDirectory("store") + "/state.sqlite", server: nil)
        case .postgres:
            let server = try #require(PostgresServer.current, "the suite needs the .postgresServer trait")
            let name = "state_\(UUID().uuidString.prefix(8).lowercased())"
            try await StorePlace.withConnection(server: server, database: "postgres") { connection in
                try await connection.query("CREATE DATABASE \(unescaped: name)", logger: StorePlace.logger)
            }
            place = StorePlace(kind: self, location: name, server: server)
        }
        do {
            try await body(place)
        } catch {
            await place.closeAll()
            throw error
        }
        await place.closeAll()
    }
}

/// One test's state: a SQLite file or a PostgreSQL database, opened as often as the test likes (a
/// restart, a second controller), and editable behind the stores' backs (a hand edit, a table gone).
final class StorePlace: Sendable {
    let kind: StoreKind
    /// The SQLite file's path, or the PostgreSQL database's name.
    let location: String
    let server: PostgresServer?
    private let opened = OpenedStores()
    /// Errors only: the pool's routine notes (connections closed with the test) would drown the results.
    static let logger = {
        var logger = Logger(label: "ripcord.tests.store")
        logger.logLevel = .error
        return logger
    }()

    init(kind: StoreKind, location: String, server: PostgresServer?) {
        self.kind = kind
        self.location = location
        self.server = server
    }

    func open() async throws -> any FullStore {
        guard server != nil else { return try SQLiteStore(path: location) }
        return try await openPostgres()
    }

    /// The PostgreSQL database as its store (closed with the place).
    func openPostgres() async throws -> PostgresStateStore {
        let server = try #require(server, "a PostgreSQL place")
        let store = try await PostgresStateStore.open(
            database: PostgresMigrationDatabase(
                configuration: PostgresConnection.Configuration(
                    host: "127.0.0.1", port: server.port, username: "postgres", password: server.password, database: location, tls: .disable)),
            logger: Self.logger)
        await opened.append(store)
        return store
    }

    /// Runs `sql` on the state directly.
    func edit(_ sql: String) async throws {
        guard let server else {
            try await DatabaseQueue(path: location).write { db in try db.execute(sql: sql) }
            return
        }
        try await Self.withConnection(server: server, database: location) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger)
        }
    }

    func closeAll() async {
        for store in await opened.all { await store.close() }
    }

    static func withConnection(server: PostgresServer, database: String, _ body: (PostgresConnection) async throws -> Void) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: "127.0.0.1", port: server.port, username: "postgres", password: server.password, database: database, tls: .disable),
            id: 1, logger: logger)
        do {
            try await body(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    private actor OpenedStores {
        var all: [PostgresStateStore] = []
        func append(_ store: PostgresStateStore) { all.append(store) }
    }
}

/// The refusal `body` threw, if it threw one.
func refusal(_ body: () async throws -> Void) async -> Refusal? {
    do {
        try await body()
        return nil
    } catch {
        return error as? Refusal
    }
}
