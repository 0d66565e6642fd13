/// Backward-compatibility rules. During a canary the stable version runs against the new schema,
/// and after a rollback against the undone one, so neither script may break the version that
/// keeps running.
public enum LintRule: String, CaseIterable, Sendable, Hashable {
    case dropTable = "drop-table"
    case dropColumn = "drop-column"
    case renameTable = "rename-table"
    case renameColumn = "rename-column"
    case notNullColumnWithoutDefault = "not-null-column-without-default"
    case changeColumnType = "change-column-type"
    case indexWithoutConcurrently = "index-without-concurrently"
    case constraintWithoutNotValid = "constraint-without-not-valid"
    case undoDropsCreated = "undo-drops-created"
    case setNotNull = "set-not-null"
    case dropNotNull = "drop-not-null"
    case volatileDefault = "volatile-default"
    case addColumnReferences = "add-column-references"
    case constraintBuildsIndex = "constraint-builds-index"
    case serialColumn = "serial-column"
    case storedGeneratedColumn = "stored-generated-column"
    case vacuumFull = "vacuum-full"
    case truncate = "truncate"
    case lockTable = "lock-table"
    case dropView = "drop-view"
    case renameView = "rename-view"
    case dropFunction = "drop-function"
    case renameFunction = "rename-function"
    case concurrentlyInTransaction = "concurrently-in-transaction"

    /// The expand/contract way to make the same change without breaking the running version.
    public var alternative: String {
        switch self {
        case .dropTable:
            return "stop using the table in one release, and drop it in a later release once no running version reads it"
        case .dropColumn:
            return "stop reading and writing the column in one release, and drop it in a later release"
        case .renameTable:
            return "create the new table (or a view under the new name), write to both, move readers over, then drop the old name in a later release"
        case .renameColumn:
            return "add the new column, write to both and backfill, move readers over, then drop the old column in a later release"
        case .notNullColumnWithoutDefault:
            return "add the column with a DEFAULT (or nullable), backfill it, then add NOT NULL in a later release"
        case .changeColumnType:
            return "add a column of the new type, write to both and backfill, move readers over, then drop the old column in a later release"
        case .indexWithoutConcurrently:
            return "use CREATE/DROP INDEX CONCURRENTLY in a migration of its own marked `-- ripcord:nontransactional`"
        case .constraintWithoutNotValid:
            return "add the constraint with NOT VALID, then VALIDATE CONSTRAINT in a later migration"
        case .undoDropsCreated:
            return "drop only what the migration created, without CASCADE: drop other dependent objects by name (`down` drops and re-creates repeatable views itself)"
        case .setNotNull:
            return
                "add CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later migration, then SET NOT NULL (PostgreSQL 12+ skips the scan) once every running version writes the column"
        case .dropNotNull:
            return "first release a version that reads NULLs there safely; drop NOT NULL in a later release (and expect the undo's SET NOT NULL to fail once NULLs exist)"
        case .volatileDefault:
            return "add the column without a default (or with a constant one), SET DEFAULT in a separate statement for new rows, and backfill existing rows in batches"
        case .addColumnReferences:
            return "add the column without REFERENCES, then ADD CONSTRAINT … FOREIGN KEY … NOT VALID and VALIDATE CONSTRAINT in a later migration"
        case .constraintBuildsIndex:
            return "CREATE UNIQUE INDEX CONCURRENTLY in a `-- ripcord:nontransactional` migration, then ADD CONSTRAINT … UNIQUE (or PRIMARY KEY) USING INDEX"
        case .serialColumn:
            return "add a nullable integer column, create a sequence and SET DEFAULT nextval(…) for new rows, backfill existing rows in batches, add NOT NULL later"
        case .storedGeneratedColumn:
            return "add a plain nullable column, fill it for new rows with a trigger (or the application) and backfill existing rows in batches"
        case .vacuumFull:
            return "use plain VACUUM in a `-- ripcord:nontransactional` migration, or pg_repack, which compact without the exclusive lock"
        case .truncate:
            return "delete in batches (by key range) in a data migration, or stop using the table in one release and drop it in a later one"
        case .lockTable:
            return "make the change in steps that each take a brief lock, with a lock_timeout so a blocked migration fails fast instead of queueing the service"
        case .dropView:
            return "stop using the view in one release and drop it in a later release (a repeatable script that drops and re-creates it is fine)"
        case .renameView:
            return "create the view under the new name beside the old one, move readers over, then drop the old name in a later release"
        case .dropFunction:
            return "stop calling the function in one release and drop it in a later release (CREATE OR REPLACE changes it in place)"
        case .renameFunction:
            return "create the function under the new name beside the old one, move callers over, then drop the old name in a later release"
        case .concurrentlyInTransaction:
            return "put the statement alone in a migration whose header says `-- ripcord:nontransactional`: PostgreSQL refuses CONCURRENTLY inside a transaction"
        }
    }
}

