/// A value bound to or read from a statement: the few types the history table needs.
public enum SQLValue: Sendable, Equatable, CustomStringConvertible {
    case text(String)
    case integer(Int64)
    case null

    public var description: String {
        switch self {
        case let .text(text): return text
        case let .integer(number): return String(number)
        case .null: return "NULL"
        }
    }

    var text: String? { if case let .text(text) = self { text } else { nil } }
    var integer: Int64? { if case let .integer(number) = self { number } else { nil } }
}

/// A database the migrator can change: SQLite or PostgreSQL. The engine speaks the SQL both
/// understand (parameters written `$1`, `$2`, … in order), so the history logic exists once.
public protocol MigrationDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// How errors and messages name the database (never with a password).
    var displayName: String { get }
    /// Who applies migrations, for the history table.
    var user: String { get }
    /// Runs `body` on one connection of its own, closed afterwards.
    func withConnection<Result: Sendable>(_ body: (any MigrationSession) async throws -> Result) async throws -> Result
    /// Runs `body` on one connection while holding the one-migrator lock, waiting up to `timeout` for it.
    /// The lock goes when the connection does, so a killed migrator leaves none behind.
    func withMigratorLock<Result: Sendable>(timeout: Duration, _ body: (any MigrationSession) async throws -> Result) async throws -> Result
}

/// One connection to the database, used by one task at a time.
public protocol MigrationSession {
    func execute(_ sql: String, _ values: [SQLValue]) async throws
    func query(_ sql: String, _ values: [SQLValue]) async throws -> [[SQLValue]]
}

extension MigrationSession {
    func execute(_ sql: String) async throws { try await execute(sql, []) }
}

extension SQLDialect {
    /// SQLite takes the write lock up front, so a migration never fails half-way on a busy database.
    var beginTransaction: String { self == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN" }
}
