import Foundation

/// A small, allocation-free ISO 8601 / RFC 3339 timestamp parser and formatter.
///
/// Accepts `YYYY-MM-DD`, optionally followed by `T` (or `t` or a space) and `hh:mm[:ss[.fraction]]`,
/// optionally followed by `Z`, `±hh:mm`, `±hhmm` or `±hh`. A missing offset means UTC; a date
/// alone means midnight UTC.
public enum ISO8601Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z, or nil when `text` is not a valid timestamp.
    public static func parse(_ text: String) -> Double? {
        var text = text
        return text.withUTF8 { parse(bytes: $0) }
    }

    /// A DATE_AFTER / DATE_BEFORE operand in the one form Unleash's reference engine (yggdrasil, in
    /// every current SDK) reads: `YYYY-MM-DDThh:mm:ss`, optionally `.sss` (exactly milliseconds), then
    /// `Z` or `±hh:mm`. Anything else never matches there, so it is refused here too.
    public static func parseConstraintDate(_ text: String) -> Double? {
        let b = Array(text.utf8)
        guard b.count >= 20, b[10] == UInt8(ascii: "T") else { return nil }
        var rest = b[19...]
        if rest.first == UInt8(ascii: ".") {
            guard rest.count >= 4, rest.dropFirst().prefix(3).allSatisfy({ (48...57).contains($0) }) else { return nil }
            rest = rest.dropFirst(4)
        }
        guard Array(rest) == [UInt8(ascii: "Z")] || isColonOffset(rest) else { return nil }
        return parse(text)
    }

    /// A context's `currentTime` as that engine reads it: RFC 3339 with seconds and an offset (`Z`,
    /// `±hh:mm` or `±hhmm`), any fraction, `T`, `t` or a space between date and time. An unreadable
    /// one fails the date rules only.
    public static func parseContextTime(_ text: String) -> Double? {
        let b = Array(text.utf8)
        guard b.count >= 20, b[16] == UInt8(ascii: ":") else { return nil }
        var rest = b[19...]
        if rest.first == UInt8(ascii: ".") || rest.first == UInt8(ascii: ",") {
            let digits = rest.dropFirst().prefix { (48...57).contains($0) }.count
            guard digits > 0 else { return nil }
            rest = rest.dropFirst(1 + digits)
        }
        let offset = Array(rest)
        let compactOffset = offset.count == 5 && (offset[0] == UInt8(ascii: "+") || offset[0] == UInt8(ascii: "-"))
        guard offset == [UInt8(ascii: "Z")] || offset == [UInt8(ascii: "z")] || isColonOffset(rest) || compactOffset else { return nil }
        return parse(text)
    }

    private static func isColonOffset(_ rest: ArraySlice<UInt8>) -> Bool {
        let o = Array(rest)
        return o.count == 6 && (o[0] == UInt8(ascii: "+") || o[0] == UInt8(ascii: "-")) && o[3] == UInt8(ascii: ":")
    }

    /// Formats as `YYYY-MM-DDThh:mm:ss.sssZ` (UTC, milliseconds).
    public static func format(_ seconds: Double) -> String {
        let totalMillis = Int64((seconds * 1000).rounded(.down))
        var days = totalMillis / 86_400_000
        var millisOfDay = totalMillis % 86_400_000
        if millisOfDay < 0 {
            millisOfDay += 86_400_000
            days -= 1
        }
        let (y, m, d) = civilFromDays(days)
        let h = millisOfDay / 3_600_000
        let mi = (millisOfDay / 60_000) % 60
        let s = (millisOfDay / 1000) % 60
        let ms = millisOfDay % 1000
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(h, 2)):\(pad(mi, 2)):\(pad(s, 2)).\(pad(ms, 3))Z"
    }

    static func parse(bytes b: UnsafeBufferPointer<UInt8>) -> Double? {
        var i = 0
        let n = b.count

        func digits(_ count: Int) -> Int? {
            guard i + count <= n else { return nil }
            var v = 0
            for k in 0..<count {
                let c = b[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += count
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < n, b[i] == c else { return false }
            i += 1
            return true
        }

        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
            let day = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month) else { return nil }

        var hour = 0, minute = 0, second = 0
        var fraction = 0.0
        var offsetSeconds = 0
        if i < n {
            let sep = b[i]
            guard sep == UInt8(ascii: "T") || sep == UInt8(ascii: "t") || sep == UInt8(ascii: " ") else { return nil }
            i += 1
            guard let h = digits(2), expect(UInt8(ascii: ":")), let mi = digits(2) else { return nil }
            hour = h
            minute = mi
            if i < n, b[i] == UInt8(ascii: ":") {
                i += 1
                guard let s = digits(2) else { return nil }
                second = s
                if i < n, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
                    i += 1
                    var scale = 0.1
                    var any = false
                    while i < n, b[i] >= 48, b[i] <= 57 {
                        fraction += Double(b[i] - 48) * scale
                        scale /= 10
                        i += 1
                        any = true
                    }
                    guard any else { return nil }
                }
            }
            guard hour <= 23, minute <= 59, second <= 60 else { return nil }
            if i < n {
                let c = b[i]
                if c == UInt8(ascii: "Z") || c == UInt8(ascii: "z") {
                    i += 1
                } else if c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                    i += 1
                    guard let oh = digits(2) else { return nil }
                    var om = 0
                    if i < n {
                        if b[i] == UInt8(ascii: ":") { i += 1 }
                        guard let m = digits(2) else { return nil }
                        om = m
                    }
                    guard oh <= 23, om <= 59 else { return nil }
                    offsetSeconds = (oh * 3600 + om * 60) * (c == UInt8(ascii: "-") ? -1 : 1)
                } else {
                    return nil
                }
            }
            guard i == n else { return nil }
        }
        let days = daysFromCivil(Int64(year), Int64(month), Int64(day))
        let secs = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        return Double(secs) + fraction
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z: Int64) -> (Int64, Int64, Int64) {
        let z = z + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