/// One lint finding: where, which rule, and what to do instead.
public struct LintFinding: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let rule: LintRule
    public let message: String

    public var description: String {
        "\(file):\(line): \(rule.rawValue): \(message). Instead: \(rule.alternative) (or accept it with `-- ripcord:allow \(rule.rawValue)`)"
    }
}

/// Reads migrations' statements for changes that break the running version.
public enum MigrationLint {
    /// Findings for one migration, minus those its headers allow.
    public static func findings(for migration: Migration, dialect: SQLDialect) -> [LintFinding] {
        let applied = SchemaChanges(script: migration.apply, dialect: dialect, createdByApply: nil)
        var findings = applied.findings
        if let undo = migration.undo {
            findings += SchemaChanges(script: undo, dialect: dialect, createdByApply: applied).findings
        }
        return findings.filter { !migration.allowedRules.contains($0.rule) }
    }

    /// Findings for a repeatable script (views, functions): the same rules, no undo to compare.
    public static func findings(for repeatable: MigrationScript, dialect: SQLDialect) -> [LintFinding] {
        SchemaChanges(script: repeatable, dialect: dialect, createdByApply: nil).findings.filter { !repeatable.allowedRules.contains($0.rule) }
    }
}

/// What one script does to the schema, as far as the rules need to know.
private struct SchemaChanges {
    private(set) var createdTables: Set<String> = []
    private(set) var addedColumns: Set<String> = []
    /// Views (`view:name`) and functions (`function:name`) created, with the line of the last creation.
    private(set) var createdObjects: [String: Int] = [:]
    private var droppedObjects: [(key: String, line: Int, cascade: Bool)] = []
    private(set) var findings: [LintFinding] = []
    private let script: MigrationScript
    private let dialect: SQLDialect
    /// For an undo script: what its apply script created, which the undo drops as a matter of course.
    private let createdByApply: (tables: Set<String>, columns: Set<String>, objects: Set<String>)?

    init(script: MigrationScript, dialect: SQLDialect, createdByApply apply: SchemaChanges?) {
        self.script = script
        self.dialect = dialect
        createdByApply = apply.map { (tables: $0.createdTables, columns: $0.addedColumns, objects: Set($0.createdObjects.keys)) }
        for statement in SQLText.statements(script.sql) { inspect(statement) }
        reportDroppedObjects()
    }

    private mutating func report(_ rule: LintRule, _ line: Int, _ message: String) {
        findings.append(LintFinding(file: script.fileName, line: line, rule: rule, message: message))
    }

    private mutating func inspect(_ statement: SQLStatement) {
        let tokens = statement.tokens
        let words = statement.keywords
        func starts(_ prefix: String...) -> Bool { words.starts(with: prefix) }
        let cascade = words.last == "CASCADE"
        if starts("CREATE", "TABLE") || starts("CREATE", "UNLOGGED", "TABLE") {
            var index = words.firstIndex(of: "TABLE")! + 1
            index = skip(["IF", "NOT", "EXISTS"], in: words, from: index)
            if let table = Self.name(tokens, at: index) { createdTables.insert(table.name) }
        } else if starts("DROP", "TABLE") {
            for table in Self.names(tokens, from: skip(["IF", "EXISTS"], in: words, from: 2)) {
                dropped(table: table.name, line: table.line, cascade: cascade)
            }
        } else if starts("ALTER", "TABLE") {
            var index = skip(["IF", "EXISTS"], in: words, from: 2)
            index = skip(["ONLY"], in: words, from: index)
            guard let table = Self.name(tokens, at: index) else { return }
            let before = findings.count
            for action in Self.actions(tokens, from: table.next) { inspect(action: action, table: table.name, cascade: cascade) }
            // A table this script creates is new and empty, and no running version uses it yet.
            if createdTables.contains(table.name) { findings.removeSubrange(before...) }
        } else if let index = indexStatement(words), dialect == .postgres {
            inspectIndex(statement, keywordIndex: index)
        } else if starts("REINDEX"), words.contains("CONCURRENTLY"), dialect == .postgres, script.isTransactional {
            report(.concurrentlyInTransaction, statement.line, "REINDEX CONCURRENTLY cannot run inside the transaction this migration runs in")
        } else if starts("TRUNCATE") {
            report(.truncate, statement.line, "TRUNCATE removes every row the running version uses, under an exclusive lock, and no undo brings them back")
        } else if starts("LOCK") {
            report(.lockTable, statement.line, "an explicit LOCK blocks the running version's queries on the table until the migration commits")
        } else if starts("VACUUM"), words.contains("FULL") {
            report(.vacuumFull, statement.line, "VACUUM FULL rewrites the table under an exclusive lock: the running version cannot read or write it meanwhile")
        } else if let object = Self.objectStatement(words) {
            inspect(object: object, statement)
        }
    }

