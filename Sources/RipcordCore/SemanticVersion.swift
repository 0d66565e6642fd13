/// A strict Semantic Versioning 2.0.0 version (https://semver.org), ordered by SemVer precedence
/// (build metadata is kept but ignored when comparing). Service versions and the flags' semver
/// constraints share it; its parser works on UTF-8 bytes because flag evaluation parses context
/// values on every request.
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public enum Identifier: Sendable, Hashable, Comparable {
        case numeric(UInt64)
        case alphanumeric(String)

        /// Numeric when `text` is all ASCII digits that fit a UInt64, alphanumeric otherwise
        /// (for already-split text such as a version range's bound; the parser validates its own).
        public init(_ text: some StringProtocol) {
            if text.utf8.allSatisfy(SemanticVersion.isDigit), let number = UInt64(text) {
                self = .numeric(number)
            } else {
                self = .alphanumeric(String(text))
            }
        }

        public static func < (lhs: Identifier, rhs: Identifier) -> Bool {
            switch (lhs, rhs) {
            case (.numeric(let a), .numeric(let b)): return a < b
            case (.numeric, .alphanumeric): return true
            case (.alphanumeric, .numeric): return false
            case (.alphanumeric(let a), .alphanumeric(let b)):
                return a.utf8.lexicographicallyPrecedes(b.utf8)
            }
        }
    }

    public let major: UInt64
    public let minor: UInt64
    public let patch: UInt64
    public let preRelease: [Identifier]
    public let build: [String]

    public init(major: UInt64, minor: UInt64, patch: UInt64, preRelease: [Identifier] = [], build: [String] = []) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.preRelease = preRelease
        self.build = build
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case invalid(String, reason: String)
        public var description: String {
            switch self {
            case let .invalid(text, reason): return "'\(text)' is not a Semantic Versioning 2.0.0 version: \(reason)"
            }
        }
    }

    /// The longest version text `init(parsing:)` accepts: tags, image names and database columns hold it.
    public static let maxLength = 128

    /// Parses a version Ripcord stores (at most `maxLength` characters), saying what is wrong when it is not one.
    public init(parsing text: String) throws {
        guard text.utf8.count <= Self.maxLength else {
            throw ParseError.invalid(String(text.prefix(32)) + "…", reason: "longer than \(Self.maxLength) characters")
        }
        do {
            self = try Self(utf8: Array(text.utf8)[...])
        } catch {
            throw ParseError.invalid(text, reason: error.reason)
        }
    }

    /// Parses `MAJOR.MINOR.PATCH[-prerelease][+build]` strictly (no leading "v", no leading zeros in
    /// numeric parts, no empty identifiers), or nil; no length limit, no error text built.
    public init?(_ text: String) {
        guard let version = try? Self(utf8: Array(text.utf8)[...]) else { return nil }
        self = version
    }

    /// Why text is not a version, without allocating until `init(parsing:)` describes it.
    private enum Flaw: Error {
        case notThreeNumbers, notANumber, leadingZero, tooLarge, preReleaseIdentifier, preReleaseLeadingZero, buildIdentifier

        var reason: String {
            switch self {
            case .notThreeNumbers: "expected MAJOR.MINOR.PATCH"
            case .notANumber: "MAJOR, MINOR and PATCH must be non-negative integers"
            case .leadingZero: "a number has a leading zero"
            case .tooLarge: "a number is too large"
            case .preReleaseIdentifier: "pre-release identifiers must be non-empty [0-9A-Za-z-]"
            case .preReleaseLeadingZero: "a numeric pre-release identifier has a leading zero"
            case .buildIdentifier: "build metadata must be dot-separated non-empty [0-9A-Za-z-] identifiers"
            }
        }
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private static func isIdentifierByte(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
            || c == UInt8(ascii: "-")
    }

    private static func number(_ digits: ArraySlice<UInt8>) throws(Flaw) -> UInt64 {
        guard !digits.isEmpty, digits.allSatisfy(isDigit) else { throw .notANumber }
        guard digits.count == 1 || digits.first != UInt8(ascii: "0") else { throw .leadingZero }
        var value: UInt64 = 0
        for c in digits {
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = shifted.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
            guard !o1 && !o2 else { throw .tooLarge }
            value = sum
        }
        return value
    }

    private init(utf8 text: ArraySlice<UInt8>) throws(Flaw) {
        var rest = text
        var build: [String] = []
        if let plus = rest.firstIndex(of: UInt8(ascii: "+")) {
            for identifier in rest[(plus + 1)...].split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
                guard !identifier.isEmpty, identifier.allSatisfy(Self.isIdentifierByte) else { throw .buildIdentifier }
                build.append(String(decoding: identifier, as: UTF8.self))
            }
            rest = rest[..<plus]
        }
        var preRelease: [Identifier] = []
        if let dash = rest.firstIndex(of: UInt8(ascii: "-")) {
            for identifier in rest[(dash + 1)...].split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
                guard !identifier.isEmpty, identifier.allSatisfy(Self.isIdentifierByte) else { throw .preReleaseIdentifier }
                if identifier.allSatisfy(Self.isDigit) {
                    do { preRelease.append(.numeric(try Self.number(identifier))) } catch .leadingZero { throw .preReleaseLeadingZero }
                } else {
                    preRelease.append(.alphanumeric(String(decoding: identifier, as: UTF8.self)))
                }
            }
            rest = rest[..<dash]
        }
        let core = rest.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard core.count == 3 else { throw .notThreeNumbers }
        self.init(
            major: try Self.number(core[0]), minor: try Self.number(core[1]), patch: try Self.number(core[2]),
            preRelease: preRelease, build: build)
    }

    public var description: String {
        var text = "\(major).\(minor).\(patch)"
        if !preRelease.isEmpty {
            text +=
                "-"
                + preRelease.map {
                    switch $0 {
                    case .numeric(let n): String(n)
                    case .alphanumeric(let a): a
                    }
                }.joined(separator: ".")
        }
        if !build.isEmpty { text += "+" + build.joined(separator: ".") }
        return text
    }

    /// Compares the version written in `text` with `target` (-1, 0, 1), or nil when `text` is
    /// not a valid version. Plain `MAJOR.MINOR.PATCH` text is compared without allocating.
    public static func compare(_ text: String, to target: SemanticVersion) -> Int? {
        var text = text
        let plain: (UInt64, UInt64, UInt64)?? = text.withUTF8 { b in
            var parts: (UInt64, UInt64, UInt64) = (0, 0, 0)
            var part = 0
            var value: UInt64 = 0
            var digits = 0
            var leadingZero = false
            for c in b {
                if c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { return .some(nil) }  // needs the full parser
                if c == UInt8(ascii: ".") {
                    guard digits > 0, part < 2 else { return nil }
                    if part == 0 { parts.0 = value } else { parts.1 = value }
                    part += 1
                    value = 0
                    digits = 0
                    leadingZero = false
                    continue
                }
                guard isDigit(c), !(leadingZero && digits > 0) else { return nil }
                if digits == 0 && c == UInt8(ascii: "0") { leadingZero = true }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
                guard !o1 && !o2 else { return nil }
                value = a
                digits += 1
            }
            guard part == 2, digits > 0 else { return nil }
            parts.2 = value
            return .some(parts)
        }
        switch plain {
        case nil:
            return nil
        case .some(nil):
            return SemanticVersion(text)?.compare(target)
        case .some(let (major, minor, patch)?):
            if major != target.major { return major < target.major ? -1 : 1 }
            if minor != target.minor { return minor < target.minor ? -1 : 1 }
            if patch != target.patch { return patch < target.patch ? -1 : 1 }
            return target.preRelease.isEmpty ? 0 : 1
        }
    }

    /// -1, 0 or 1 by SemVer precedence (§11): build metadata is ignored, a pre-release is lower
    /// than its release, numeric identifiers are lower than alphanumeric ones.
    public func compare(_ other: SemanticVersion) -> Int {
        if major != other.major { return major < other.major ? -1 : 1 }
        if minor != other.minor { return minor < other.minor ? -1 : 1 }
        if patch != other.patch { return patch < other.patch ? -1 : 1 }
        switch (preRelease.isEmpty, other.preRelease.isEmpty) {
        case (true, true): return 0
        case (true, false): return 1
        case (false, true): return -1
        case (false, false): break
        }
        for (a, b) in zip(preRelease, other.preRelease) where a != b {
            return a < b ? -1 : 1
        }
        if preRelease.count == other.preRelease.count { return 0 }
        return preRelease.count < other.preRelease.count ? -1 : 1
    }

    public static func < (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool { lhs.compare(rhs) < 0 }

    /// Precedence equality: build metadata does not distinguish versions.
    public static func == (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool { lhs.compare(rhs) == 0 }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(major)
        hasher.combine(minor)
        hasher.combine(patch)
        hasher.combine(preRelease)
    }

    public init(from decoder: any Decoder) throws {
        self = try decoder.singleValueContainer().decodeParsed(Self.init(parsing:))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
