import Foundation
import NIOConcurrencyHelpers
import RipcordCore
import RipcordFlags

/// One environment's flags as served: the state, its compiled evaluator and its encoded
/// `/api/client/features` body. Immutable; replaced as a whole on every change.
public final class FlagSnapshot: Sendable {
    public let environment: String
    public let revision: Int64
    public let state: ClientFeatures
    public let evaluator: FlagEvaluator
    /// The state as SDKs receive it (`FeatureDefinition.servedToSDKs`).
    public let clientState: ClientFeatures
    /// The `/api/client/features` response body.
    public let clientFeaturesJSON: Data

    init(environment: String, record: FlagStateRecord, hostname: String?) throws {
        self.environment = environment
        revision = record.revision
        state = ClientFeatures(version: 2, features: record.features, segments: record.segments)
        evaluator = FlagEvaluator(state: state, hostname: hostname)
        clientState = ClientFeatures(version: 2, features: record.features.map(\.servedToSDKs), segments: record.segments)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        clientFeaturesJSON = try encoder.encode(clientState)
    }

    /// A strong validator that changes whenever the environment's flags do.
    public var etag: String { "\"\(environment):\(revision)\"" }
}

/// One change pushed to streaming clients, as Unleash's delta events.
public struct FlagUpdate: Sendable {
    public var environment: String
    public var revision: Int64
    public var events: [DeltaEvent]
}

/// An Unleash delta event (the `events` of `unleash-connected` / `unleash-updated`).
public enum DeltaEvent: Sendable, Encodable {
    case hydration(eventId: Int64, features: [FeatureDefinition], segments: [Segment])
    case featureUpdated(eventId: Int64, feature: FeatureDefinition)
    case featureRemoved(eventId: Int64, featureName: String, project: String)
    case segmentUpdated(eventId: Int64, segment: Segment)
    case segmentRemoved(eventId: Int64, segmentId: Int)

    enum CodingKeys: String, CodingKey { case type, eventId, features, segments, feature, featureName, project, segment, segmentId }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .hydration(let id, let features, let segments):
            try c.encode("hydration", forKey: .type)
            try c.encode(id, forKey: .eventId)
            try c.encode(features, forKey: .features)
            try c.encode(segments, forKey: .segments)
        case .featureUpdated(let id, let feature):
            try c.encode("feature-updated", forKey: .type)
            try c.encode(id, forKey: .eventId)
            try c.encode(feature, forKey: .feature)
        case .featureRemoved(let id, let name, let project):
            try c.encode("feature-removed", forKey: .type)
            try c.encode(id, forKey: .eventId)
            try c.encode(name, forKey: .featureName)
            try c.encode(project, forKey: .project)
        case .segmentUpdated(let id, let segment):
            try c.encode("segment-updated", forKey: .type)
            try c.encode(id, forKey: .eventId)
            try c.encode(segment, forKey: .segment)
        case .segmentRemoved(let id, let segmentId):
            try c.encode("segment-removed", forKey: .type)
            try c.encode(id, forKey: .eventId)
            try c.encode(segmentId, forKey: .segmentId)
        }
    }
}

/// What a streaming subscriber receives: a change, or a reminder to send a keep-alive comment.
public enum FlagStreamMessage: Sendable {
    case update(FlagUpdate)
    case heartbeat
}