    /// `CREATE [OR REPLACE] …`, `DROP …` or `ALTER …` of a view or function: the verb, the kind
    /// (`view` or `function`), and where the name starts.
    private static func objectStatement(_ words: [String]) -> (verb: String, kind: String, nameIndex: Int)? {
        guard let verb = words.first, ["CREATE", "DROP", "ALTER"].contains(verb) else { return nil }
        var index = verb == "CREATE" && words.dropFirst().starts(with: ["OR", "REPLACE"]) ? 3 : 1
        if words.dropFirst(index).first == "MATERIALIZED" { index += 1 }
        let kind: String
        switch words.dropFirst(index).first {
        case "VIEW": kind = "view"
        case "FUNCTION", "PROCEDURE": kind = "function"
        default: return nil
        }
        return (verb, kind, index + 1)
    }

    private mutating func inspect(object: (verb: String, kind: String, nameIndex: Int), _ statement: SQLStatement) {
        let tokens = statement.tokens
        let words = statement.keywords
        switch object.verb {
        case "CREATE":
            let index = skip(["IF", "NOT", "EXISTS"], in: words, from: object.nameIndex)
            if let name = Self.name(tokens, at: index) { createdObjects["\(object.kind):\(name.name)"] = statement.line }
        case "DROP":
            for name in Self.names(tokens, from: skip(["IF", "EXISTS"], in: words, from: object.nameIndex)) {
                droppedObjects.append(("\(object.kind):\(name.name)", name.line, words.last == "CASCADE"))
            }
        default:
            guard words.contains("RENAME"), let name = Self.name(tokens, at: skip(["IF", "EXISTS"], in: words, from: object.nameIndex)) else { return }
            report(
                object.kind == "view" ? .renameView : .renameFunction, statement.line,
                "renaming \(object.kind) \(name.name) breaks the running version, which still uses the old name")
        }
    }

    /// A dropped view or function is a finding unless the script creates it again afterwards (a
    /// repeatable script's drop-and-create) or, in an undo, its migration created it.
    private mutating func reportDroppedObjects() {
        for drop in droppedObjects {
            if let created = createdObjects[drop.key], created >= drop.line { continue }
            let parts = drop.key.split(separator: ":", maxSplits: 1).map(String.init)
            if let apply = createdByApply, apply.objects.contains(drop.key) {
                if drop.cascade {
                    report(.undoDropsCreated, drop.line, "the undo drops \(parts[0]) \(parts[1]) with CASCADE, which also drops whatever else depends on it")
                }
                continue
            }
            report(
                parts[0] == "view" ? .dropView : .dropFunction, drop.line,
                "dropping \(parts[0]) \(parts[1]) breaks the running version, which may still use it")
        }
    }

    /// Where `INDEX` is in `CREATE [UNIQUE] INDEX …` or `DROP INDEX …`.
    private func indexStatement(_ words: [String]) -> Int? {
        if words.starts(with: ["CREATE", "INDEX"]) || words.starts(with: ["DROP", "INDEX"]) { return 1 }
        if words.starts(with: ["CREATE", "UNIQUE", "INDEX"]) { return 2 }
        return nil
    }

    private mutating func inspectIndex(_ statement: SQLStatement, keywordIndex: Int) {
        let words = statement.keywords
        if words.dropFirst(keywordIndex + 1).first == "CONCURRENTLY" {
            if script.isTransactional {
                report(
                    .concurrentlyInTransaction, statement.line,
                    "\(words[0]) INDEX CONCURRENTLY cannot run inside the transaction this migration runs in")
            }
            return
        }
        // An index on a table this script creates locks nobody out: the table is new and empty.
        if words[0] == "CREATE", let on = words.firstIndex(of: "ON") {
            let index = skip(["ONLY"], in: words, from: on + 1)
            if let table = Self.name(statement.tokens, at: index), createdTables.contains(table.name) { return }
        }
        report(
            .indexWithoutConcurrently, statement.line,
            "\(words[0]) INDEX without CONCURRENTLY blocks writes to the table while it runs")
    }

