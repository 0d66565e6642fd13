import Foundation

/// A length of time as written in configuration ("500ms", "30s", "5m", "1h", "1m30s", "90d"),
/// kept in milliseconds so it persists and compares exactly.
public struct TimeSpan: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }
    public static func seconds(_ s: Double) -> TimeSpan { TimeSpan(milliseconds: Int64((s * 1000).rounded())) }
    public static func milliseconds(_ ms: Int64) -> TimeSpan { TimeSpan(milliseconds: ms) }
    public static let zero = TimeSpan(milliseconds: 0)

    public var seconds: Double { Double(milliseconds) / 1000 }
    public var duration: Duration { .milliseconds(milliseconds) }

    /// A measured duration, to the millisecond.
    public init(_ duration: Duration) {
        milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// The longest duration Ripcord takes (87600h, ten years): anything longer is a typo or an attempt to
    /// overflow the deadlines computed from it.
    public static let maximum = TimeSpan(milliseconds: 87_600 * 3_600_000)

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let text: String
        public var description: String { "'\(text)' is not a duration from 0 to 10 years (use e.g. 500ms, 30s, 5m, 1h, 1m30s, 30d)" }
    }

    public init(parsing text: String) throws {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var total: Int64 = 0
        guard !rest.isEmpty else { throw ParseError(text: text) }
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isASCIIDigit || $0 == "." })
            guard !digits.isEmpty, let value = Double(digits) else { throw ParseError(text: text) }
            rest = rest.dropFirst(digits.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else {
                throw ParseError(text: text)
            }
            rest = rest.dropFirst(unit.0.count)
            let part = (value * Double(unit.1)).rounded()
            guard part <= Double(Self.maximum.milliseconds - total) else { throw ParseError(text: text) }
            total += Int64(part)
        }
        self.milliseconds = total
    }

    public var description: String {
        if milliseconds % 3_600_000 == 0, milliseconds > 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0, milliseconds > 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }

    public static func < (lhs: TimeSpan, rhs: TimeSpan) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let ms = try? container.decode(Int64.self) {
            guard (0...Self.maximum.milliseconds).contains(ms) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: ParseError(text: "\(ms)ms").description)
            }
            self.init(milliseconds: ms)
        } else {
            let text = try container.decode(String.self)
            do { try self.init(parsing: text) } catch let error as ParseError {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Moment {
    /// Saturates instead of trapping: a deadline far enough away is "never".
    public static func + (lhs: Moment, rhs: TimeSpan) -> Moment {
        let (sum, overflow) = lhs.millisecondsSinceEpoch.addingReportingOverflow(rhs.milliseconds)
        return Moment(millisecondsSinceEpoch: overflow ? (rhs.milliseconds > 0 ? .max : .min) : sum)
    }
    public static func - (lhs: Moment, rhs: Moment) -> TimeSpan { TimeSpan(milliseconds: lhs.millisecondsSinceEpoch - rhs.millisecondsSinceEpoch) }
}

/// A point in wall-clock time, in milliseconds since the Unix epoch. The core never reads a clock:
/// callers pass `Moment`s in, so tests drive time by hand.
public struct Moment: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var millisecondsSinceEpoch: Int64
    public init(millisecondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }
    public static func < (lhs: Moment, rhs: Moment) -> Bool { lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch }
    public var description: String { Timestamp.iso8601(millisecondsSinceEpoch) }

    public init(from decoder: any Decoder) throws {
        self.millisecondsSinceEpoch = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(millisecondsSinceEpoch)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
