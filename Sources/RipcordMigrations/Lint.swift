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
            return "keep what the migration created in its undo (the older version ignores it), and drop it in a later release once the data is no longer needed"
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
    private(set) var findings: [LintFinding] = []
    private let script: MigrationScript
    private let dialect: SQLDialect
    /// For an undo script: what its apply script created, which the undo must not drop.
    private let createdByApply: (tables: Set<String>, columns: Set<String>)?

    init(script: MigrationScript, dialect: SQLDialect, createdByApply apply: SchemaChanges?) {
        self.script = script
        self.dialect = dialect
        createdByApply = apply.map { (tables: $0.createdTables, columns: $0.addedColumns) }
        for statement in SQLText.statements(script.sql) { inspect(statement) }
    }

    private mutating func report(_ rule: LintRule, _ line: Int, _ message: String) {
        findings.append(LintFinding(file: script.fileName, line: line, rule: rule, message: message))
    }

    private mutating func inspect(_ statement: SQLStatement) {
        let tokens = statement.tokens
        let words = statement.keywords
        func starts(_ prefix: String...) -> Bool { words.starts(with: prefix) }
        if starts("CREATE", "TABLE") || starts("CREATE", "UNLOGGED", "TABLE") {
            var index = words.firstIndex(of: "TABLE")! + 1
            index = skip(["IF", "NOT", "EXISTS"], in: words, from: index)
            if let table = Self.name(tokens, at: index) { createdTables.insert(table.name) }
        } else if starts("DROP", "TABLE") {
            var index = skip(["IF", "EXISTS"], in: words, from: 2)
            while let table = Self.name(tokens, at: index) {
                dropped(table: table.name, line: tokens[index].line)
                index = table.next
                guard index < tokens.count, tokens[index].text == "," else { break }
                index += 1
            }
        } else if starts("ALTER", "TABLE") {
            var index = skip(["IF", "EXISTS"], in: words, from: 2)
            index = skip(["ONLY"], in: words, from: index)
            guard let table = Self.name(tokens, at: index) else { return }
            for action in Self.actions(tokens, from: table.next) { inspect(action: action, table: table.name) }
        } else if let index = indexStatement(words), dialect == .postgres {
            inspectIndex(statement, keywordIndex: index)
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
        if words.dropFirst(keywordIndex + 1).first == "CONCURRENTLY" { return }
        // An index on a table this script creates locks nobody out: the table is new and empty.
        if words[0] == "CREATE", let on = words.firstIndex(of: "ON") {
            let index = skip(["ONLY"], in: words, from: on + 1)
            if let table = Self.name(statement.tokens, at: index), createdTables.contains(table.name) { return }
        }
        report(.indexWithoutConcurrently, statement.line,
               "\(words[0]) INDEX without CONCURRENTLY blocks writes to the table while it runs")
    }

    private mutating func inspect(action: ArraySlice<SQLToken>, table: String) {
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
                report(.undoDropsCreated, line, "the undo drops column \(qualified), which its migration added: the data written to it is lost")
            } else {
                report(.dropColumn, line, "dropping column \(qualified) breaks the running version, which may still read or write it")
            }
        case "ADD":
            let rest = Array(words.dropFirst())
            let constraintKinds: Set<String> = ["FOREIGN", "CHECK"]
            let kindIndex = rest.first == "CONSTRAINT" ? 2 : 0
            if kindIndex < rest.count, constraintKinds.contains(rest[kindIndex]) {
                if !Self.contains(["NOT", "VALID"], in: rest) {
                    report(.constraintWithoutNotValid, line,
                           "adding a \(rest[kindIndex] == "CHECK" ? "check" : "foreign key") constraint to \(table) checks every row while blocking writes")
                }
                return
            }
            guard rest.first != "CONSTRAINT", rest.first != "PRIMARY", rest.first != "UNIQUE" else { return }
            var index = skip(["COLUMN"], in: words, from: 1)
            index = skip(["IF", "NOT", "EXISTS"], in: words, from: index)
            guard let column = Self.name(tokens, at: index) else { return }
            addedColumns.insert("\(table).\(column.name)")
            if Self.contains(["NOT", "NULL"], in: rest), !rest.contains("DEFAULT") {
                report(.notNullColumnWithoutDefault, line,
                       "adding NOT NULL column \(table).\(column.name) without a DEFAULT breaks the running version's inserts (and fails on a table with rows)")
            }
        case "ALTER":
            var index = skip(["COLUMN"], in: words, from: 1)
            guard let column = Self.name(tokens, at: index) else { return }
            index = column.next
            if words.dropFirst(index).first == "TYPE" || words.dropFirst(index).starts(with: ["SET", "DATA", "TYPE"]) {
                report(.changeColumnType, line, "changing the type of \(table).\(column.name) can break the running version and rewrites the table")
            }
        default:
            return
        }
    }

    private mutating func dropped(table: String, line: Int) {
        if let created = createdByApply, created.tables.contains(table) {
            report(.undoDropsCreated, line, "the undo drops table \(table), which its migration created: the data written to it is lost")
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

    /// The comma-separated actions of an `ALTER TABLE` (commas inside parentheses do not separate).
    private static func actions(_ tokens: [SQLToken], from start: Int) -> [ArraySlice<SQLToken>] {
        guard start < tokens.count else { return [] }
        return tokens[start...].split(whereSeparator: { $0.text == "," && $0.depth == 0 })
    }
}
