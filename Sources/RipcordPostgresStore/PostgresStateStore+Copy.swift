import GRDB
import PostgresNIO
import RipcordCore
import RipcordStore

/// A table of a copied state with the rows PostgreSQL holds after the copy (as many as SQLite's).
public struct CopiedTable: Sendable, Equatable {
    public let name: String
    public let rows: Int
}

/// Why a copy was refused before anything was written.
public struct StateCopyRefusal: Error, CustomStringConvertible {
    public let description: String
}

// Moving a controller's state from SQLite to PostgreSQL (`ripcord store migrate-to-postgres`): table by
// table, row by row, ids and all, so the history reads the same afterwards and continues where it was.
extension PostgresStateStore {
    /// Every table of the state, in both stores by the same name and columns.
    public static let stateTables = [
        "revision", "stable", "rollout", "event", "instance", "release", "rejected_version", "drill_schedule",
        "access_token", "flag", "flag_segment", "flag_change", "flag_exposure", "flag_client", "flag_rollout", "flag_rollout_event",
    ]

    /// Copies every row of `source` into this database in one transaction, then moves each id sequence
    /// past the highest id copied, so what is written next gets the ids that SQLite would have given it.
    /// Refuses (`StateCopyRefusal`, nothing written) when a state table here already holds a row, and
    /// fails (rolled back) unless each table then holds as many rows as in SQLite. Values are never
    /// shown, in errors either: `access_token` holds the tokens' hashes.
    public func copyState(from source: SQLiteStore) async throws -> [CopiedTable] {
        let columns = try await stateColumns()
        let sourceRows = try await Self.read(source, columns: columns)
        return try await transaction { connection -> Result<[CopiedTable], StateCopyRefusal> in
            // No controller writes between the check that the tables are empty and the end of the copy (reads go on).
            try await connection.run(PostgresQuery(unsafeSQL: "LOCK TABLE \(Self.stateTables.joined(separator: ", ")) IN EXCLUSIVE MODE"))
            var occupied: [String] = []
            for table in Self.stateTables {
                if try await connection.first(PostgresQuery(unsafeSQL: "SELECT EXISTS (SELECT 1 FROM \(table))"), as: Bool.self) == true { occupied.append(table) }
            }
            guard occupied.isEmpty else {
                return .failure(
                    StateCopyRefusal(
                        description: "the PostgreSQL database already holds Ripcord state (rows in \(occupied.joined(separator: ", "))); "
                            + "the state is copied only into empty tables, so nothing was written: name a new database"))
            }
            var copied: [CopiedTable] = []
            for table in Self.stateTables {
                let (tableColumns, rows) = (columns[table] ?? [], sourceRows[table] ?? [])
                try await Self.insert(rows, into: table, columns: tableColumns, on: connection)
                for column in tableColumns where column.isSerial {
                    try await connection.run(
                        PostgresQuery(
                            unsafeSQL: """
                                SELECT setval(pg_get_serial_sequence('\(table)', '\(column.name)'), COALESCE(MAX(\(column.name)), 0) + 1, false) FROM \(table)
                                """))
                }
                let count = try await connection.first(PostgresQuery(unsafeSQL: "SELECT COUNT(*) FROM \(table)"), as: Int64.self) ?? 0
                guard count == rows.count else {
                    throw PostgresStateStoreError(message: "the copy of \(table) holds \(count) rows where SQLite holds \(rows.count); nothing was written")
                }
                copied.append(CopiedTable(name: table, rows: Int(count)))
            }
            return .success(copied)
        }.get()
    }

    /// A column of a state table in PostgreSQL: its type says how to carry SQLite's value over.
    struct Column: Sendable {
        let name: String
        /// `bigint`, `boolean` or `text`, as information_schema names them.
        let type: String
        /// Its value comes from a sequence (BIGSERIAL) when none is given.
        let isSerial: Bool
    }

    private func stateColumns() async throws -> [String: [Column]] {
        let columns = try await rows(
            """
            SELECT table_name::text, column_name::text, data_type::text, COALESCE(column_default LIKE 'nextval(%', FALSE) FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name::text = ANY(\(Self.stateTables))
            ORDER BY table_name, ordinal_position
            """
        ) { row in
            let (table, name, type, isSerial) = try row.decode((String, String, String, Bool).self)
            return (table: table, column: Column(name: name, type: type, isSerial: isSerial))
        }
        return Dictionary(grouping: columns, by: \.table).mapValues { $0.map(\.column) }
    }

