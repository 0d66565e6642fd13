import Foundation
import RipcordMigrations
import RipcordTestSupport
import Testing

/// Databases for the migration engine on the suite's server.
extension PostgresServer {
    /// A new, empty database of its own, so tests run side by side.
    func createDatabase() async throws -> PostgresMigrationDatabase {
        let name = "test_\(UUID().uuidString.prefix(8).lowercased())"
        try await PostgresMigrationDatabase(url: url(database: "postgres")).withConnection { session in
            try await session.execute("CREATE DATABASE \(name)", [])
        }
        return try PostgresMigrationDatabase(url: url(database: name))
    }
}

/// The two engines every engine test runs on.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    func makeDatabase() async throws -> any MigrationDatabase {
        switch self {
        case .sqlite:
            return SQLiteMigrationDatabase(path: try temporaryDirectory("sqlite") + "/service.db")
        case .postgres:
            let server = try #require(PostgresServer.current, "the suite needs the .postgresServer trait")
            return try await server.createDatabase()
        }
    }
}

extension MigrationDatabase {
    /// The schema as the catalog describes it, minus the history table: equal catalogs, equal schemas.
    func catalog() async throws -> [String] {
        let sql =
            switch dialect {
            case .sqlite:
                """
                SELECT type || ' ' || name || ' ' || tbl_name || ' ' || coalesce(sql, '') FROM sqlite_master
                WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> 'ripcord_schema_history' ORDER BY 1
                """
            case .postgres:
                """
                SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
                  FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'ripcord_schema_history'
                UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'ripcord_schema_history'
                UNION ALL SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint
                  WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'ripcord_schema_history'
                UNION ALL SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'
                UNION ALL SELECT 'function ' || oid::regprocedure::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace
                ORDER BY 1
                """
            }
        return try await withConnection { session in try await session.query(sql, []).map { $0.map(\.description).joined() } }
    }
}

/// A migration folder holding `files` (name → SQL).
func migrationFolder(_ files: [String: String]) throws -> String {
    let folder = try temporaryDirectory("migrations")
    for (name, sql) in files { try sql.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8) }
    return folder
}

/// The `ripcord` binary built beside the test bundle.
let ripcordBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ripcord").path