    private mutating func inspect(action: ArraySlice<SQLToken>, table: String, cascade: Bool) {
        let tokens = Array(action)
        let words = tokens.map(\.keyword)
        guard let line = tokens.first?.line else { return }
        switch words.first {
        case "RENAME":
            if words.dropFirst().first == "TO" {
                report(.renameTable, line, "renaming table \(table) breaks the running version, which still uses the old name")
            } else if words.dropFirst().first != "CONSTRAINT" {
                report(.renameColumn, line, "renaming a column of \(table) breaks the running version, which still uses the old name")
            }
        case "DROP":
            guard words.dropFirst().first != "CONSTRAINT" else { return }
            var index = skip(["COLUMN"], in: words, from: 1)
            index = skip(["IF", "EXISTS"], in: words, from: index)
            guard let column = Self.name(tokens, at: index) else { return }
            let qualified = "\(table).\(column.name)"
            if let created = createdByApply, created.columns.contains(qualified) {
                // Dropping what its own migration added is what an undo is for.
                if cascade || words.last == "CASCADE" {
                    report(.undoDropsCreated, line, "the undo drops column \(qualified) with CASCADE, which also drops whatever else depends on it")
                }
            } else {
                report(.dropColumn, line, "dropping column \(qualified) breaks the running version, which may still read or write it")
            }
        case "ADD":
            let rest = Array(words.dropFirst())
            let kindIndex = rest.first == "CONSTRAINT" ? 2 : 0
            let kind = kindIndex < rest.count ? rest[kindIndex] : ""
            if ["FOREIGN", "CHECK"].contains(kind) {
                if !Self.contains(["NOT", "VALID"], in: rest) {
                    report(
                        .constraintWithoutNotValid, line,
                        "adding a \(kind == "CHECK" ? "check" : "foreign key") constraint to \(table) checks every row while blocking writes")
                }
                return
            }
            if ["UNIQUE", "PRIMARY"].contains(kind) {
                if !Self.contains(["USING", "INDEX"], in: rest) {
                    report(
                        .constraintBuildsIndex, line,
                        "adding a \(kind == "UNIQUE" ? "unique" : "primary key") constraint to \(table) builds its index while blocking reads and writes")
                }
                return
            }
            guard rest.first != "CONSTRAINT" else { return }
            var index = skip(["COLUMN"], in: words, from: 1)
            index = skip(["IF", "NOT", "EXISTS"], in: words, from: index)
            guard let column = Self.name(tokens, at: index) else { return }
            inspect(addedColumn: "\(table).\(column.name)", definition: Array(words[column.next...]), line: line)
        case "ALTER":
            var index = skip(["COLUMN"], in: words, from: 1)
            guard let column = Self.name(tokens, at: index) else { return }
            index = column.next
            let change = words.dropFirst(index)
            if change.first == "TYPE" || change.starts(with: ["SET", "DATA", "TYPE"]) {
                report(.changeColumnType, line, "changing the type of \(table).\(column.name) can break the running version and rewrites the table")
            } else if change.starts(with: ["SET", "NOT", "NULL"]) {
                report(
                    .setNotNull, line, "SET NOT NULL on \(table).\(column.name) scans the table under an exclusive lock and breaks the running version's inserts that leave it out")
            } else if change.starts(with: ["DROP", "NOT", "NULL"]) {
                report(.dropNotNull, line, "dropping NOT NULL on \(table).\(column.name) lets NULLs reach the running version, which does not expect them there")
            }
        default:
            return
        }
    }

