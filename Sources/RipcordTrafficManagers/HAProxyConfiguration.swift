import Foundation
import RipcordCore

/// The names Ripcord and the HAProxy configuration agree on.
struct HAProxyNames {
    var prefix: String

    func backend(_ service: String) -> String { prefix + service }
    func previewBackend(_ service: String) -> String { prefix + service + "_preview" }
    func frontend(_ service: String) -> String { prefix + service + "_front" }
    func previewFrontend(_ service: String) -> String { prefix + service + "_preview_front" }
    /// `server-template s 1-N` names its servers s1 … sN.
    static func server(slot: Int) -> String { "s\(slot)" }

    static func slot(ofServer name: String) -> Int? {
        name.hasPrefix("s") ? Int(name.dropFirst()) : nil
    }
}

/// Renders the HAProxy configuration Ripcord steers: the admin socket, and per service a frontend
/// and two backends of empty server slots (weighted, and candidate-only for the pin header and the
/// preview door). Slots start in maintenance; Ripcord fills them through the runtime API.
public enum HAProxyConfigRenderer {
    public static func render(services: [TrafficService], spec: HAProxySpec) -> String {
        let names = HAProxyNames(prefix: spec.backendPrefix)
        var lines = [
            "# Rendered by `ripcord traffic render haproxy`. Ripcord fills the server slots (address, weight,",
            "# state) at run time through the admin socket: no reload when traffic moves.",
            "global",
            "    stats socket \(spec.socket) mode 600 level admin",
            "    stats timeout 30s",
            "",
            "defaults",
            "    mode http",
            "    timeout connect 2s",
            "    timeout client 60s",
            "    timeout server 60s",
            "    timeout http-keep-alive 10s",
            "    # A request that meets a backend which just went away is tried on another server.",
            "    retries 2",
            "    option redispatch 1",
            "    retry-on conn-failure empty-response",
        ]
        for service in services {
            let backend = names.backend(service.name), preview = names.previewBackend(service.name)
            lines += [
                "",
                "frontend \(names.frontend(service.name))",
                "    bind \(service.listen)",
                "    use_backend \(preview) if { req.hdr(x-ripcord-route) -m str candidate } { nbsrv(\(preview)) gt 0 }",
                "    default_backend \(backend)",
            ]
            if let previewListen = service.previewListen {
                lines += ["", "frontend \(names.previewFrontend(service.name))", "    bind \(previewListen)", "    default_backend \(preview)"]
            }
            for (name, weight) in [(backend, 0), (preview, 1)] {
                lines += [
                    "", "backend \(name)", "    balance roundrobin",
                    "    server-template s 1-\(spec.slots) 127.0.0.1:1 disabled weight \(weight)",
                ]
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Which backend occupies which server slot. A backend keeps its slot while it stays; a new one
/// takes the slot freed longest ago, so a slot whose old requests may still finish is reused last.
struct SlotTable: Sendable, Equatable {
    let capacity: Int
    private(set) var occupant: [Int: HostPort] = [:]
    /// Free slots, longest free first.
    private(set) var free: [Int]

    init(capacity: Int, occupied: [Int: HostPort] = [:]) {
        self.capacity = capacity
        self.occupant = occupied.filter { (1...capacity).contains($0.key) }
        self.free = (1...capacity).filter { occupied[$0] == nil }
    }

    struct Change: Equatable {
        /// Slots that get a (new) address.
        var assigned: [(slot: Int, address: HostPort)]
        /// Every wanted address's slot.
        var slots: [HostPort: Int]
        /// Slots that no longer have a backend.
        var released: [Int]

        static func == (lhs: Change, rhs: Change) -> Bool {
            lhs.assigned.map(\.slot) == rhs.assigned.map(\.slot) && lhs.assigned.map(\.address) == rhs.assigned.map(\.address)
                && lhs.slots == rhs.slots && lhs.released == rhs.released
        }
    }

    /// Makes the table hold exactly `addresses`, or fails (changing nothing) when they do not fit.
    mutating func assign(_ addresses: [HostPort]) -> Change? {
        let wanted = Set(addresses)
        var next = self
        let released = occupant.filter { !wanted.contains($0.value) }.map(\.key).sorted()
        for slot in released { next.occupant[slot] = nil }
        next.free += released
        var slots = Dictionary(uniqueKeysWithValues: next.occupant.map { ($0.value, $0.key) })
        var assigned: [(slot: Int, address: HostPort)] = []
        for address in addresses where slots[address] == nil {
            guard !next.free.isEmpty else { return nil }
            let slot = next.free.removeFirst()
            next.occupant[slot] = address
            slots[address] = slot
            assigned.append((slot, address))
        }
        self = next
        return Change(assigned: assigned, slots: slots, released: released)
    }
}

/// One server's cumulative counters from `show stat`.
struct ServerCounters: Sendable, Equatable {
    /// Responses by status class, index 1 = 1xx … 5 = 5xx.
    var responsesByClass: [UInt64] = Array(repeating: 0, count: 6)
    /// Connection and response errors: requests that got no answer from this server.
    var failures: UInt64 = 0
    /// Average response time (first byte) over the server's last 1024 requests, in milliseconds.
    var averageResponseMilliseconds: UInt64 = 0

    /// What happened since `earlier`, as measurements (every response at the current average: HAProxy keeps no histogram).
    func metrics(since earlier: ServerCounters) -> VersionMetrics {
        var metrics = VersionMetrics()
        for index in 1...5 {
            let count = responsesByClass[index] >= earlier.responsesByClass[index] ? responsesByClass[index] - earlier.responsesByClass[index] : 0
            metrics.responsesByClass[index] = count
            for _ in 0..<count { metrics.latency.record(microseconds: averageResponseMilliseconds * 1000) }
        }
        metrics.connectionFailures = failures >= earlier.failures ? failures - earlier.failures : 0
        return metrics
    }

    /// The larger of each counter: answers may arrive out of order, counters never go back.
    func merged(with other: ServerCounters) -> ServerCounters {
        ServerCounters(
            responsesByClass: zip(responsesByClass, other.responsesByClass).map { max($0, $1) },
            failures: max(failures, other.failures), averageResponseMilliseconds: other.averageResponseMilliseconds)
    }
}

/// Reads the runtime API's answers.
enum HAProxyRuntimeOutput {
    struct ServerKey: Hashable, Sendable {
        var backend: String
        var slot: Int
    }

    /// `show stat` CSV: the counters of every server slot (rows of other proxies and servers are skipped).
    static func serverCounters(csv: String) -> [ServerKey: ServerCounters] {
        rows(csv, headerPrefix: "# ", separator: ",").reduce(into: [:]) { result, row in
            guard let backend = row["pxname"], let server = row["svname"], let slot = HAProxyNames.slot(ofServer: server) else { return }
            var counters = ServerCounters()
            for index in 1...5 { counters.responsesByClass[index] = UInt64(row["hrsp_\(index)xx"] ?? "") ?? 0 }
            counters.failures = (UInt64(row["econ"] ?? "") ?? 0) + (UInt64(row["eresp"] ?? "") ?? 0)
            counters.averageResponseMilliseconds = UInt64(row["rtime"] ?? "") ?? 0
            result[ServerKey(backend: backend, slot: slot)] = counters
        }
    }

    /// `show servers state BACKEND`: the address of every slot that is up (`srv_op_state` 2).
    static func liveSlots(serversState text: String) -> (slots: Int, live: [Int: HostPort]) {
        var count = 0
        var live: [Int: HostPort] = [:]
        for row in rows(text, headerPrefix: "# ", separator: " ") {
            guard let slot = row["srv_name"].flatMap(HAProxyNames.slot(ofServer:)) else { continue }
            count += 1
            if row["srv_op_state"] == "2", let host = row["srv_addr"], let port = row["srv_port"].flatMap({ Int($0) }) {
                live[slot] = HostPort(host: host, port: port)
            }
        }
        return (count, live)
    }

    /// Splits a batch's output into one answer per command: an answer is its text and an empty
    /// line, so a command without output answers just "\n".
    static func answers(_ output: String) -> [String] {
        var answers: [String] = []
        var rest = Substring(output)
        while !rest.isEmpty {
            if rest.hasPrefix("\n") {
                answers.append("")
                rest = rest.dropFirst()
            } else if let end = rest.range(of: "\n\n") {
                answers.append(String(rest[..<end.lowerBound]))
                rest = rest[end.upperBound...]
            } else {
                answers.append(String(rest))
                rest = ""
            }
        }
        return answers
    }

    /// Whether the answer to one `set server` command says it worked (HAProxy answers in prose).
    static func isSuccess(_ answer: String) -> Bool {
        let text = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty || text.contains("changed from") || text.hasPrefix("no need to change")
    }

    private static func rows(_ text: String, headerPrefix: String, separator: Character) -> [[String: String]] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let headerIndex = lines.firstIndex(where: { $0.hasPrefix(headerPrefix) }) else { return [] }
        let header = lines[headerIndex].dropFirst(headerPrefix.count).split(separator: separator, omittingEmptySubsequences: separator == " ")
            .map(String.init)
        return lines[(headerIndex + 1)...].map { line in
            let fields = line.split(separator: separator, omittingEmptySubsequences: separator == " ").map(String.init)
            return Dictionary(zip(header, fields), uniquingKeysWith: { first, _ in first })
        }
    }
}
