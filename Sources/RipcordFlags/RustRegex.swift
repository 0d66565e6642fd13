import CRipcordRE2

/// A regular expression with the semantics of Rust's `regex` crate (which Unleash's evaluation
/// engine uses), executed by RE2. Both are automata engines: matching takes time linear in the
/// text whatever the pattern, so a flag rule cannot stall evaluation (a backtracking engine
/// takes seconds on `^(a+)+$` against two dozen characters).
///
/// Matching is unanchored, as Rust's `is_match`. The two syntaxes mostly agree (`(?imsU)` flags,
/// `\A`, `\z`, `\pN`, `\p{Greek}`, `\x{…}`, ASCII `[[:alpha:]]` classes, `.` excluding only
/// `\n`, `$` only at the very end without `(?m)`); `translate` bridges where they differ:
/// - `\d`, `\s`, `\w` are Unicode in Rust, ASCII in RE2: spelled out as Unicode classes.
/// - `(?<name>…)` (RE2 of this vintage knows only `(?P<name>…)`), `\u…`/`\U…` escapes, and the
///   `u` flag (Unicode is already on) are rewritten.
/// - What Rust rejects but RE2 would accept differently (`\Q…\E`, `\C`, octal `\012`) is refused.
/// - What Rust has and RE2 cannot express is refused, never silently reinterpreted: nested
///   classes and `&&`/`--`/`~~` class operations, `\<`, `\>`, `\b{…}`, `\W` inside a class, and the
///   `x` (verbose), `R` (CRLF) and `-u` (ASCII) flags.
/// One difference stays: `\b`/`\B` look only at ASCII word characters in RE2 (Unicode in Rust); they
/// agree unless a non-ASCII letter or digit is next to the boundary.
public final class RustRegex: @unchecked Sendable {
    // RE2 objects are immutable after compilation and documented as safe to match from any thread.
    private let compiled: OpaquePointer

    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        /// Valid in Rust, but RE2 cannot express it.
        case unsupported(String)
        /// Not a valid pattern.
        case invalid(String)

