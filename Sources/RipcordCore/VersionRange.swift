import Foundation

/// A range of versions in the notation npm and Cargo users know: comparators joined by spaces
/// (all must hold) and alternatives joined by `||` (any may hold). Supported: `>=2.1.0 <3.0.0`,
/// `=2.1.0` or `2.1.0`, wildcards `2.x` / `2.1.*` / `2` / `*`, caret `^2.1.0`, tilde `~2.1.0`, and
/// hyphen ranges `2.1.0 - 2.4.0`. Partial versions fill in zeros (`>=2.1` is `>=2.1.0`).
/// Pre-release versions compare by SemVer precedence, so `>=2.0.0` admits `2.1.0-rc.1`.
public struct VersionRange: Sendable, Hashable, Codable, CustomStringConvertible {
    enum Operator: String, Sendable, Hashable { case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", equal = "=" }

    struct Comparator: Sendable, Hashable {
        let op: Operator
        let version: SemanticVersion

        func admits(_ candidate: SemanticVersion) -> Bool {
            switch op {
            case .less: candidate < version
            case .lessOrEqual: candidate <= version
            case .greater: candidate > version
            case .greaterOrEqual: candidate >= version
            case .equal: candidate == version
            }
        }
    }

    /// Alternatives, each a conjunction of comparators (an empty conjunction admits everything).
    let alternatives: [[Comparator]]
    /// The text as written, shown in messages.
    public let description: String

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let text: String
        public let reason: String
        public var description: String { "'\(text)' is not a version range: \(reason) (e.g. '>=2.1.0 <3.0.0', '^2.1', '2.x')" }
    }

    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw ParseError(text: text, reason: "it is empty") }
        var alternatives: [[Comparator]] = []
        for alternative in trimmed.components(separatedBy: "||") {
            let words = alternative.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard !words.isEmpty else { throw ParseError(text: text, reason: "an alternative between '||' is empty") }
            if words.count == 3, words[1] == "-" {
                let low = try Self.partial(words[0], in: text)
                let high = try Self.partial(words[2], in: text)
                alternatives.append([Comparator(op: .greaterOrEqual, version: low.floor)] + high.upperComparators(inclusive: true))
                continue
            }
            var comparators: [Comparator] = []
            for word in words { comparators += try Self.comparators(word, in: text) }
            alternatives.append(comparators)
        }
        self.alternatives = alternatives
        self.description = trimmed
    }

    public func admits(_ version: SemanticVersion) -> Bool {
        alternatives.contains { $0.allSatisfy { $0.admits(version) } }
    }

    public init(from decoder: any Decoder) throws {
        self = try decoder.singleValueContainer().decodeParsed(Self.init(parsing:))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public static func == (lhs: VersionRange, rhs: VersionRange) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    // MARK: - Parsing

    /// A version with possibly missing or wildcard parts: `2`, `2.1`, `2.x`, `2.1.3-rc.1`.
    struct Partial {
        var numbers: [UInt64]
        var prerelease: [String]

        var floor: SemanticVersion {
            SemanticVersion(
                major: numbers.first ?? 0, minor: numbers.count > 1 ? numbers[1] : 0,
                patch: numbers.count > 2 ? numbers[2] : 0, preRelease: prerelease.map(SemanticVersion.Identifier.init))
        }

        /// The smallest version above everything the partial names (`2.1` → `2.2.0`).
        var ceiling: SemanticVersion? {
            switch numbers.count {
            case 0: nil
            case 1: SemanticVersion(major: numbers[0] + 1, minor: 0, patch: 0)
            case 2: SemanticVersion(major: numbers[0], minor: numbers[1] + 1, patch: 0)
            default: nil
            }
        }

        /// `<= 2.1.3` for a full version, `< 2.2.0` for `2.1` (or `<=` read inclusively as "up to all of 2.1").
        func upperComparators(inclusive: Bool) -> [Comparator] {
            if numbers.count == 3 { return [Comparator(op: inclusive ? .lessOrEqual : .less, version: floor)] }
            return ceiling.map { [Comparator(op: .less, version: $0)] } ?? []
        }
    }

    static func partial(_ word: String, in text: String) throws -> Partial {
        var core = Substring(word)
        if core.hasPrefix("v") { core = core.dropFirst() }
        var prerelease: [String] = []
        if let plus = core.firstIndex(of: "+") { core = core[..<plus] }
        if let dash = core.firstIndex(of: "-") {
            prerelease = core[core.index(after: dash)...].split(separator: ".").map(String.init)
            core = core[..<dash]
        }
        var numbers: [UInt64] = []
        for (index, part) in core.split(separator: ".", omittingEmptySubsequences: false).enumerated() {
            guard index < 3 else { throw ParseError(text: text, reason: "'\(word)' has more than three parts") }
            if part == "x" || part == "X" || part == "*" { break }
            guard let number = UInt64(part) else { throw ParseError(text: text, reason: "'\(word)' is not a version") }
            numbers.append(number)
        }
        guard prerelease.isEmpty || numbers.count == 3 else {
            throw ParseError(text: text, reason: "'\(word)' has a pre-release but not all three numbers")
        }
        return Partial(numbers: numbers, prerelease: prerelease)
    }

    static func comparators(_ word: String, in text: String) throws -> [Comparator] {
        for op in [Operator.greaterOrEqual, .lessOrEqual, .greater, .less, .equal] where word.hasPrefix(op.rawValue) {
            let rest = String(word.dropFirst(op.rawValue.count))
            guard !rest.isEmpty else { throw ParseError(text: text, reason: "'\(word)' has no version after \(op.rawValue)") }
            let version = try partial(rest, in: text)
            switch op {
            case .greaterOrEqual: return [Comparator(op: .greaterOrEqual, version: version.floor)]
            case .less: return [Comparator(op: .less, version: version.floor)]
            case .greater:
                return version.numbers.count == 3
                    ? [Comparator(op: .greater, version: version.floor)]
                    : version.ceiling.map { [Comparator(op: .greaterOrEqual, version: $0)] } ?? [Comparator(op: .less, version: SemanticVersion(major: 0, minor: 0, patch: 0))]
            case .lessOrEqual: return version.upperComparators(inclusive: true)
            case .equal: return try comparators(rest, in: text)
            }
        }
        if word.hasPrefix("^") {
            let version = try partial(String(word.dropFirst()), in: text)
            let floor = version.floor
            // The first non-zero part may not change (`^0.2.3` is `>=0.2.3 <0.3.0`).
            let ceiling: SemanticVersion =
                if floor.major > 0 || version.numbers.count < 2 {
                    SemanticVersion(major: floor.major + 1, minor: 0, patch: 0)
                } else if floor.minor > 0 || version.numbers.count < 3 {
                    SemanticVersion(major: 0, minor: floor.minor + 1, patch: 0)
                } else {
                    SemanticVersion(major: 0, minor: 0, patch: floor.patch + 1)
                }
            return [Comparator(op: .greaterOrEqual, version: floor), Comparator(op: .less, version: ceiling)]
        }
        if word.hasPrefix("~") {
            let version = try partial(String(word.dropFirst()), in: text)
            let floor = version.floor
            let ceiling =
                version.numbers.count < 2
                ? SemanticVersion(major: floor.major + 1, minor: 0, patch: 0)
                : SemanticVersion(major: floor.major, minor: floor.minor + 1, patch: 0)
            return [Comparator(op: .greaterOrEqual, version: floor), Comparator(op: .less, version: ceiling)]
        }
        let version = try partial(word, in: text)
        if version.numbers.count == 3 { return [Comparator(op: .equal, version: version.floor)] }
        return [Comparator(op: .greaterOrEqual, version: version.floor)] + version.upperComparators(inclusive: false)
    }
}
