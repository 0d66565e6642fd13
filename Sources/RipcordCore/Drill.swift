/// What a rollback drill does to its candidate: a copy of the stable version whose traffic the router
/// itself corrupts, so any service can be drilled without changing it (`ripcord drill`).
public enum InjectedFault: Sendable, Hashable, Codable, CustomStringConvertible {
    /// This share of the candidate's requests is answered 503 by the router.
    case errors(percent: Int)
    /// Every candidate request waits this long in the router before it is sent on.
    case latency(milliseconds: Int)
    /// This share of the candidate's requests is cut off without an answer.
    case abort(percent: Int)
    /// The candidate's instances are killed (SIGKILL) once they get traffic.
    case crash

    public struct ParseError: Error, CustomStringConvertible {
        public let text: String
        public var description: String {
            "'\(text)' is not a fault: errors=PERCENT% (1 to 100), latency=+DURATION (e.g. +300ms, at most +60s), abort, abort=PERCENT%, or crash"
        }
    }

    /// `errors=50%`, `latency=+300ms`, `abort`, `abort=30%`, `crash`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        func percent(_ value: String) throws -> Int {
            guard value.hasSuffix("%"), let number = Int(value.dropLast()), (1...100).contains(number) else { throw ParseError(text: text) }
            return number
        }
        switch (parts.first, parts.count) {
        case ("errors", 2): self = .errors(percent: try percent(parts[1]))
        case ("abort", 1): self = .abort(percent: 100)
        case ("abort", 2): self = .abort(percent: try percent(parts[1]))
        case ("crash", 1): self = .crash
        case ("latency", 2):
            let value = parts[1].hasPrefix("+") ? String(parts[1].dropFirst()) : parts[1]
            guard let span = try? TimeSpan(parsing: value), span > .zero, span <= .seconds(60) else { throw ParseError(text: text) }
            self = .latency(milliseconds: Int(span.milliseconds))
        default: throw ParseError(text: text)
        }
    }

    public var description: String {
        switch self {
        case let .errors(percent): "errors=\(percent)%"
        case let .latency(milliseconds): "latency=+\(TimeSpan(milliseconds: Int64(milliseconds)))"
        case let .abort(percent): percent == 100 ? "abort" : "abort=\(percent)%"
        case .crash: "crash"
        }
    }

    /// Carried out by the router on the candidate's requests (a crash is the controller's doing).
    public var isRouterFault: Bool { self != .crash }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try InjectedFault(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A service's drill settings (`drill:` in ripcord.yaml).
public struct DrillSpec: Sendable, Equatable, Codable {
    /// A drill passes when traffic is back on the stable version within this long of its first request.
    public var maxTimeToRestore: TimeSpan
    /// What a drill injects unless told otherwise.
    public var fault: InjectedFault

    public static let defaultMaxTimeToRestore = TimeSpan.seconds(5)
    public static let defaultFault = InjectedFault.errors(percent: 50)

    public init(maxTimeToRestore: TimeSpan = defaultMaxTimeToRestore, fault: InjectedFault = defaultFault) {
        self.maxTimeToRestore = maxTimeToRestore
        self.fault = fault
    }
}

/// Whether a finished drill passed: Ripcord rolled the faulty candidate back by itself, traffic was
/// back within the budget, and the stable version failed no request meanwhile.
public struct DrillVerdict: Sendable, Equatable {
    public var passed: Bool
    public var reason: String

    public init(
        phase: RolloutPhase, trigger: Trigger?, timeToRestore: TimeSpan?, budget: TimeSpan, stableErrors: UInt64, fault: InjectedFault,
        analysed: Bool
    ) {
        switch (phase, trigger?.kind) {
        case (.promoted, _):
            passed = false
            reason =
                "the faulty candidate (\(fault)) was promoted: "
                + (analysed ? "the service's analysis did not catch it" : "the service has no analysis to catch it (add `analysis` to the service)")
        case (.rolledBack, .abort):
            passed = false
            reason = "a person aborted the drill before Ripcord caught the fault"
        case (.rolledBack, let kind?):
            if let timeToRestore {
                passed = timeToRestore <= budget && stableErrors == 0
                reason =
                    timeToRestore > budget
                    ? "rolled back by \(kind.rawValue), but traffic was back \(timeToRestore) after the first request: over the budget of \(budget)"
                    : stableErrors > 0
                        ? "rolled back by \(kind.rawValue) in \(timeToRestore), but the stable version answered \(stableErrors) errors meanwhile"
                        : "rolled back by \(kind.rawValue), traffic back \(timeToRestore) after the first request (budget \(budget))"
            } else {
                passed = false
                reason = "rolled back by \(kind.rawValue) before the candidate got any traffic: the fault was never put to the test"
            }
        default:
            passed = false
            reason = "the drill ended without a decision"
        }
    }
}

/// A drill that runs by itself (`ripcord drill SERVICE --schedule 7d`): every `every`, or as soon after
/// as no rollout of the service is in progress.
public struct DrillSchedule: Sendable, Equatable, Codable {
    public var service: String
    public var every: TimeSpan
    /// nil: the service's `drill.fault` at the time it runs.
    public var fault: InjectedFault?
    public var nextAt: Moment

    public init(service: String, every: TimeSpan, fault: InjectedFault?, nextAt: Moment) {
        self.service = service
        self.every = every
        self.fault = fault
        self.nextAt = nextAt
    }
}
