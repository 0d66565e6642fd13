import Foundation
/// What a repeatable script (views, functions, triggers) creates, so `down` can drop those objects
/// before undo scripts remove the columns and tables they depend on.
enum RepeatableObjects {
    /// Statements dropping the views, functions, procedures and triggers `sql` creates, last created
    /// first; empty when it creates none of them.
    static func dropSQL(_ sql: String, dialect: SQLDialect) -> String {
        SQLText.statements(sql).compactMap { drop(of: $0, dialect: dialect) }.reversed().map { "\($0);\n" }.joined()
    }

    private static func drop(of statement: SQLStatement, dialect: SQLDialect) -> String? {
        let words = statement.keywords
        guard words.first == "CREATE" else { return nil }
        var index = 1
        if words.dropFirst(index).starts(with: ["OR", "REPLACE"]) { index += 2 }
        while index < words.count, ["TEMP", "TEMPORARY", "RECURSIVE", "CONSTRAINT"].contains(words[index]) { index += 1 }
        let kind: String
        switch words.dropFirst(index).first {
        case "VIEW", "FUNCTION", "PROCEDURE", "TRIGGER":
            kind = words[index]
            index += 1
        case "MATERIALIZED" where words.dropFirst(index + 1).first == "VIEW":
            kind = "MATERIALIZED VIEW"
            index += 2
        default:
            return nil
        }
        if words.dropFirst(index).starts(with: ["IF", "NOT", "EXISTS"]) { index += 3 }
        guard let name = SQLStatement.qualifiedName(statement.tokens, at: index) else { return nil }
        // A trigger in PostgreSQL belongs to its table; SQLite names it alone.
        if kind == "TRIGGER", dialect == .postgres {
            guard let on = words[name.next...].firstIndex(of: "ON"),
                let table = SQLStatement.qualifiedName(statement.tokens, at: on + 1)
            else { return nil }
            return "DROP TRIGGER IF EXISTS \(name.text) ON \(table.text)"
        }
        return "DROP \(kind) IF EXISTS \(name.text)"
    }
}

extension SQLStatement {
    /// A possibly schema-qualified name at `index`, as SQL text (quoted parts quoted again), and where it ends.
    static func qualifiedName(_ tokens: [SQLToken], at index: Int) -> (text: String, next: Int)? {
        var index = index
        var parts: [String] = []
        while index < tokens.count, tokens[index].kind == .word || tokens[index].kind == .quotedIdentifier {
            let token = tokens[index]
            parts.append(token.kind == .word ? token.text : "\"" + token.text.replacingOccurrences(of: "\"", with: "\"\"") + "\"")
            index += 1
            guard index < tokens.count, tokens[index].text == "." else { break }
            index += 1
        }
        return parts.isEmpty ? nil : (parts.joined(separator: "."), index)
    }
}
