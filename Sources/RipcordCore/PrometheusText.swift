import Foundation

/// One version's measurements with the labels Prometheus will see.
public struct LabelledMetrics: Sendable {
    public var service: String
    public var version: String
    /// `stable`, `canary` or `baseline`.
    public var role: String
    public var metrics: VersionMetrics

    public init(service: String, version: String, role: String, metrics: VersionMetrics) {
        self.service = service
        self.version = version
        self.role = role
        self.metrics = metrics
    }
}

/// Renders the router's measurements in the Prometheus text exposition format (version 0.0.4).
public enum PrometheusText {
    /// Histogram bucket bounds in seconds, in the spirit of Prometheus' defaults.
    public static let bucketBounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    public static func render(_ series: [LabelledMetrics]) -> String {
        var out = ""
        out += "# HELP ripcord_requests_total Requests the router proxied, by response status class.\n"
        out += "# TYPE ripcord_requests_total counter\n"
        for item in series {
            for classIndex in 1...5 {
                out += "ripcord_requests_total{\(labels(item)),class=\"\(classIndex)xx\"} \(item.metrics.responsesByClass[classIndex])\n"
            }
        }
        out += "# HELP ripcord_connection_failures_total Requests for which no response came back from an instance.\n"
        out += "# TYPE ripcord_connection_failures_total counter\n"
        for item in series {
            out += "ripcord_connection_failures_total{\(labels(item))} \(item.metrics.connectionFailures)\n"
        }
        out += "# HELP ripcord_request_duration_seconds Time from dispatch to the last byte of the response (a slow body counts).\n"
        out += "# TYPE ripcord_request_duration_seconds histogram\n"
        for item in series {
            let histogram = item.metrics.latency
            for bound in bucketBounds {
                let count = histogram.count(atMost: UInt64(bound * 1_000_000))
                out += "ripcord_request_duration_seconds_bucket{\(labels(item)),le=\"\(format(bound))\"} \(count)\n"
            }
            out += "ripcord_request_duration_seconds_bucket{\(labels(item)),le=\"+Inf\"} \(histogram.total)\n"
            out += "ripcord_request_duration_seconds_sum{\(labels(item))} \(format(Double(histogram.sumMicroseconds) / 1_000_000))\n"
            out += "ripcord_request_duration_seconds_count{\(labels(item))} \(histogram.total)\n"
        }
        return out
    }

    private static func labels(_ item: LabelledMetrics) -> String {
        "service=\"\(escape(item.service))\",version=\"\(escape(item.version))\",role=\"\(escape(item.role))\""
    }

    /// `{name="value",…}` from alternating names and values, values escaped.
    public static func labelSet(_ pairs: [String]) -> String {
        guard !pairs.isEmpty else { return "" }
        return "{" + stride(from: 0, to: pairs.count - 1, by: 2).map { "\(pairs[$0])=\"\(escape(pairs[$0 + 1]))\"" }.joined(separator: ",") + "}"
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    public static func number(_ value: Double) -> String { format(value) }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