    /// Every row of every state table in SQLite, in one read transaction (one moment of the state), each
    /// value made ready for its PostgreSQL column. Refuses a SQLite state whose tables or columns differ
    /// from PostgreSQL's: a table or column left behind would be state lost without a word.
    private static func read(_ source: SQLiteStore, columns: [String: [Column]]) async throws -> [String: [[Cell]]] {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        return try await DatabaseQueue(path: source.path, configuration: configuration).read { db in
            let sourceTables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'grdb_migrations'")
            guard Set(sourceTables) == Set(stateTables) else {
                throw PostgresStateStoreError(
                    message: "the SQLite state's tables (\(sourceTables.sorted().joined(separator: ", "))) are not those this Ripcord copies "
                        + "(\(stateTables.sorted().joined(separator: ", "))): copy it with the Ripcord version that wrote it")
            }
            var rows: [String: [[Cell]]] = [:]
            for table in stateTables {
                let targetColumns = columns[table] ?? []
                let sourceColumns = try Row.fetchAll(db, sql: "PRAGMA table_info(\(table))").map { $0["name"] as String }
                guard Set(sourceColumns) == Set(targetColumns.map(\.name)) else {
                    throw PostgresStateStoreError(
                        message: "the table \(table) has the columns \(sourceColumns.sorted().joined(separator: ", ")) in SQLite "
                            + "but \(targetColumns.map(\.name).sorted().joined(separator: ", ")) in PostgreSQL")
                }
                let cursor = try Row.fetchCursor(db, sql: "SELECT \(targetColumns.map(\.name).joined(separator: ", ")) FROM \(table)")
                var tableRows: [[Cell]] = []
                while let row = try cursor.next() {
                    tableRows.append(try zip(targetColumns, row.databaseValues).map { column, value in try Cell(value, for: column, in: table) })
                }
                rows[table] = tableRows
            }
            return rows
        }
    }

    /// Many rows per statement (PostgreSQL takes up to 65,535 parameters in one) rather than a round trip each.
    private static func insert(_ rows: [[Cell]], into table: String, columns: [Column], on connection: PostgresConnection) async throws {
        let rowsPerStatement = max(1, 30_000 / max(1, columns.count))
        let columnList = columns.map(\.name).joined(separator: ", ")
        for start in stride(from: 0, to: rows.count, by: rowsPerStatement) {
            var bindings = PostgresBindings()
            var tuples: [String] = []
            for row in rows[start..<min(start + rowsPerStatement, rows.count)] {
                let placeholders = zip(columns, row).map { column, cell in
                    cell.bind(into: &bindings)
                    // Typed, so that a column of NULLs is not taken for text.
                    return "$\(bindings.count)::\(column.type)"
                }
                tuples.append("(\(placeholders.joined(separator: ", ")))")
            }
            do {
                try await connection.run(
                    PostgresQuery(unsafeSQL: "INSERT INTO \(table) (\(columnList)) VALUES \(tuples.joined(separator: ", "))", binds: bindings))
            } catch let error as PSQLError {
                // The server's message alone: its detail quotes the rows' values, token hashes among them.
                throw PostgresStateStoreError(message: "cannot copy the table \(table): \(error.serverInfo?[.message] ?? "\(error.code)")")
            }
        }
    }

    /// One value on its way from a SQLite column to the PostgreSQL column of the same name.
    enum Cell: Sendable {
        case integer(Int64), boolean(Bool), text(String), null

        init(_ value: DatabaseValue, for column: Column, in table: String) throws {
            switch (value.storage, column.type) {
            case (.null, _): self = .null
            case (.int64(let number), "bigint"): self = .integer(number)
            // A count an older Ripcord let overflow into a REAL: kept at the bound, as SQLite's store reads it.
            case (.double(let number), "bigint"):
                self = .integer(number.isNaN ? 0 : number >= Double(Int64.max) ? .max : number <= Double(Int64.min) ? .min : Int64(number))
            case (.int64(let number), "boolean"): self = .boolean(number != 0)
            case (.string(let text), "text"): self = .text(text)
            default:
                throw PostgresStateStoreError(message: "\(table).\(column.name) holds a SQLite value that no \(column.type) column takes")
            }
        }

        func bind(into bindings: inout PostgresBindings) {
            switch self {
            case .integer(let number): bindings.append(number)
            case .boolean(let flag): bindings.append(flag)
            case .text(let text): bindings.append(text)
            case .null: bindings.appendNull()
            }
        }
    }
}
