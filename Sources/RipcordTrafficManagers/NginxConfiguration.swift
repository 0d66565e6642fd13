import Foundation
import RipcordCore

/// What the rendered nginx file records about itself, so a restarted Ripcord rewrites it with
/// every service's backends (not only those it has set since) and keeps counting generations.
struct NginxRecordedState: Codable, Equatable {
    struct RecordedBackend: Codable, Equatable {
        var address: HostPort
        var version: SemanticVersion
        var role: InstanceRole
        var weight: Int
    }

    var generation: Int
    var backends: [String: [RecordedBackend]]

    init(generation: Int, backends: [String: [Backend]]) {
        self.generation = generation
        self.backends = backends.mapValues { $0.map { RecordedBackend(address: $0.address, version: $0.version, role: $0.role, weight: $0.weight) } }
    }

    var liveBackends: [String: [Backend]] {
        backends.mapValues { $0.map { Backend(address: $0.address, version: $0.version, role: $0.role, weight: $0.weight) } }
    }

    static let marker = "# ripcord-state: "

    /// The state recorded in a file rendered earlier, if it is one.
    static func read(from text: String) -> NginxRecordedState? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(marker) }) else { return nil }
        return try? JSONDecoder().decode(NginxRecordedState.self, from: Data(line.dropFirst(marker.count).utf8))
    }
}

/// Renders the file nginx includes in its `http {}` block: per service an upstream with the weighted
/// backends, one with the candidates (pin header `x-ripcord-route: candidate`, preview door), the
/// front door, and a loopback-only location answering the file's generation, so Ripcord can tell
/// when a reload is in force.
public enum NginxConfigRenderer {
    public static let generationPath = "/.ripcord/generation"
    /// nginx has no hard limit; this keeps rendered weights readable.
    static let maximumWeight = 1000

    public static func render(
        services: [TrafficService], backends: [String: [Backend]] = [:], generation: Int = 0,
        accessLog: String
    ) -> String {
        let state = NginxRecordedState(generation: generation, backends: backends)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var lines = [
            "# Rendered by Ripcord: it rewrites this file and reloads nginx when traffic moves. Include it in http {}.",
            NginxRecordedState.marker + String(decoding: (try? encoder.encode(state)) ?? Data(), as: UTF8.self),
            "log_format ripcord_json escape=json '{\"upstream\":\"$upstream_addr\",\"upstreamStatus\":\"$upstream_status\","
                + "\"headerTime\":\"$upstream_header_time\",\"status\":\"$status\"}';",
        ]
        for service in services {
            let name = identifier(service.name)
            let members = backends[service.name] ?? []
            let weighted = members.filter { $0.weight > 0 }
            let weights = Weights.reduced(weighted.map(\.weight), maximum: maximumWeight)
            let candidates = members.filter { $0.role == .candidate }
            lines += ["", "upstream \(name) {"]
            lines +=
                weighted.isEmpty
                ? ["    server 127.0.0.1:1 down; # no backend yet"]
                : zip(weighted, weights).map { "    server \($0.address) weight=\($1); # \($0.version) \($0.role.rawValue)" }
            lines.append("}")
            if !candidates.isEmpty {
                lines += ["upstream \(name)_candidate {"] + candidates.map { "    server \($0.address); # \($0.version) candidate" } + ["}"]
            }
            lines += ["map $http_x_ripcord_route $\(name)_upstream {", "    default \(name);"]
            if !candidates.isEmpty { lines.append("    candidate \(name)_candidate;") }
            lines +=
                [
                    "}",
                    "server {",
                    "    listen \(service.listen);",
                    "    access_log \(accessLog) ripcord_json;",
                    // A reload closes the old workers' idle keep-alive connections, and a request sent on one
                    // just then fails: each request gets its own connection instead.
                    "    keepalive_timeout 0;",
                    "    location = \(generationPath) { allow 127.0.0.1; allow ::1; deny all; access_log off; return 200 \"\(generation) $pid\"; }",
                    "    location / {",
                    "        proxy_pass http://$\(name)_upstream;",
                ] + proxySettings + ["    }", "}"]
            if let preview = service.previewListen {
                lines += ["server {", "    listen \(preview);", "    access_log \(accessLog) ripcord_json;", "    keepalive_timeout 0;", "    location / {"]
                lines += candidates.isEmpty ? ["        return 503 \"no candidate\\n\";"] : ["        proxy_pass http://\(name)_candidate;"] + proxySettings
                lines += ["    }", "}"]
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static let proxySettings = [
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_http_version 1.1;",
        "        proxy_set_header Connection \"\";",
        // A backend that just went away: try another (nothing was sent yet).
        "        proxy_next_upstream error timeout;",
    ]

    /// nginx names and variables take letters, digits and underscores.
    static func identifier(_ service: String) -> String { "ripcord_" + service.replacingOccurrences(of: "-", with: "_") }
}

/// One upstream attempt of a request, read from the JSON access log.
struct NginxUpstreamAttempt: Equatable {
    var address: HostPort
    /// The status and time to the response head, or nil when no response came back.
    var response: (status: Int, microseconds: UInt64)?

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.address == rhs.address && lhs.response?.status == rhs.response?.status && lhs.response?.microseconds == rhs.response?.microseconds
    }

    private struct Line: Decodable {
        var upstream: String
        var upstreamStatus: String
        var headerTime: String
    }

    /// The attempts of one log line, in order ("a, b" when nginx tried the next upstream; " : " after an internal redirect).
    static func parse(line: Substring) -> [NginxUpstreamAttempt] {
        guard let line = try? JSONDecoder().decode(Line.self, from: Data(line.utf8)) else { return [] }
        func split(_ text: String) -> [String] {
            text.replacingOccurrences(of: " : ", with: ", ").components(separatedBy: ", ").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let statuses = split(line.upstreamStatus), times = split(line.headerTime)
        return split(line.upstream).enumerated().compactMap { index, text in
            guard let address = try? HostPort(parsing: text) else { return nil }
            let status = index < statuses.count ? Int(statuses[index]) : nil
            // Bounded before the conversion: a log line is text, and UInt64(_:) traps on what it cannot hold.
            let seconds = index < times.count ? Double(times[index]).flatMap { (0..<1e6).contains($0) ? $0 : nil } : nil
            guard let status, let seconds else { return NginxUpstreamAttempt(address: address, response: nil) }
            return NginxUpstreamAttempt(address: address, response: (status, UInt64((seconds * 1_000_000).rounded())))
        }
    }
}