/// Flags per environment: reads served from an in-memory snapshot, changes validated, written
/// with their history in one transaction, then published to the snapshot and to subscribers.
public actor FlagService {
    public static let defaultEnvironment = "default"

    public nonisolated let store: any FlagStore
    private nonisolated let hostname: String?
    private nonisolated let snapshots = NIOLockedValueBox<[String: FlagSnapshot]>([:])
    private nonisolated let subscribers = NIOLockedValueBox<[UUID: Subscriber]>([:])
    private var writing = false
    private var waitingWriters: [CheckedContinuation<Void, Never>] = []
    /// Single-flag evaluations answered here (OFREP), per environment and flag, not yet stored.
    private nonisolated let evaluationCounts = NIOLockedValueBox<[String: [String: (yes: Int, no: Int)]]>([:])
    private var evaluationFlusher: Task<Void, Never>?

    /// - Parameter hostname: what `applicationHostname` strategies compare against (nil: this machine's).
    public init(store: any FlagStore, hostname: String? = nil) {
        self.store = store
        self.hostname = hostname
    }

    /// The environment's flags if they have been read already (nil: ask `snapshot(environment:)`).
    public nonisolated func cachedSnapshot(environment: String) -> FlagSnapshot? {
        snapshots.withLockedValue { $0[environment] }
    }

    /// The environment's current flags. Lock-free after the first read of an environment.
    public nonisolated func snapshot(environment: String) async throws -> FlagSnapshot {
        if let cached = cachedSnapshot(environment: environment) { return cached }
        return try await loadSnapshot(environment)
    }

    private func loadSnapshot(_ environment: String) async throws -> FlagSnapshot {
        if let cached = snapshots.withLockedValue({ $0[environment] }) { return cached }
        let snapshot = try FlagSnapshot(environment: environment, record: try await store.flagState(environment: environment), hostname: hostname)
        snapshots.withLockedValue { $0[environment] = snapshot }
        return snapshot
    }

    /// Changes an environment's flags. `edit` sees the current snapshot and returns the mutations
    /// (or throws to refuse). One change at a time, so `edit` never sees a stale state.
    @discardableResult
    public func change(
        environment: String, actor: String, reason: String? = nil,
        _ edit: @Sendable (FlagSnapshot) throws -> [FlagMutation]
    ) async throws -> [FlagChangeRecord] {
        try FlagValidation.environment(environment)
        await beginWrite()
        defer { endWrite() }
        let current = try await loadSnapshot(environment)
        let mutations = try edit(current)
        try FlagValidation.mutations(mutations)
        let changes = try await store.apply(mutations, environment: environment, actor: actor, reason: reason, at: Date())
        guard !changes.isEmpty else { return [] }
        let next = try FlagSnapshot(environment: environment, record: try await store.flagState(environment: environment), hostname: hostname)
        snapshots.withLockedValue { $0[environment] = next }
        publish(FlagUpdate(environment: environment, revision: next.revision, events: try changes.map(Self.deltaEvent)))
        return changes
    }

    /// Takes in what changed in the store through another controller (one sharing the store): each
    /// environment read so far gets its new state, and its streams the changes, as if made here.
    public func catchUp() async throws {
        await beginWrite()
        defer { endWrite() }
        for (environment, cached) in snapshots.withLockedValue({ $0 }) {
            let record = try await store.flagState(environment: environment)
            guard record.revision != cached.revision else { continue }
            let next = try FlagSnapshot(environment: environment, record: record, hostname: hostname)
            let changes = try await store.flagChanges(environment: environment, target: nil).filter { $0.id > cached.revision && $0.id <= record.revision }
            snapshots.withLockedValue { $0[environment] = next }
            publish(FlagUpdate(environment: environment, revision: next.revision, events: try changes.map(Self.deltaEvent)))
        }
    }

    private func beginWrite() async {
        guard writing else {
            writing = true
            return
        }
        await withCheckedContinuation { waitingWriters.append($0) }
    }

    private func endWrite() {
        if waitingWriters.isEmpty { writing = false } else { waitingWriters.removeFirst().resume() }
    }

    /// What an SDK polling `/api/client/delta` with `revision` (its last event id; nil: none) needs:
    /// nil when it is current, one `hydration` when it has nothing or a revision this environment
    /// never reached, else the events after its revision — each only as far as `filter` selects.
    public func delta(environment: String, after revision: Int64?, filter: ClientFeatureFilter) async throws -> (revision: Int64, events: [DeltaEvent])? {
        let snapshot = try await snapshot(environment: environment)
        if revision == snapshot.revision { return nil }
        guard let revision, revision > 0, revision < snapshot.revision else {
            return (
                snapshot.revision,
                [
                    .hydration(
                        eventId: snapshot.revision, features: snapshot.clientState.features.filter(filter.includes),
                        segments: snapshot.clientState.segments ?? [])
                ]
            )
        }
        let events = try await store.flagChanges(environment: environment, target: nil)
            .filter { $0.id > revision && $0.id <= snapshot.revision }
            .map(Self.deltaEvent).filter(filter.includes)
        return events.isEmpty ? nil : (snapshot.revision, events)
    }

    private static func deltaEvent(_ change: FlagChangeRecord) throws -> DeltaEvent {
        switch (change.target, change.after) {
        case (.flag(let name), nil):
            let before = try change.before.map { try JSONDecoder().decode(FeatureDefinition.self, from: Data($0.utf8)) }
            return .featureRemoved(eventId: change.id, featureName: name, project: before?.projectName ?? "default")
        case (.flag, let after?):
            return .featureUpdated(eventId: change.id, feature: try JSONDecoder().decode(FeatureDefinition.self, from: Data(after.utf8)).servedToSDKs)
        case (.segment(let id), nil):
            return .segmentRemoved(eventId: change.id, segmentId: id)
        case (.segment, let after?):
            return .segmentUpdated(eventId: change.id, segment: try JSONDecoder().decode(Segment.self, from: Data(after.utf8)))
        }
    }

    // MARK: Evaluations answered here

    /// The app name Ripcord's own evaluations are counted under in the exposure counts.
    public static let evaluatingApp = "ripcord-ofrep"

    /// Counts single-flag evaluations Ripcord answered (OFREP): OpenFeature providers send no metrics,
    /// so these counts are what makes their flags seen (`lastSeen`, staleness). Bulk and frontend-API
    /// answers evaluate every flag whether the app reads it or not, so they are not counted (browser
    /// SDKs report what they read through the frontend metrics route).
    public nonisolated func countEvaluations(_ evaluations: [(flag: String, enabled: Bool)], environment: String) {
        guard !evaluations.isEmpty else { return }
        evaluationCounts.withLockedValue { counts in
            for evaluation in evaluations {
                let count = counts[environment, default: [:]][evaluation.flag] ?? (0, 0)
                counts[environment, default: [:]][evaluation.flag] = evaluation.enabled ? (count.yes + 1, count.no) : (count.yes, count.no + 1)
            }
        }
    }

    /// Adds the counted evaluations to the stored exposure counts (as app `evaluatingApp`, seen `at`).
    public func flushEvaluations(at: Date = Date()) async throws {
        let counts = evaluationCounts.withLockedValue { counts in
            defer { counts = [:] }
            return counts
        }
        for (environment, flags) in counts.sorted(by: { $0.key < $1.key }) {
            try await store.recordExposures(
                flags.map { ExposureCount(appName: Self.evaluatingApp, flag: $0.key, yes: $0.value.yes, no: $0.value.no, variants: [:]) },
                environment: environment, at: at)
        }
    }

    /// Stores the counted evaluations every `interval` until `stopFlushingEvaluations`.
    public func startFlushingEvaluations(every interval: Duration = .seconds(10)) {
        guard evaluationFlusher == nil else { return }
        evaluationFlusher = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                try? await self?.flushEvaluations()
            }
        }
    }

    /// Stops the periodic flush and stores what is counted.
    public func stopFlushingEvaluations() async {
        evaluationFlusher?.cancel()
        evaluationFlusher = nil
        try? await flushEvaluations()
    }

    // MARK: Streaming

    private struct Subscriber {
        /// nil: every environment.
        var environment: String?
        /// Whose stream it is (the token's name), so its streams can be ended when it is revoked.
        var owner: String?
        var continuation: AsyncStream<FlagStreamMessage>.Continuation
    }

    /// A stream of the environment's changes (every environment's with nil) and heartbeats every `heartbeat`,
    /// until the consumer stops or the stream is finished (`finishStreams`).
    public nonisolated func subscribe(environment: String?, owner: String? = nil, heartbeat: Duration = .seconds(15)) -> AsyncStream<FlagStreamMessage> {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: FlagStreamMessage.self, bufferingPolicy: .bufferingNewest(1000))
        let beats = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: heartbeat)
                continuation.yield(.heartbeat)
            }
        }
        continuation.onTermination = { [subscribers] _ in
            beats.cancel()
            _ = subscribers.withLockedValue { $0.removeValue(forKey: id) }
        }
        subscribers.withLockedValue { $0[id] = Subscriber(environment: environment, owner: owner, continuation: continuation) }
        return stream
    }

    /// Ends every stream (on shutdown), or only those of `owner` (its token was revoked or expired).
    public nonisolated func finishStreams(owner: String? = nil) {
        let ending = subscribers.withLockedValue { $0.values.filter { owner == nil || $0.owner == owner }.map(\.continuation) }
        for continuation in ending { continuation.finish() }
    }

    private nonisolated func publish(_ update: FlagUpdate) {
        let targets = subscribers.withLockedValue {
            $0.values.filter { $0.environment == nil || $0.environment == update.environment }.map(\.continuation)
        }
        for continuation in targets { continuation.yield(.update(update)) }
    }
}

