import Foundation

/// A regular expression with the semantics of Rust's `regex` crate (which Unleash's evaluation
/// engine uses), executed by ICU through `NSRegularExpression`.
///
/// The pattern is translated so both engines agree: features Rust rejects (backreferences,
/// look-around, atomic groups, possessive quantifiers, `\Z`, `\G`, `\Q…\E`, …) make the pattern
/// invalid; `^`, `$` and `.` follow Rust's rules (only `\n` is a line terminator, `$` without
/// `(?m)` matches only at the very end); POSIX classes like `[[:alpha:]]` are ASCII-only; the
/// `U` (swap greed) and `u` flags are honoured. Matching is unanchored (`is_match`).
public struct RustRegex: @unchecked Sendable {
    // NSRegularExpression is immutable and documented as thread-safe.
    private let regex: NSRegularExpression
    public let pattern: String

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case unsupported(String)
        case invalid(String)

        public var description: String {
            switch self {
            case .unsupported(let what): "unsupported regex syntax: \(what)"
            case .invalid(let why): "invalid regex: \(why)"
            }
        }
    }

    public init(_ pattern: String, caseInsensitive: Bool = false) throws(Error) {
        self.pattern = pattern
        let translated = try Self.translate(pattern, caseInsensitive: caseInsensitive)
        do {
            regex = try NSRegularExpression(pattern: translated, options: [])
        } catch {
            throw .invalid("\(error)")
        }
    }

    public func isMatch(_ text: String) -> Bool {
        let ns = text as NSString
        return regex.firstMatch(in: text, options: [], range: NSRange(location: 0, length: ns.length)) != nil
    }

    // MARK: - Translation

    private struct Flags {
        var multiLine = false
        var dotAll = false
        var swapGreed = false
        var extended = false
    }

    static func translate(_ pattern: String, caseInsensitive: Bool) throws(Error) -> String {
        let chars = Array(pattern.unicodeScalars)
        var out = caseInsensitive ? "(?i)" : ""
        var flags = Flags()
        var stack: [Flags] = []
        var i = 0
        let n = chars.count

        func peek(_ k: Int) -> Unicode.Scalar? { i + k < n ? chars[i + k] : nil }

        /// After a quantifier, applies lazy/greedy (with `U` swapping) and rejects possessive forms.
        func quantifierSuffix() throws(Error) {
            var lazy = false
            if let next = peek(0) {
                if next == "?" { lazy = true; i += 1 }
                else if next == "+" { throw .unsupported("possessive quantifier") }
            }
            if flags.swapGreed { lazy.toggle() }
            if lazy { out += "?" }
        }

        while i < n {
            let c = chars[i]
            if flags.extended {
                if c == "#" {
                    while i < n && chars[i] != "\n" { i += 1 }
                    continue
                }
                if c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0B}" || c == "\u{0C}" {
                    i += 1
                    continue
                }
            }
            switch c {
            case "\\":
                i += 1
                guard i < n else { throw .invalid("trailing backslash") }
                out += try escape(chars, &i, inClass: false)
            case "[":
                out += try characterClass(chars, &i)
            case "(":
                i += 1
                if peek(0) == "?" {
                    i += 1
                    guard let next = peek(0) else { throw .invalid("unterminated group") }
                    switch next {
                    case ":":
                        i += 1
                        stack.append(flags)
                        out += "(?:"
                    case "P":
                        guard peek(1) == "<" else { throw .unsupported("(?P") }
                        i += 2
                        stack.append(flags)
                        out += "(?<" + (try groupName(chars, &i)) + ">"
                    case "<":
                        if peek(1) == "=" || peek(1) == "!" { throw .unsupported("look-behind") }
                        i += 1
                        stack.append(flags)
                        out += "(?<" + (try groupName(chars, &i)) + ">"
                    case "=", "!": throw .unsupported("look-ahead")
                    case ">": throw .unsupported("atomic group")
                    case "#": throw .unsupported("comment group")
                    default:
                        // Flag group: (?flags) or (?flags:...)
                        var on = true
                        var newFlags = flags
                        var icuOn = "", icuOff = ""
                        var sawAny = false
                        while i < n && chars[i] != ")" && chars[i] != ":" {
                            let f = chars[i]
                            switch f {
                            case "-":
                                guard on else { throw .invalid("repeated '-' in flags") }
                                on = false
                            case "i": if on { icuOn += "i" } else { icuOff += "i" }
                            case "x":
                                newFlags.extended = on
                                if on { icuOn += "x" } else { icuOff += "x" }
                            case "m": newFlags.multiLine = on
                            case "s": newFlags.dotAll = on
                            case "U": newFlags.swapGreed = on
                            case "u", "R": break
                            default: throw .invalid("unknown flag \(f)")
                            }
                            sawAny = true
                            i += 1
                        }
                        guard i < n, sawAny || chars[i] == ":" else { throw .invalid("bad flag group") }
                        let icu = icuOn + (icuOff.isEmpty ? "" : "-" + icuOff)
                        if chars[i] == ")" {
                            i += 1
                            flags = newFlags
                            if !icu.isEmpty { out += "(?\(icu))" }
                        } else {
                            i += 1
                            stack.append(flags)
                            flags = newFlags
                            out += "(?\(icu):"
                        }
                    }
                } else {
                    stack.append(flags)
                    out += "("
                }
            case ")":
                i += 1
                guard let saved = stack.popLast() else { throw .invalid("unbalanced ')'") }
                flags = saved
                out += ")"
            case "^":
                i += 1
                out += flags.multiLine ? "(?:\\A|(?<=\\n))" : "\\A"
            case "$":
                i += 1
                out += flags.multiLine ? "(?=\\n|\\z)" : "\\z"
            case ".":
                i += 1
                out += flags.dotAll ? "[\\x{0}-\\x{10FFFF}]" : "[^\\n]"
            case "*", "+", "?":
                i += 1
                out.unicodeScalars.append(c)
                try quantifierSuffix()
            case "{":
                // Counted repetition {n}, {n,}, {n,m}.
                var j = i + 1
                var body = ""
                while j < n && chars[j] != "}" {
                    guard chars[j].properties.numericType != nil && chars[j].isASCII || chars[j] == "," || chars[j] == " " else {
                        throw .invalid("bad repetition")
                    }
                    if chars[j] != " " { body.unicodeScalars.append(chars[j]) }
                    j += 1
                }
                guard j < n, !body.isEmpty, body.first != "," else { throw .invalid("bad repetition") }
                let parts = body.split(separator: ",", omittingEmptySubsequences: false)
                guard parts.count <= 2, let lo = Int(parts[0]) else { throw .invalid("bad repetition") }
                if parts.count == 2, !parts[1].isEmpty {
                    guard let hi = Int(parts[1]), hi >= lo else { throw .invalid("bad repetition range") }
                }
                out += "{" + body + "}"
                i = j + 1
                try quantifierSuffix()
            default:
                i += 1
                out.unicodeScalars.append(c)
            }
        }
        guard stack.isEmpty else { throw .invalid("unclosed group") }
        return out
    }

    private static func groupName(_ chars: [Unicode.Scalar], _ i: inout Int) throws(Error) -> String {
        var name = ""
        while i < chars.count && chars[i] != ">" {
            let c = chars[i]
            guard c.properties.isAlphabetic || c == "_" || (c.isASCII && c.properties.numericType != nil) else {
                throw .invalid("bad group name")
            }
            name.unicodeScalars.append(c)
            i += 1
        }
        guard i < chars.count, !name.isEmpty else { throw .invalid("unterminated group name") }
        i += 1
        // ICU group names are ASCII letters and digits only.
        guard name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil) }),
              let first = name.unicodeScalars.first, first.properties.isAlphabetic else {
            throw .unsupported("group name \(name)")
        }
        return name
    }

    /// Translates the escape starting at `chars[i]` (just after the backslash).
    private static func escape(_ chars: [Unicode.Scalar], _ i: inout Int, inClass: Bool) throws(Error) -> String {
        let c = chars[i]
        i += 1
        switch c {
        case "1", "2", "3", "4", "5", "6", "7", "8", "9":
            throw .unsupported("backreference")
        case "0":
            throw .unsupported("octal escape")
        case "k", "g":
            throw .unsupported("backreference")
        case "Z", "G", "Q", "E", "X", "h", "H", "R", "N", "K", "c", "e", "C", "o", "O":
            throw .unsupported("escape \\\(c)")
        case "v": return "\\x{0B}"
        case "a": return "\\x{07}"
        case "f", "t", "n", "r", "d", "D", "s", "S", "w", "W":
            return "\\" + String(c)
        case "A", "z", "b", "B":
            guard !inClass else { throw .invalid("\\\(c) in a class") }
            if c == "b" || c == "B", i < chars.count, chars[i] == "{" {
                var name = ""
                var j = i + 1
                while j < chars.count && chars[j] != "}" { name.unicodeScalars.append(chars[j]); j += 1 }
                guard j < chars.count else { throw .invalid("unterminated \\b{") }
                i = j + 1
                switch name {
                case "start": return "\\b(?=\\w)"
                case "end": return "\\b(?<=\\w)"
                case "start-half": return "(?<!\\w)"
                case "end-half": return "(?!\\w)"
                default: throw .invalid("unknown boundary \(name)")
                }
            }
            return "\\" + String(c)
        case "<":
            guard !inClass else { throw .invalid("\\< in a class") }
            return "\\b(?=\\w)"
        case ">":
            guard !inClass else { throw .invalid("\\> in a class") }
            return "\\b(?<=\\w)"
        case "p", "P":
            guard i < chars.count else { throw .invalid("incomplete \\p") }
            if chars[i] == "{" {
                var body = ""
                var j = i + 1
                while j < chars.count && chars[j] != "}" { body.unicodeScalars.append(chars[j]); j += 1 }
                guard j < chars.count else { throw .invalid("unterminated \\p{") }
                i = j + 1
                return "\\\(c){\(body)}"
            }
            let name = chars[i]
            i += 1
            return "\\\(c){\(name)}"
        case "x", "u", "U":
            // \xHH, \x{H...}, \uHHHH, \u{H...}, \UHHHHHHHH, \U{H...}
            var hex = ""
            if i < chars.count && chars[i] == "{" {
                var j = i + 1
                while j < chars.count && chars[j] != "}" { hex.unicodeScalars.append(chars[j]); j += 1 }
                guard j < chars.count else { throw .invalid("unterminated hex escape") }
                i = j + 1
            } else {
                let width = c == "x" ? 2 : (c == "u" ? 4 : 8)
                guard i + width <= chars.count else { throw .invalid("short hex escape") }
                for k in 0..<width { hex.unicodeScalars.append(chars[i + k]) }
                i += width
            }
            guard let v = UInt32(hex, radix: 16), Unicode.Scalar(v) != nil else { throw .invalid("bad hex escape") }
            return "\\x{" + String(v, radix: 16) + "}"
        default:
            // Escaped punctuation (meta characters and others) is literal in both engines.
            if c.isASCII && !(c.properties.isAlphabetic || c.properties.numericType != nil) {
                return "\\" + String(c)
            }
            throw .invalid("unknown escape \\\(c)")
        }
    }

    private static let posixClasses: [String: String] = [
        "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x{0}-\\x{7F}", "blank": "\\t ",
        "cntrl": "\\x{0}-\\x{1F}\\x{7F}", "digit": "0-9", "graph": "!-~", "lower": "a-z",
        "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\x{0B}\\f\\r ", "upper": "A-Z",
        "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
    ]

    /// Translates a bracketed class starting at `chars[i] == "["`, including nested classes and
    /// the `&&`, `--`, `~~` set operations.
    private static func characterClass(_ chars: [Unicode.Scalar], _ i: inout Int) throws(Error) -> String {
        let n = chars.count
        var out = "["
        i += 1
        if i < n && chars[i] == "^" { out += "^"; i += 1 }
        // A leading ']' is a literal in Rust.
        if i < n && chars[i] == "]" { out += "\\]"; i += 1 }
        var empty = true
        while i < n {
            let c = chars[i]
            switch c {
            case "]":
                i += 1
                guard !empty || out.hasSuffix("\\]") else { throw .invalid("empty class") }
                return out + "]"
            case "[":
                if i + 1 < n && chars[i + 1] == ":" {
                    // POSIX class [:name:] or [:^name:]
                    var j = i + 2
                    var negated = false
                    if j < n && chars[j] == "^" { negated = true; j += 1 }
                    var name = ""
                    while j < n && chars[j] != ":" { name.unicodeScalars.append(chars[j]); j += 1 }
                    if j + 1 < n && chars[j + 1] == "]", let ranges = posixClasses[name] {
                        out += negated ? "[^\(ranges)]" : "[\(ranges)]"
                        i = j + 2
                        empty = false
                        continue
                    }
                }
                out += try characterClass(chars, &i)
                empty = false
            case "\\":
                i += 1
                guard i < n else { throw .invalid("trailing backslash") }
                out += try escape(chars, &i, inClass: true)
                empty = false
            case "&":
                if i + 1 < n && chars[i + 1] == "&" { out += "&&"; i += 2 } else { out += "&"; i += 1 }
            case "~":
                if i + 1 < n && chars[i + 1] == "~" { throw .unsupported("symmetric class difference") }
                out += "~"
                i += 1
                empty = false
            case "-":
                // A range between two members, a literal at either end, "--" a set difference.
                if i + 1 < n && chars[i + 1] == "-" { out += "--"; i += 2 } else { out += "-"; i += 1 }
                empty = false
            default:
                if c == "$" || c == "^" || c == "{" || c == "}" || c == "(" || c == ")" || c == "|" || c == "*" || c == "+" || c == "?" || c == "." || c == "/" {
                    out += "\\" + String(c)
                } else {
                    out.unicodeScalars.append(c)
                }
                i += 1
                empty = false
            }
        }
        throw .invalid("unclosed class")
    }
}