        public var description: String {
            switch self {
            case .unsupported(let what): "unsupported regex syntax: \(what)"
            case .invalid(let why): "invalid regex: \(why)"
            }
        }
    }

    public init(_ pattern: String, caseInsensitive: Bool = false) throws(Error) {
        var translated = try Self.translate(pattern)
        var message: UnsafeMutablePointer<CChar>?
        let regex = translated.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { ripcord_re2_compile($0.baseAddress, $0.count, caseInsensitive ? 1 : 0, &message) }
        }
        guard let regex else {
            let why = message.map { String(cString: $0) } ?? "cannot compile"
            ripcord_re2_free_error(message)
            throw .invalid(why)
        }
        compiled = regex
    }

    deinit { ripcord_re2_free(compiled) }

    public func isMatch(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { ripcord_re2_is_match(compiled, $0.baseAddress, $0.count) != 0 }
        }
    }

    // MARK: - Rust syntax → RE2 syntax

    /// Unicode White_Space, which Rust's `\s` means.
    private static let whitespace = "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
    /// Its complement as ranges (RE2 cannot negate a part of a class), for `\S` inside a class.
    private static let notWhitespace =
        "\\x{0}-\\x{8}\\x{E}-\\x{1F}!-\\x{84}\\x{86}-\\x{9F}\\x{A1}-\\x{167F}\\x{1681}-\\x{1FFF}"
        + "\\x{200B}-\\x{2027}\\x{202A}-\\x{202E}\\x{2030}-\\x{205E}\\x{2060}-\\x{2FFF}\\x{3001}-\\x{10FFFF}"
    /// Rust's `\w`: Alphabetic, marks, decimal digits, connector punctuation, joiners. RE2 has no
    /// Alphabetic property: letters and letter numbers plus the few Other_Alphabetic symbols that
    /// are not marks (circled and squared Latin letters).
    private static let word =
        "\\p{L}\\p{Nl}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}"
        + "\\x{24B6}-\\x{24E9}\\x{1F130}-\\x{1F149}\\x{1F150}-\\x{1F169}\\x{1F170}-\\x{1F189}"

    static func translate(_ pattern: String) throws(Error) -> String {
        let chars = Array(pattern.unicodeScalars)
        var out = ""
        var i = 0
        while i < chars.count {
            switch chars[i] {
            case "\\":
                out += try escape(chars, &i, inClass: false)
            case "[":
                out += try characterClass(chars, &i)
            case "(" where i + 1 < chars.count && chars[i + 1] == "?":
                out += try groupOpening(chars, &i)
            default:
                out.unicodeScalars.append(chars[i])
                i += 1
            }
        }
        return out
    }

    /// `(?` at `chars[i]`: named groups and flag groups; anything else passes to RE2 (which
    /// rejects look-around and atomic groups, as Rust does).
    private static func groupOpening(_ chars: [Unicode.Scalar], _ i: inout Int) throws(Error) -> String {
        let start = i + 2
        if start < chars.count, chars[start] == "<", start + 1 < chars.count, chars[start + 1] != "=", chars[start + 1] != "!" {
            i = start + 1
            return "(?P<"
        }
        var j = start
        while j < chars.count, "imsUuxR-".unicodeScalars.contains(chars[j]) { j += 1 }
        guard j > start, j < chars.count, chars[j] == ")" || chars[j] == ":" else {
            i = start
            return "(?"
        }
        var on = "", off = ""
        var negated = false
        for flag in chars[start..<j] {
            switch flag {
            case "-": negated = true
            case "u" where negated: throw .unsupported("(?-u): ASCII-only mode")
            case "u": break  // Unicode mode is RE2's only mode
            case "x": throw .unsupported("the x flag (verbose mode); write the pattern without spaces and comments")
            case "R": throw .unsupported("the R flag (CRLF mode)")
            default: if negated { off.unicodeScalars.append(flag) } else { on.unicodeScalars.append(flag) }
            }
        }
        i = j + 1
        let flags = on + (off.isEmpty ? "" : "-" + off)
        if chars[j] == ":" { return "(?\(flags):" }
        return flags.isEmpty ? "" : "(?\(flags))"
    }

    /// The escape whose backslash is at `chars[i]`.
    private static func escape(_ chars: [Unicode.Scalar], _ i: inout Int, inClass: Bool) throws(Error) -> String {
        guard i + 1 < chars.count else { throw .invalid("trailing backslash") }
        let c = chars[i + 1]
        i += 2
        switch c {
        case "d": return "\\p{Nd}"
        case "D": return "\\P{Nd}"
        case "s": return inClass ? whitespace : "[\(whitespace)]"
        case "S": return inClass ? notWhitespace : "[^\(whitespace)]"
        case "w": return inClass ? word : "[\(word)]"
        case "W":
            guard !inClass else { throw .unsupported("\\W inside a character class") }
            return "[^\(word)]"
        case "0"..."9": throw .invalid("backreferences and octal escapes are not supported")
        case "Q", "E": throw .invalid("\\Q…\\E quoting is not supported")
        case "C": throw .invalid("\\C is not supported")
        case "<", ">": throw .unsupported("word start/end assertion \\\(c)")
        case "b" where i < chars.count && chars[i] == "{": throw .unsupported("\\b{…} word boundary assertions")
        case "u", "U":
            // \uHHHH, \UHHHHHHHH, \u{H…}, \U{H…}
            var hex = ""
            if i < chars.count, chars[i] == "{" {
                var j = i + 1
                while j < chars.count, chars[j] != "}" {
                    hex.unicodeScalars.append(chars[j])
                    j += 1
                }
                guard j < chars.count else { throw .invalid("unterminated \\\(c){") }
                i = j + 1
            } else {
                let width = c == "u" ? 4 : 8
                guard i + width <= chars.count else { throw .invalid("short \\\(c) escape") }
                for k in 0..<width { hex.unicodeScalars.append(chars[i + k]) }
                i += width
            }
            guard let value = UInt32(hex, radix: 16), Unicode.Scalar(value) != nil else { throw .invalid("bad \\\(c) escape") }
            return "\\x{" + String(value, radix: 16) + "}"
        default:
            return "\\" + String(c)
        }
    }

    /// A bracketed class starting at `chars[i] == "["`.
    private static func characterClass(_ chars: [Unicode.Scalar], _ i: inout Int) throws(Error) -> String {
        var out = "["
        i += 1
        if i < chars.count, chars[i] == "^" {
            out += "^"
            i += 1
        }
        // A leading ']' is a literal in both syntaxes.
        if i < chars.count, chars[i] == "]" {
            out += "]"
            i += 1
        }
        while i < chars.count {
            let c = chars[i]
            let next = i + 1 < chars.count ? chars[i + 1] : nil
            switch c {
            case "]":
                i += 1
                return out + "]"
            case "\\":
                out += try escape(chars, &i, inClass: true)
            case "[" where next == ":":
                // An ASCII class [:name:] or [:^name:], the same in both.
                var j = i + 2
                while j + 1 < chars.count, !(chars[j] == ":" && chars[j + 1] == "]") { j += 1 }
                guard j + 1 < chars.count else { throw .invalid("unclosed [: class") }
                for k in i...(j + 1) { out.unicodeScalars.append(chars[k]) }
                i = j + 2
            case "[": throw .unsupported("nested character classes")
            case "&" where next == "&": throw .unsupported("class intersection &&")
            case "-" where next == "-": throw .unsupported("class difference --")
            case "~" where next == "~": throw .unsupported("class symmetric difference ~~")
            default:
                out.unicodeScalars.append(c)
                i += 1
            }
        }
        throw .invalid("unclosed character class")
    }
}
