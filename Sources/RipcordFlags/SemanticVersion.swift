/// A strict Semantic Versioning 2.0.0 version, ordered by SemVer precedence
/// (build metadata is kept but ignored when comparing).
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public enum Identifier: Sendable, Hashable, Comparable {
        case numeric(UInt64)
        case alphanumeric(String)

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

    /// Parses `MAJOR.MINOR.PATCH[-prerelease][+build]` strictly: no leading "v", no leading
    /// zeros in numeric parts, no empty identifiers.
    public init?(_ text: String) {
        var utf8 = Array(text.utf8)[...]
        func number(_ s: ArraySlice<UInt8>) -> UInt64? {
            guard !s.isEmpty, s.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            if s.count > 1 && s.first == 48 { return nil }
            var v: UInt64 = 0
            for c in s {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(c - 48))
                if o1 || o2 { return nil }
                v = a
            }
            return v
        }
        func isIdentChar(_ c: UInt8) -> Bool {
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45
        }
        var buildPart: ArraySlice<UInt8>? = nil
        if let plus = utf8.firstIndex(of: UInt8(ascii: "+")) {
            buildPart = utf8[(plus + 1)...]
            utf8 = utf8[..<plus]
        }
        var prePart: ArraySlice<UInt8>? = nil
        if let dash = utf8.firstIndex(of: UInt8(ascii: "-")) {
            prePart = utf8[(dash + 1)...]
            utf8 = utf8[..<dash]
        }
        let core = utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard core.count == 3, let ma = number(core[0]), let mi = number(core[1]), let pa = number(core[2]) else { return nil }
        major = ma
        minor = mi
        patch = pa

        var pre: [Identifier] = []
        if let prePart {
            for ident in prePart.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
                guard !ident.isEmpty, ident.allSatisfy(isIdentChar) else { return nil }
                if ident.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
                    guard let n = number(ident) else { return nil }
                    pre.append(.numeric(n))
                } else {
                    pre.append(.alphanumeric(String(decoding: ident, as: UTF8.self)))
                }
            }
        }
        preRelease = pre
        var builds: [String] = []
        if let buildPart {
            for ident in buildPart.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
                guard !ident.isEmpty, ident.allSatisfy(isIdentChar) else { return nil }
                builds.append(String(decoding: ident, as: UTF8.self))
            }
        }
        build = builds
    }

    public var description: String {
        var s = "\(major).\(minor).\(patch)"
        if !preRelease.isEmpty {
            s += "-" + preRelease.map {
                switch $0 {
                case .numeric(let n): String(n)
                case .alphanumeric(let a): a
                }
            }.joined(separator: ".")
        }
        if !build.isEmpty { s += "+" + build.joined(separator: ".") }
        return s
    }

    /// Compares the version written in `text` with `target` (-1, 0, 1), or nil when `text` is
    /// not a valid version. Plain `MAJOR.MINOR.PATCH` text is compared without allocating.
    static func compare(_ text: String, to target: SemanticVersion) -> Int? {
        var text = text
        let plain: (UInt64, UInt64, UInt64)?? = text.withUTF8 { b in
            var parts: (UInt64, UInt64, UInt64) = (0, 0, 0)
            var part = 0
            var value: UInt64 = 0
            var digits = 0
            var leadingZero = false
            for c in b {
                if c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { return .some(nil) } // needs the full parser
                if c == UInt8(ascii: ".") {
                    guard digits > 0, part < 2 else { return nil }
                    if part == 0 { parts.0 = value } else { parts.1 = value }
                    part += 1
                    value = 0
                    digits = 0
                    leadingZero = false
                    continue
                }
                guard c >= 48 && c <= 57, !(leadingZero && digits > 0) else { return nil }
                if digits == 0 && c == 48 { leadingZero = true }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(c - 48))
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

    /// -1, 0 or 1 by SemVer precedence.
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

    /// Precedence equality (build metadata ignored).
    public static func == (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool { lhs.compare(rhs) == 0 }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(major)
        hasher.combine(minor)
        hasher.combine(patch)
        hasher.combine(preRelease)
    }
}
