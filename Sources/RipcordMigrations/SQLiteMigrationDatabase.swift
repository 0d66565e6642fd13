import Foundation
import GRDB

/// A SQLite database file. The one-migrator lock is an exclusive `flock` on `<file>.migrator-lock`
/// rather than a database lock, so the service keeps reading and writing between migrations; the
/// kernel drops it when the migrator's process dies.
public struct SQLiteMigrationDatabase: MigrationDatabase {
    public let path: String
    public var dialect: SQLDialect { .sqlite }
    public var displayName: String { path }
    public var user: String { getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())" }

    public init(path: String) {
        self.path = path
    }

    public func withMigratorLock<Result: Sendable>(timeout: Duration, _ body: (any MigrationSession) async throws -> Result) async throws -> Result {
        let lockPath = path + ".migrator-lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw MigrationError.database("cannot open the lock file \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let deadline = ContinuousClock.now + timeout
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw MigrationError.database("cannot lock \(lockPath): \(String(cString: strerror(errno)))")
            }
            guard ContinuousClock.now < deadline else { throw MigrationError.lockTimeout(database: displayName, waited: timeout) }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await withConnection(busyTimeout: timeout, body)
    }

    public func withConnection<Result: Sendable>(_ body: (any MigrationSession) async throws -> Result) async throws -> Result {
        try await withConnection(busyTimeout: .seconds(30), body)
    }

    private func withConnection<Result: Sendable>(busyTimeout: Duration, _ body: (any MigrationSession) async throws -> Result) async throws -> Result {
        var configuration = Configuration()
        // The engine opens and ends each migration's transaction itself, in separate calls.
        configuration.allowsUnsafeTransactions = true
        configuration.busyMode = .timeout(busyTimeout.seconds)
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw MigrationError.database("cannot open \(path): \(Self.message(error))")
        }
        defer { try? queue.close() }
        return try await body(Session(queue: queue))
    }

    static func message(_ error: any Error) -> String {
        (error as? DatabaseError)?.message ?? "\(error)"
    }

    private struct Session: MigrationSession {
        let queue: DatabaseQueue

        func execute(_ sql: String, _ values: [SQLValue]) async throws {
            do {
                try await queue.writeWithoutTransaction { db in
                    try db.execute(sql: sql, arguments: Self.arguments(values))
                }
            } catch {
                throw MigrationError.database(SQLiteMigrationDatabase.message(error))
            }
        }

        func query(_ sql: String, _ values: [SQLValue]) async throws -> [[SQLValue]] {
            do {
                return try await queue.writeWithoutTransaction { db in
                    try Row.fetchAll(db, sql: sql, arguments: Self.arguments(values)).map { row in
                        row.databaseValues.map(Self.value)
                    }
                }
            } catch {
                throw MigrationError.database(SQLiteMigrationDatabase.message(error))
            }
        }

        private static func arguments(_ values: [SQLValue]) -> StatementArguments {
            StatementArguments(
                values.map { value -> DatabaseValue in
                    switch value {
                    case let .text(text): return text.databaseValue
                    case let .integer(number): return number.databaseValue
                    case .null: return .null
                    }
                })
        }

        private static func value(_ value: DatabaseValue) -> SQLValue {
            switch value.storage {
            case .null: return .null
            case let .int64(number): return .integer(number)
            case let .double(number): return .text(String(number))
            case let .string(text): return .text(text)
            case let .blob(data): return .text(String(decoding: data, as: UTF8.self))
            }
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
