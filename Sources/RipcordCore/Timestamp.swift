/// Formats epoch milliseconds as ISO 8601 UTC without touching a clock or a locale.
public enum Timestamp {
    public static func iso8601(_ millisecondsSinceEpoch: Int64) -> String {
        let ms = Int(((millisecondsSinceEpoch % 1000) + 1000) % 1000)
        let totalSeconds = (millisecondsSinceEpoch - Int64(ms)) / 1000
        let days = Int(floorDiv(totalSeconds, 86_400))
        let secondOfDay = Int(totalSeconds - Int64(days) * 86_400)
        let (year, month, day) = civilDate(fromDaysSinceEpoch: days)
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(ms, 3))Z"
    }

    /// Time of day only ("17:04:05.123"), for compact timelines.
    public static func timeOfDay(_ millisecondsSinceEpoch: Int64) -> String {
        let full = iso8601(millisecondsSinceEpoch)
        let start = full.index(full.startIndex, offsetBy: 11)
        return String(full[start..<full.index(before: full.endIndex)])
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    // Howard Hinnant's days-to-civil algorithm.
    private static func civilDate(fromDaysSinceEpoch days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
