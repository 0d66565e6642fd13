@testable import RipcordCore
import Foundation
import RipcordTestSupport
import Testing

@Suite(.tags(.unit)) struct SemanticVersionTests {
    @Test(arguments: [
        "0.0.4", "1.2.3", "10.20.30", "1.1.2-prerelease+meta", "1.0.0-alpha.beta.1", "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay",
        "2.0.0-rc.1+build.123", "1.2.3----RC-SNAPSHOT.12.9.1--.12+788", "99999999999999999.0.0",
    ])
    func parsesValidVersions(_ text: String) throws {
        #expect(try SemanticVersion(parsing: text).description == text)
    }

    @Test(arguments: [
        "1", "1.2", "1.2.3-0123", "1.2.3-0123.0123", "01.1.1", "1.01.1", "1.1.01", "1.2.3.4", "+invalid", "-invalid",
        "1.2.3-", "1.2.3+", "1.2.3-+", "alpha", "1.2.3-alpha..1", "1.2.3-ü", "v1.2.3", "1.2.3 ", "99999999999999999999.0.0",
    ])
    func rejectsInvalidVersions(_ text: String) {
        #expect(throws: SemanticVersion.ParseError.self) { try SemanticVersion(parsing: text) }
    }

    @Test func ordersByPrecedenceAsTheSpecExample() throws {
        let ordered = [
            "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
            "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0",
        ].map { try! SemanticVersion(parsing: $0) }
        for (lower, higher) in zip(ordered, ordered.dropFirst()) {
            #expect(lower < higher, "\(lower) < \(higher)")
            #expect(!(higher < lower))
        }
        #expect(ordered.shuffled().sorted() == ordered)
    }

    @Test func buildMetadataDoesNotAffectPrecedence() throws {
        let a = try SemanticVersion(parsing: "1.0.0+build.1")
        let b = try SemanticVersion(parsing: "1.0.0+build.2")
        #expect(a == b)
        #expect(!(a < b) && !(b < a))
    }

    @Test func versionsAreAtMost128Characters() throws {
        let longest = "1.0.0-" + String(repeating: "a", count: 122)
        #expect(try SemanticVersion(parsing: longest).description == longest)
        #expect(throws: SemanticVersion.ParseError.self) { try SemanticVersion(parsing: longest + "a") }
    }

    @Test func serviceNamesAreDNSLabels() {
        for name in ["a", "checkout", "api-2", String(repeating: "a", count: 63)] { #expect(ServiceSpec.isValidName(name), "\(name)") }
        for name in ["", "-a", "a-", "Checkout", "a_b", "a.b", "é", String(repeating: "a", count: 64)] { #expect(!ServiceSpec.isValidName(name), "\(name)") }
    }
}

@Suite(.tags(.unit)) struct TimeSpanTests {
    @Test func parsesUnits() throws {
        #expect(try TimeSpan(parsing: "500ms").milliseconds == 500)
        #expect(try TimeSpan(parsing: "30s").milliseconds == 30_000)
        #expect(try TimeSpan(parsing: "5m").milliseconds == 300_000)
        #expect(try TimeSpan(parsing: "1h").milliseconds == 3_600_000)
        #expect(try TimeSpan(parsing: "1m30s").milliseconds == 90_000)
        #expect(try TimeSpan(parsing: "1.5s").milliseconds == 1500)
    }

    @Test(arguments: ["", "5", "s", "5x", "1s5", "-1s", "5 m"])
    func rejectsMalformed(_ text: String) {
        #expect(throws: TimeSpan.ParseError.self) { try TimeSpan(parsing: text) }
    }

    /// A duration is client input (API bodies, configuration): a huge one must be refused, not trap
    /// converting to milliseconds or later when a deadline is computed from it.
    @Test(arguments: ["99999999999999999999h", "87600h1ms", "9223372036854775807ms"])
    func rejectsMoreThanTenYears(_ text: String) {
        #expect(throws: TimeSpan.ParseError.self) { try TimeSpan(parsing: text) }
    }

    @Test func decodingRefusesNumbersOutsideTheRangeAndDeadlinesSaturate() throws {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([TimeSpan].self, from: Data("[9223372036854775807]".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([TimeSpan].self, from: Data("[-1]".utf8)) }
        #expect(try JSONDecoder().decode([TimeSpan].self, from: Data(#"[1500, "87600h"]"#.utf8)) == [.milliseconds(1500), .maximum])
        let late = Moment(millisecondsSinceEpoch: .max - 5) + .maximum
        #expect(late.millisecondsSinceEpoch == .max)
    }

    @Test func timestampsAreISO8601() {
        #expect(Timestamp.iso8601(0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(1_795_000_000_123) == "2026-11-18T11:06:40.123Z")
    }
}

@Suite(.tags(.unit)) struct MetricsTests {
    @Test func histogramQuantilesAreWithinABucket() {
        var histogram = LatencyHistogram()
        for value in 1...1000 { histogram.record(microseconds: UInt64(value * 1000)) }
        let p50 = histogram.quantileMilliseconds(0.5)!
        let p99 = histogram.quantileMilliseconds(0.99)!
        #expect(abs(p50 - 500) / 500 < 0.13)
        #expect(abs(p99 - 990) / 990 < 0.13)
        #expect(LatencyHistogram().quantileMilliseconds(0.5) == nil)
    }

    @Test func aHugeHistogramHandsOutAMillionValuesOfTheSameShape() {
        var counts = Array(repeating: UInt64(0), count: LatencyHistogram.bucketCount)
        let fast = LatencyHistogram.bucketIndex(microseconds: 1000)
        let slow = LatencyHistogram.bucketIndex(microseconds: 100_000)
        counts[fast] = 3 << 40
        counts[slow] = 1 << 40
        let values = LatencyHistogram(counts: counts).valuesMilliseconds
        #expect(UInt64(values.count) <= LatencyHistogram.maxValues + 1)
        #expect(values.count > 1_000_000)
        let slowShare = Double(values.filter { $0 > 50 }.count) / Double(values.count)
        #expect(abs(slowShare - 0.25) < 0.001)
        // Counters near the top of UInt64 sum without trapping.
        var metrics = VersionMetrics()
        metrics.responsesByClass[5] = .max
        metrics.connectionFailures = 2
        #expect(metrics.errors == 1, "wraps instead of trapping (reports are bounded far below this)")
    }

    @Test func bucketBoundsContainTheirValues() {
        for value: UInt64 in [0, 1, 7, 8, 9, 15, 16, 100, 1234, 99_999, 1_000_000, 123_456_789] {
            let index = LatencyHistogram.bucketIndex(microseconds: value)
            #expect(LatencyHistogram.upperBound(ofBucket: index) >= value)
            if index > 0 { #expect(LatencyHistogram.upperBound(ofBucket: index - 1) < value) }
        }
    }

    @Test func windowsSubtractCumulativeSnapshots() {
        var first = VersionMetrics()
        for _ in 0..<10 { first.recordResponse(status: 200, microseconds: 1000) }
        var second = first
        for _ in 0..<5 { second.recordResponse(status: 503, microseconds: 1000) }
        second.recordConnectionFailure()
        let window = second - first
        #expect(window.requests == 6)
        #expect(window.errors == 6)
        #expect(window.errorRate == 1)
        #expect(second.errorRate == 6.0 / 16.0)
    }

    @Test func backendSplitKeepsExactRatios() throws {
        let v1 = try SemanticVersion(parsing: "1.0.0")
        let v2 = try SemanticVersion(parsing: "2.0.0")
        let stable = [HostPort(host: "127.0.0.1", port: 1), HostPort(host: "127.0.0.1", port: 2), HostPort(host: "127.0.0.1", port: 3)]
        let candidate = [HostPort(host: "127.0.0.1", port: 4)]
        let backends = Backend.split(stable: stable, stableVersion: v1, candidate: candidate, candidateVersion: v2, candidateWeight: 10)
        let stableTotal = backends.filter { $0.role == .stable }.map(\.weight).reduce(0, +)
        let candidateTotal = backends.filter { $0.role == .candidate }.map(\.weight).reduce(0, +)
        #expect(Double(candidateTotal) / Double(stableTotal + candidateTotal) == 0.1)
        let noStable = Backend.split(stable: [], stableVersion: nil, candidate: candidate, candidateVersion: v2, candidateWeight: 0)
        #expect(noStable.map(\.weight) == [100])
    }

    @Test func baselineGetsTheCandidatesShareFromStable() throws {
        let v1 = try SemanticVersion(parsing: "1.0.0")
        let v2 = try SemanticVersion(parsing: "2.0.0")
        let hosts = (1...6).map { HostPort(host: "127.0.0.1", port: $0) }
        func shares(_ weight: Int) -> [InstanceRole: Double] {
            let backends = Backend.split(
                stable: Array(hosts[0..<3]), stableVersion: v1, candidate: Array(hosts[3..<5]), candidateVersion: v2,
                candidateWeight: weight, baseline: [hosts[5]])
            #expect(backends.filter { $0.role == .baseline }.allSatisfy { $0.version == v1 })
            let total = Double(backends.map(\.weight).reduce(0, +))
            return Dictionary(grouping: backends, by: \.role).mapValues { Double($0.map(\.weight).reduce(0, +)) / total }
        }
        #expect(shares(10) == [.stable: 0.8, .candidate: 0.1, .baseline: 0.1])
        // Past half, the baseline takes what is left and stable rests.
        #expect(shares(70) == [.stable: 0, .candidate: 0.7, .baseline: 0.3])
        // At 0 % (a paused or rolled-back canary) the baseline gets nothing either.
        #expect(shares(0) == [.stable: 1, .candidate: 0, .baseline: 0])
    }
}

@Suite(.tags(.unit)) struct PrometheusTextTests {
    @Test func rendersCountersAndACumulativeHistogram() {
        var metrics = VersionMetrics()
        metrics.recordResponse(status: 200, microseconds: 800)
        metrics.recordResponse(status: 200, microseconds: 30_000)
        metrics.recordResponse(status: 503, microseconds: 2_000_000)
        metrics.recordConnectionFailure()
        let text = PrometheusText.render([LabelledMetrics(service: "checkout", version: "1.2.0", role: "canary", metrics: metrics)])
        let labels = #"service="checkout",version="1.2.0",role="canary""#
        #expect(text.contains("ripcord_requests_total{\(labels),class=\"2xx\"} 2\n"))
        #expect(text.contains("ripcord_requests_total{\(labels),class=\"5xx\"} 1\n"))
        #expect(text.contains("ripcord_connection_failures_total{\(labels)} 1\n"))
        #expect(text.contains("ripcord_request_duration_seconds_bucket{\(labels),le=\"0.001\"} 1\n"))
        #expect(text.contains("ripcord_request_duration_seconds_bucket{\(labels),le=\"0.05\"} 2\n"))
        #expect(text.contains("ripcord_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} 3\n"))
        #expect(text.contains("ripcord_request_duration_seconds_sum{\(labels)} 2.0308\n"))
        #expect(text.contains("# TYPE ripcord_request_duration_seconds histogram\n"))
    }

    @Test func escapesLabelValues() {
        #expect(PrometheusText.escape(#"a"b\c"#) == #"a\"b\\c"#)
    }
}
