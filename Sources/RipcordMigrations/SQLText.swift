import Foundation
/// Which SQL a database speaks, where the engine or the lint must tell them apart.
public enum SQLDialect: String, Sendable, CaseIterable {
    case sqlite, postgres
}

/// One token of SQL: a word (keyword or unquoted identifier), a quoted identifier, a literal or a symbol.
struct SQLToken: Equatable {
    enum Kind: Equatable { case word, quotedIdentifier, literal, symbol }
    let kind: Kind
    let text: String
    let line: Int
    /// Parenthesis depth within its statement, so `ALTER TABLE` actions split at top-level commas only.
    let depth: Int

    /// Upper-cased for a word, so rules compare keywords without caring how they were typed.
    var keyword: String { kind == .word ? text.uppercased() : "" }

    /// The name an identifier refers to: unquoted names fold to lower case as PostgreSQL does.
    var name: String { kind == .quotedIdentifier ? text : text.lowercased() }
}

/// One statement of a script: its source text (without the closing `;`) and its tokens.
struct SQLStatement {
    let text: String
    let line: Int
    let tokens: [SQLToken]

    var keywords: [String] { tokens.map(\.keyword) }
}

/// Splits SQL into statements on `;`, skipping comments and quoted text (string literals, quoted
/// identifiers, PostgreSQL dollar quotes), and keeping a trigger's `BEGIN … END` body in one piece.
enum SQLText {
    static func statements(_ sql: String) -> [SQLStatement] {
        var lexer = Lexer(bytes: Array(sql.utf8))
        return lexer.statements()
    }

    private struct Lexer {
        let bytes: [UInt8]
        var position = 0
        var line = 1

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func statements() -> [SQLStatement] {
            var statements: [SQLStatement] = []
            var tokens: [SQLToken] = []
            var start: Int?
            var depth = 0
            func finish(at end: Int) {
                if let start, !tokens.isEmpty {
                    statements.append(
                        SQLStatement(
                            text: String(decoding: bytes[start..<end], as: UTF8.self),
                            line: tokens[0].line, tokens: tokens))
                }
                tokens = []
                start = nil
                depth = 0
            }
            while let byte = peek() {
                let tokenStart = position
                let tokenLine = line
                switch byte {
                case UInt8(ascii: "\n"):
                    line += 1
                    position += 1
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                    position += 1
                case UInt8(ascii: "-") where peek(1) == UInt8(ascii: "-"):
                    while let next = peek(), next != UInt8(ascii: "\n") { position += 1 }
                case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "*"):
                    skipBlockComment()
                case UInt8(ascii: ";") where !Self.insideTriggerBody(tokens):
                    position += 1
                    finish(at: tokenStart)
                default:
                    let kind = readToken()
                    let text = String(decoding: bytes[tokenStart..<position], as: UTF8.self)
                    if text == ")" { depth = max(0, depth - 1) }
                    if start == nil { start = tokenStart }
                    tokens.append(SQLToken(kind: kind, text: Self.unquoted(text, kind), line: tokenLine, depth: depth))
                    if text == "(" { depth += 1 }
                }
            }
            finish(at: bytes.count)
            return statements
        }

        /// `CREATE TRIGGER … BEGIN stmt; stmt; END`: the `;` inside the body do not end the statement.
        private static func insideTriggerBody(_ tokens: [SQLToken]) -> Bool {
            let keywords = tokens.prefix(4).map(\.keyword)
            guard keywords.first == "CREATE", keywords.contains("TRIGGER") else { return false }
            guard tokens.contains(where: { $0.keyword == "BEGIN" }) else { return false }
            return tokens.last?.keyword != "END"
        }

        private static func unquoted(_ text: String, _ kind: SQLToken.Kind) -> String {
            guard kind == .quotedIdentifier, text.count >= 2 else { return text }
            return String(text.dropFirst().dropLast()).replacingOccurrences(of: "\"\"", with: "\"")
        }

        private func peek(_ offset: Int = 0) -> UInt8? {
            position + offset < bytes.count ? bytes[position + offset] : nil
        }

        private mutating func advance() {
            if bytes[position] == UInt8(ascii: "\n") { line += 1 }
            position += 1
        }

        /// PostgreSQL nests block comments; SQLite does not, but nested ones do not occur there.
        private mutating func skipBlockComment() {
            var nesting = 0
            while peek() != nil {
                if peek() == UInt8(ascii: "/"), peek(1) == UInt8(ascii: "*") {
                    nesting += 1
                    position += 2
                } else if peek() == UInt8(ascii: "*"), peek(1) == UInt8(ascii: "/") {
                    nesting -= 1
                    position += 2
                    if nesting == 0 { return }
                } else {
                    advance()
                }
            }
        }

        private mutating func readToken() -> SQLToken.Kind {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "'"):
                let escapes = position > 0 && (bytes[position - 1] | 0x20) == UInt8(ascii: "e")
                readQuoted(closing: byte, backslashEscapes: escapes)
                return .literal
            case UInt8(ascii: "\""), UInt8(ascii: "`"):
                readQuoted(closing: byte, backslashEscapes: false)
                return .quotedIdentifier
            case UInt8(ascii: "$"):
                if let tag = dollarQuoteTag() {
                    readDollarQuoted(tag: tag)
                    return .literal
                }
                position += 1
                while let next = peek(), Self.isWordByte(next) { position += 1 }
                return .symbol
            case _ where Self.isWordByte(byte):
                while let next = peek(), Self.isWordByte(next) || next == UInt8(ascii: "$") { position += 1 }
                return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? .literal : .word
            default:
                position += 1
                return .symbol
            }
        }

        private mutating func readQuoted(closing: UInt8, backslashEscapes: Bool) {
            position += 1
            while let next = peek() {
                if backslashEscapes, next == UInt8(ascii: "\\") {
                    position += 1
                    if peek() != nil { advance() }
                    continue
                }
                advance()
                if next == closing {
                    guard peek() == closing else { return }
                    position += 1
                }
            }
        }

        /// `$$` or `$tag$` opening a dollar-quoted string (a `$1` parameter is not one).
        private func dollarQuoteTag() -> [UInt8]? {
            var end = position + 1
            while end < bytes.count, Self.isWordByte(bytes[end]) {
                if end == position + 1, bytes[end] >= UInt8(ascii: "0"), bytes[end] <= UInt8(ascii: "9") { return nil }
                end += 1
            }
            guard end < bytes.count, bytes[end] == UInt8(ascii: "$") else { return nil }
            return Array(bytes[position...end])
        }

        private mutating func readDollarQuoted(tag: [UInt8]) {
            position += tag.count
            while position < bytes.count {
                if bytes[position] == UInt8(ascii: "$"), bytes[position...].starts(with: tag) {
                    position += tag.count
                    return
                }
                advance()
            }
        }

        private static func isWordByte(_ byte: UInt8) -> Bool {
            (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte >= 0x80
        }
    }
}
