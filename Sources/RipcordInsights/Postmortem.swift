import RipcordCore

/// `ripcord postmortem ROLLOUT|RELEASE`: an incident report drafted from the events — what happened, what
/// it cost, how it was caught, what was undone and who acted — with the sections only the team can write
/// left open.
public struct Postmortem: Sendable, Codable, Equatable {
    /// "rollout 12 of checkout" or "release 3 (spring-sale)".
    public var subject: String
    public var summary: String
    public var members: [Member]
    public var timeline: [Entry]
    /// Everyone whose command shows in the events (token names); Ripcord's own decisions have none.
    public var actors: [String]
    public var rootCause: String
    public var followUps: [String]

    public struct Member: Sendable, Codable, Equatable {
        public var service: String
        public var rolloutID: Int64
        public var version: String?
        public var previousVersion: String?
        public var outcome: RolloutTimeline.Outcome
        public var trigger: String?
        /// The rollback event's message: the judge's words.
        public var reason: String?
        public var metric: String?
        /// The measurements behind the rollback decision.
        public var evidence: [String: String]
        public var startedAt: Moment?
        public var exposedAt: Moment?
        public var decidedAt: Moment?
        public var restoredAt: Moment?
        public var timeToDetectSeconds: Double?
        public var timeToRestoreSeconds: Double?
        /// The router's count of requests the failed version answered, and how many of them failed.
        public var requestsAnswered: UInt64?
        public var requestsFailed: UInt64?
        /// What Ripcord undid for this service, one line each.
        public var undone: [String]
    }

    public struct Entry: Sendable, Codable, Equatable {
        public var at: Moment
        public var service: String
        public var kind: EventKind
        public var message: String
        public var actor: String?
    }

    /// The kinds worth a line in the timeline (measurements that passed are left out: the judge's verdicts that mattered show).
    static func belongsInTimeline(_ event: Event) -> Bool {
        switch event.kind {
        case .analysisMeasurement, .analysisMetric: event.evidence["verdict"] == "fail"
        case .evidenceWaiting, .evidenceReceived, .guardMeasurement, .flagRolloutMeasurement: false
        default: true
        }
    }

    /// - Parameter rollouts: each member's events, oldest first (one rollout, or a release's members).
    public init(subject: String, rollouts: [(id: Int64, service: String, events: [Event])]) {
        self.subject = subject
        var members: [Member] = []
        var timeline: [Entry] = []
        var actors: [String] = []
        for rollout in rollouts {
            let story = RolloutTimeline(rolloutID: rollout.id, service: rollout.service, events: rollout.events)
            let rollback = rollout.events.last { $0.kind == .rolloutRolledBack }
            let restored = rollout.events.last { $0.kind == .trafficRestored }
            var undone: [String] = []
            if let restored { undone.append("traffic: \(restored.message)") }
            if story.outcome == .rolledBack { undone.append("instances: the \(story.candidate ?? "candidate") instances were stopped") }
            for event in rollout.events where event.kind == .flagDisabled || event.kind == .migrationUndone || event.kind == .flagDisableFailed {
                undone.append("\(event.kind == .migrationUndone ? "schema" : "flags"): \(event.message)")
            }
            members.append(
                Member(
                    service: rollout.service, rolloutID: rollout.id, version: story.candidate, previousVersion: story.stable, outcome: story.outcome,
                    trigger: story.trigger, reason: rollback?.message, metric: story.metric, evidence: rollback?.evidence ?? [:],
                    startedAt: story.startedAt, exposedAt: story.exposedAt, decidedAt: story.finishedAt, restoredAt: story.restoredAt,
                    timeToDetectSeconds: story.timeToDetect?.seconds, timeToRestoreSeconds: story.timeToRestore?.seconds,
                    requestsAnswered: restored?.evidence["candidateRequests"].flatMap { UInt64($0) },
                    requestsFailed: restored?.evidence["candidateErrors"].flatMap { UInt64($0) }, undone: undone))
            for event in rollout.events where Self.belongsInTimeline(event) {
                timeline.append(Entry(at: event.at, service: event.service, kind: event.kind, message: event.message, actor: event.actor))
            }
            for actor in story.actors where !actors.contains(actor) { actors.append(actor) }
        }
        self.members = members
        self.timeline = timeline.sorted { $0.at < $1.at }
        self.actors = actors
        summary = Self.summary(members)
        rootCause = ""
        followUps = []
    }

    private static func summary(_ members: [Member]) -> String {
        let failed = members.filter { $0.outcome == .rolledBack && $0.trigger != TriggerKind.releasePartnerFailed.rawValue && $0.trigger != nil }
        let cause = failed.first { $0.trigger != TriggerKind.abort.rawValue } ?? failed.first
        guard let cause else {
            let outcomes = members.map { "\($0.service) \($0.version ?? "?") \($0.outcome.rawValue)" }
            return outcomes.joined(separator: "; ")
        }
        var text = "\(cause.service) \(cause.version ?? "") was rolled back (\(cause.trigger ?? "unknown")"
        if let metric = cause.metric { text += ", \(metric)" }
        text += ")"
        if let detect = cause.timeToDetectSeconds { text += " \(Format.seconds(detect)) after users first got it" }
        if let restore = cause.timeToRestoreSeconds {
            text += "; all traffic was back on \(cause.previousVersion ?? "the stable version") \(Format.seconds(restore)) after exposure"
        }
        if let answered = cause.requestsAnswered { text += "; it answered \(answered) requests, \(cause.requestsFailed ?? 0) of them failed" }
        let partners = members.filter { $0.service != cause.service }.map(\.service)
        if !partners.isEmpty { text += ". Also undone with it: \(partners.joined(separator: ", "))" }
        return text + "."
    }
}

/// Numbers as the reports print them.
enum Format {
    static func seconds(_ value: Double) -> String {
        if value < 1 { return "\(Int((value * 1000).rounded())) ms" }
        if value < 120 { return "\(formatDecimal(value, digits: 1)) s" }
        if value < 7200 { return "\(formatDecimal(value / 60, digits: 1)) min" }
        return "\(formatDecimal(value / 3600, digits: 1)) h"
    }

    static func percent(_ ratio: Double?) -> String { ratio.map { "\(formatDecimal($0 * 100, digits: 1)) %" } ?? "–" }
}
