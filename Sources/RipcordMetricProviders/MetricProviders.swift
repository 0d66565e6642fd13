import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RipcordCore
import RipcordDrivers

/// Takes measurements from systems outside Ripcord: Prometheus, any JSON HTTP endpoint, a command.
/// Every measurement has a timeout; an error or an empty result is `.error` (inconclusive), never a value.
/// Measures one provider metric (the controller's seam; `ExternalMetrics` asks Prometheus, HTTP or a command).
public protocol MetricSource: Sendable {
    func measure(_ provider: MetricProviderSpec, timeout: TimeSpan) async -> MetricResult
}

public struct ExternalMetrics: MetricSource {
    private let client: HTTPClient

    public init(client: HTTPClient = .shared) { self.client = client }

    public func measure(_ provider: MetricProviderSpec, timeout: TimeSpan) async -> MetricResult {
        switch provider {
        case let .prometheus(address, query, range):
            return await prometheus(address: address, query: query, range: range, timeout: timeout)
        case let .http(url, path, headers):
            return await http(url: url, path: path, headers: headers, timeout: timeout)
        case let .command(command, exitStatus):
            return await run(command, exitStatus: exitStatus, timeout: timeout)
        case .router:
            return .error("router metrics are measured by the controller")
        }
    }

    // MARK: Prometheus

    func prometheus(address: String, query: String, range: PrometheusRange?, timeout: TimeSpan) async -> MetricResult {
        let base = address.hasSuffix("/") ? String(address.dropLast()) : address
        var components = URLComponents(string: base + (range == nil ? "/api/v1/query" : "/api/v1/query_range"))
        components?.queryItems = [URLQueryItem(name: "query", value: query)]
        if let range {
            let end = Date().timeIntervalSince1970
            components?.queryItems? += [
                URLQueryItem(name: "start", value: String(format: "%.3f", end - range.duration.seconds)),
                URLQueryItem(name: "end", value: String(format: "%.3f", end)),
                URLQueryItem(name: "step", value: String(format: "%.3f", max(0.001, range.step.seconds))),
            ]
        }
        // '+' is a literal in PromQL; URLComponents leaves it unescaped, which servers read as a space.
        guard let url = components?.url?.absoluteString.replacingOccurrences(of: "+", with: "%2B") else {
            return .error("invalid Prometheus address \(address)")
        }
        switch await fetchJSON(url, headers: [:], timeout: timeout) {
        case let .failure(message):
            return .error(message)
        case let .success(json):
            guard let root = json as? [String: Any], root["status"] as? String == "success", let data = root["data"] as? [String: Any] else {
                let message = (json as? [String: Any])?["error"] as? String ?? "unexpected answer"
                return .error("Prometheus query failed: \(message)")
            }
            switch data["resultType"] as? String {
            case "scalar":
                return Self.sampleValue(data["result"])
            case "vector":
                guard let first = (data["result"] as? [[String: Any]])?.first else { return .error("empty result for \(query)") }
                return Self.sampleValue(first["value"])
            case "matrix":
                guard let samples = (data["result"] as? [[String: Any]])?.first?["values"] as? [Any], !samples.isEmpty else {
                    return .error("empty result for \(query)")
                }
                let values = samples.compactMap { if case let .value(value) = Self.sampleValue($0) { value } else { nil } }
                guard let reduced = (range ?? PrometheusRange(duration: .zero, step: .zero, reduce: .last)).reduce(values) else {
                    return .error("no numeric samples in the range")
                }
                return .value(reduced)
            default:
                return .error("unsupported result type \(data["resultType"] ?? "none")")
            }
        }
    }

    /// A Prometheus sample is `[timestamp, "value"]`.
    static func sampleValue(_ sample: Any?) -> MetricResult {
        guard let pair = sample as? [Any], pair.count == 2, let text = pair[1] as? String, let value = Double(text) else {
            return .error("malformed sample")
        }
        return value.isNaN ? .error("the query returned NaN") : .value(value)
    }

    // MARK: HTTP

    func http(url: String, path: String, headers: [String: String], timeout: TimeSpan) async -> MetricResult {
        switch await fetchJSON(url, headers: headers, timeout: timeout) {
        case let .failure(message):
            return .error(message)
        case let .success(json):
            return Self.number(at: path, in: json)
        }
    }

    /// Follows a dotted path (`data.items.0.value`) to a number (or a numeric string, or a boolean as 0/1).
    static func number(at path: String, in json: Any) -> MetricResult {
        var current: Any = json
        for key in path.split(separator: ".").map(String.init) where !key.isEmpty {
            if let object = current as? [String: Any], let next = object[key] {
                current = next
            } else if let array = current as? [Any], let index = Int(key), array.indices.contains(index) {
                current = array[index]
            } else {
                return .error("no value at '\(path)' (stopped at '\(key)')")
            }
        }
        if let bool = current as? Bool, type(of: current) == type(of: true) { return .value(bool ? 1 : 0) }
        if let number = current as? NSNumber { return .value(number.doubleValue) }
        if let text = current as? String, let number = Double(text) { return .value(number) }
        return .error("the value at '\(path)' is not a number")
    }

    enum Fetched {
        case success(Any)
        case failure(String)
    }

    private func fetchJSON(_ url: String, headers: [String: String], timeout: TimeSpan) async -> Fetched {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        do {
            let response = try await client.execute(request, timeout: .milliseconds(timeout.milliseconds))
            let body = try await response.body.collect(upTo: 8 << 20)
            guard (200..<300).contains(Int(response.status.code)) || response.status.code == 400 || response.status.code == 422 else {
                return .failure("HTTP \(response.status.code) from \(url)")
            }
            return .success(try JSONSerialization.jsonObject(with: Data(body.readableBytesView), options: [.fragmentsAllowed]))
        } catch {
            return .failure("request to \(url) failed: \(error)")
        }
    }

    // MARK: Command

    /// Runs `command`: its exit status, or the number it printed last, is the measurement.
    func run(_ command: String, exitStatus: Bool, timeout: TimeSpan) async -> MetricResult {
        let outcome: CommandRunner.Outcome
        do { outcome = try await CommandRunner.run(command, timeout: timeout) } catch { return .error("\(error)") }
        switch outcome.ending {
        case .timedOut, .statusLost:
            return .error("'\(command)' \(outcome.describe(timeout: timeout))")
        case let .signalled(signal):
            return exitStatus ? .error("'\(command)' was killed by signal \(signal)") : .error("'\(command)' failed with status \(128 + signal)")
        case let .exited(code):
            if exitStatus { return .value(Double(code)) }
            guard code == 0 else { return .error("'\(command)' failed with status \(code)") }
        }
        let text = outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let last = text.split(separator: "\n").last, let value = Double(last.trimmingCharacters(in: .whitespaces)) else {
            return .error(text.isEmpty ? "'\(command)' printed nothing" : "'\(command)' did not print a number")
        }
        return .value(value)
    }
}
