import Foundation

/// A latency histogram with log-linear buckets (8 per power of two, ~12 % wide), cheap enough
/// to record on the router's hot path and precise enough for quantile thresholds.
public struct LatencyHistogram: Sendable, Equatable, Codable {
    public static let bucketCount = 256
    public private(set) var counts: [UInt64]
    /// Sum of all recorded values, for averages (Prometheus' `_sum`).
    public private(set) var sumMicroseconds: UInt64

    public init() {
        counts = Array(repeating: 0, count: Self.bucketCount)
        sumMicroseconds = 0
    }

    public init(counts: [UInt64], sumMicroseconds: UInt64 = 0) {
        precondition(counts.count == Self.bucketCount)
        self.counts = counts
        self.sumMicroseconds = sumMicroseconds
    }

    private enum CodingKeys: String, CodingKey { case counts, sumMicroseconds }

    /// Decoded counts are checked: every read indexes them by bucket, and a short array would trap.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let counts = try container.decode([UInt64].self, forKey: .counts)
        guard counts.count == Self.bucketCount else {
            throw DecodingError.dataCorruptedError(
                forKey: .counts, in: container,
                debugDescription: "a latency histogram has \(Self.bucketCount) buckets, not \(counts.count)")
        }
        self.init(counts: counts, sumMicroseconds: try container.decode(UInt64.self, forKey: .sumMicroseconds))
    }

    public var total: UInt64 { counts.reduce(0, &+) }

    public mutating func record(microseconds: UInt64) {
        counts[Self.bucketIndex(microseconds: microseconds)] &+= 1
        sumMicroseconds &+= microseconds
    }

    /// How many recorded values are at most `microseconds` (exact at bucket bounds, otherwise the
    /// buckets wholly below the bound).
    public func count(atMost microseconds: UInt64) -> UInt64 {
        var total: UInt64 = 0
        for (index, count) in counts.enumerated() {
            guard Self.upperBound(ofBucket: index) <= microseconds else { break }
            total &+= count
        }
        return total
    }

    static func bucketIndex(microseconds value: UInt64) -> Int {
        if value < 8 { return Int(value) }
        let highestBit = 63 - value.leadingZeroBitCount
        let subBucket = Int((value >> UInt64(highestBit - 3)) & 7)
        return min(bucketCount - 1, (highestBit - 2) * 8 + subBucket)
    }

    /// The largest value (in microseconds) that lands in bucket `index`.
    public static func upperBound(ofBucket index: Int) -> UInt64 {
        if index < 8 { return UInt64(index) }
        let highestBit = index / 8 + 2
        let subBucket = UInt64(index % 8)
        return ((8 + subBucket + 1) << UInt64(highestBit - 3)) - 1
    }

    /// One value to stand for bucket `index`, in milliseconds: the geometric midpoint of its range,
    /// since the buckets are log-linear.
    public static func representativeMilliseconds(ofBucket index: Int) -> Double {
        let upper = Double(upperBound(ofBucket: index)) + 1
        let lower = index == 0 ? 0.5 : Double(upperBound(ofBucket: index - 1)) + 1
        return (lower * upper).squareRoot() / 1000
    }

    /// The natural-log width of bucket `index` (log(9/8) at most, for the buckets above 8 µs).
    public static func logWidth(ofBucket index: Int) -> Double {
        let upper = Double(upperBound(ofBucket: index)) + 1
        let lower = index == 0 ? 0.5 : Double(upperBound(ofBucket: index - 1)) + 1
        return log(upper / lower)
    }

    /// The most values `valuesMilliseconds` hands out: a busy window (or a hostile report) could
    /// otherwise ask for billions. A million keeps every rank test's power and costs 8 MB.
    public static let maxValues: UInt64 = 1 << 20

    /// Every recorded value as its bucket's representative, in milliseconds (ascending); beyond
    /// `maxValues`, each bucket's count scaled down in proportion (the shape stays, n is capped).
    public var valuesMilliseconds: [Double] {
        let total = self.total
        let scale = total > Self.maxValues ? Double(Self.maxValues) / Double(total) : 1
        var values: [Double] = []
        values.reserveCapacity(Int(min(total, Self.maxValues)) + counts.count)
        for (index, count) in counts.enumerated() where count > 0 {
            let kept = scale == 1 ? count : UInt64((Double(count) * scale).rounded())
            values.append(contentsOf: repeatElement(Self.representativeMilliseconds(ofBucket: index), count: Int(kept)))
        }
        return values
    }

    /// The latency at quantile `q` (0...1) in milliseconds, or `nil` when nothing was recorded.
    public func quantileMilliseconds(_ q: Double) -> Double? {
        let total = self.total
        guard total > 0 else { return nil }
        let rank = UInt64(max(1, (q * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, count) in counts.enumerated() where count > 0 {
            seen &+= count
            if seen >= rank { return Double(Self.upperBound(ofBucket: index)) / 1000 }
        }
        return Double(Self.upperBound(ofBucket: Self.bucketCount - 1)) / 1000
    }

    public static func + (lhs: LatencyHistogram, rhs: LatencyHistogram) -> LatencyHistogram {
        LatencyHistogram(counts: zip(lhs.counts, rhs.counts).map { $0 &+ $1 }, sumMicroseconds: lhs.sumMicroseconds &+ rhs.sumMicroseconds)
    }

    public static func - (lhs: LatencyHistogram, rhs: LatencyHistogram) -> LatencyHistogram {
        LatencyHistogram(
            counts: zip(lhs.counts, rhs.counts).map { $0 >= $1 ? $0 - $1 : 0 },
            sumMicroseconds: lhs.sumMicroseconds >= rhs.sumMicroseconds ? lhs.sumMicroseconds - rhs.sumMicroseconds : 0)
    }
}

/// What the router measured for one version of one service: cumulative since the router started.
public struct VersionMetrics: Sendable, Equatable, Codable {
    /// Responses by status class: index 1 = 1xx … 5 = 5xx.
    public var responsesByClass: [UInt64]
    /// Requests for which no response came back (connect failure, reset, timeout).
    public var connectionFailures: UInt64
    public var latency: LatencyHistogram

    public init() {
        responsesByClass = Array(repeating: 0, count: 6)
        connectionFailures = 0
        latency = LatencyHistogram()
    }

    private enum CodingKeys: String, CodingKey { case responsesByClass, connectionFailures, latency }

    /// Decoded classes are checked, as the histogram's buckets are: every read indexes them by class.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let classes = try container.decode([UInt64].self, forKey: .responsesByClass)
        guard classes.count == 6 else {
            throw DecodingError.dataCorruptedError(
                forKey: .responsesByClass, in: container, debugDescription: "responses come in 6 classes (0, 1xx … 5xx), not \(classes.count)")
        }
        responsesByClass = classes
        connectionFailures = try container.decode(UInt64.self, forKey: .connectionFailures)
        latency = try container.decode(LatencyHistogram.self, forKey: .latency)
    }

    public mutating func recordResponse(status: Int, microseconds: UInt64) {
        responsesByClass[min(5, max(0, status / 100))] &+= 1
        latency.record(microseconds: microseconds)
    }

    public mutating func recordConnectionFailure() { connectionFailures &+= 1 }

    public var requests: UInt64 { responsesByClass.reduce(0, &+) + connectionFailures }
    /// Failed requests: server errors plus requests that got no response at all.
    public var errors: UInt64 { responsesByClass[5] &+ connectionFailures }
    public var errorRate: Double { requests == 0 ? 0 : Double(errors) / Double(requests) }

    public static func + (lhs: VersionMetrics, rhs: VersionMetrics) -> VersionMetrics {
        var sum = VersionMetrics()
        sum.responsesByClass = zip(lhs.responsesByClass, rhs.responsesByClass).map { $0 &+ $1 }
        sum.connectionFailures = lhs.connectionFailures &+ rhs.connectionFailures
        sum.latency = lhs.latency + rhs.latency
        return sum
    }

    /// The requests seen between two cumulative snapshots.
    public static func - (lhs: VersionMetrics, rhs: VersionMetrics) -> VersionMetrics {
        var difference = VersionMetrics()
        difference.responsesByClass = zip(lhs.responsesByClass, rhs.responsesByClass).map { $0 >= $1 ? $0 - $1 : 0 }
        difference.connectionFailures = lhs.connectionFailures >= rhs.connectionFailures ? lhs.connectionFailures - rhs.connectionFailures : 0
        difference.latency = lhs.latency - rhs.latency
        return difference
    }
}