    /// `ADD COLUMN name definition…`: what the definition makes PostgreSQL do to a table in use.
    private mutating func inspect(addedColumn column: String, definition words: [String], line: Int) {
        addedColumns.insert(column)
        if Self.contains(["NOT", "NULL"], in: words), !words.contains("DEFAULT") {
            report(
                .notNullColumnWithoutDefault, line,
                "adding NOT NULL column \(column) without a DEFAULT breaks the running version's inserts (and fails on a table with rows)")
        }
        if let type = words.first,
            ["SERIAL", "BIGSERIAL", "SMALLSERIAL", "SERIAL2", "SERIAL4", "SERIAL8"].contains(type)
                || (words.contains("GENERATED") && words.contains("IDENTITY"))
        {
            report(
                .serialColumn, line,
                "adding the \(words.contains("IDENTITY") ? "identity" : "serial") column \(column) numbers every existing row, rewriting the table under an exclusive lock")
        }
        if words.contains("GENERATED"), words.contains("STORED") {
            report(.storedGeneratedColumn, line, "adding the stored generated column \(column) computes it for every row, rewriting the table under an exclusive lock")
        }
        if let defaultIndex = words.firstIndex(of: "DEFAULT") {
            let expression = words[(defaultIndex + 1)...]
            if let function = expression.first(where: Self.volatileFunctions.contains) {
                report(
                    .volatileDefault, line,
                    "the volatile default \(function.lowercased())() of \(column) is computed for every existing row, rewriting the table under an exclusive lock")
            } else if let function = expression.first(where: Self.timeFunctions.contains) {
                report(.volatileDefault, line, "the default \(function.lowercased()) of \(column) gives every existing row the time of the migration, not a real value")
            }
        }
        if words.contains("REFERENCES") {
            report(.addColumnReferences, line, "an inline REFERENCES on \(column) adds a foreign key that cannot be NOT VALID, locking both tables while it is checked")
        }
    }

    /// Defaults PostgreSQL cannot store once for the table (11+ does that for constant ones): each row gets its own value.
    private static let volatileFunctions: Set<String> = [
        "RANDOM", "GEN_RANDOM_UUID", "UUID_GENERATE_V1", "UUID_GENERATE_V1MC", "UUID_GENERATE_V4", "CLOCK_TIMESTAMP", "TIMEOFDAY", "NEXTVAL",
    ]
    /// Stable, so stored once — as the migration's time, for rows that existed long before.
    private static let timeFunctions: Set<String> = [
        "NOW", "CURRENT_TIMESTAMP", "TRANSACTION_TIMESTAMP", "STATEMENT_TIMESTAMP", "LOCALTIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "LOCALTIME",
    ]

    private mutating func dropped(table: String, line: Int, cascade: Bool) {
        if let created = createdByApply, created.tables.contains(table) {
            // Dropping what its own migration created is what an undo is for.
            if cascade {
                report(.undoDropsCreated, line, "the undo drops table \(table) with CASCADE, which also drops whatever else depends on it (views, other tables' foreign keys)")
            }
        } else {
            report(.dropTable, line, "dropping table \(table) breaks the running version, which may still use it")
        }
    }

    /// Skips optional keywords (`IF NOT EXISTS`) when they are there.
    private func skip(_ optional: [String], in words: [String], from index: Int) -> Int {
        words.dropFirst(index).starts(with: optional) ? index + optional.count : index
    }

    private static func contains(_ sequence: [String], in words: [String]) -> Bool {
        words.indices.contains { words.dropFirst($0).starts(with: sequence) }
    }

    /// A possibly schema-qualified name at `index` (`public.users`, `"Users"`): its last part, and where it ends.
    private static func name(_ tokens: [SQLToken], at index: Int) -> (name: String, next: Int)? {
        var index = index
        var name: String?
        while index < tokens.count, tokens[index].kind == .word || tokens[index].kind == .quotedIdentifier {
            name = tokens[index].name
            index += 1
            guard index < tokens.count, tokens[index].text == "." else { break }
            index += 1
        }
        return name.map { ($0, index) }
    }

    /// A comma-separated list of names (`DROP TABLE a, b`), each with its line.
    private static func names(_ tokens: [SQLToken], from start: Int) -> [(name: String, line: Int)] {
        var names: [(name: String, line: Int)] = []
        var index = start
        while let name = Self.name(tokens, at: index) {
            names.append((name.name, tokens[index].line))
            index = name.next
            // A function's argument list: `DROP FUNCTION f(integer), g(text)`.
            if index < tokens.count, tokens[index].text == "(" {
                let depth = tokens[index].depth
                index += 1
                while index < tokens.count, !(tokens[index].text == ")" && tokens[index].depth == depth) { index += 1 }
                index += 1
            }
            guard index < tokens.count, tokens[index].text == "," else { break }
            index += 1
        }
        return names
    }

    /// The comma-separated actions of an `ALTER TABLE` (commas inside parentheses do not separate).
    private static func actions(_ tokens: [SQLToken], from start: Int) -> [ArraySlice<SQLToken>] {
        guard start < tokens.count else { return [] }
        return tokens[start...].split(whereSeparator: { $0.text == "," && $0.depth == 0 })
    }
}