/// The rules every stored state must follow; checked before anything is written.
public enum FlagValidation {
    public static func environment(_ name: String) throws {
        let allowed = name.utf8.allSatisfy {
            $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || (48...57).contains($0)
                || (65...90).contains($0) || (97...122).contains($0)
        }
        guard !name.isEmpty, name.utf8.count <= 64, allowed else {
            throw Refusal(.invalid, "invalid_environment", "an environment name is 1 to 64 letters, digits, '-', '_' or '.' (got '\(name)')")
        }
    }

    public static func flagName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 255, !name.contains("/"), !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Refusal(.invalid, "invalid_flag_name", "a flag name is 1 to 255 characters without '/' or control characters")
        }
    }

    static func mutations(_ mutations: [FlagMutation]) throws {
        for mutation in mutations {
            switch mutation {
            case .putFlag(let feature):
                try flagName(feature.name)
                for strategy in feature.strategies where strategy.name.isEmpty {
                    throw Refusal(.invalid, "invalid_strategy", "\(feature.name): every strategy needs a name")
                }
                let variants = (feature.variants ?? []) + feature.strategies.flatMap { $0.variants ?? [] }
                for variant in variants where variant.weight < 0 || variant.weight > 1000 {
                    throw Refusal(.invalid, "invalid_variant", "\(feature.name): variant \(variant.name) has weight \(variant.weight); weights are 0 to 1000")
                }
            case .deleteFlag(let name): try flagName(name)
            case .putSegment, .deleteSegment: break
            }
        }
    }
}
