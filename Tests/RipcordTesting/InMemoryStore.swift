import RipcordCore

/// The state store in memory, with SQLite's semantics where the controller relies on them: `save` is
/// atomic (rollout, events, stable revision on promotion, rejection on a rollback that blames the
/// version), a finished rollout or release never changes again, ids and event ids only grow.
/// `failNextSaves` makes the next saves throw, as a full disk would, and `holdNextSave` makes one slow; like GRDB, writes throw
/// `CancellationError` in a cancelled task.
public actor InMemoryStore: StateStore {
    private var revisionsByService: [String: [Revision]] = [:]
    private var stable: [String: Int] = [:]
    private var rolloutsByID: [Int64: Rollout] = [:]
    private var eventLog: [Event] = []
    private var instancesByID: [String: InstanceRecord] = [:]
    private var rejectionsByKey: [String: Rejection] = [:]
    private var releasesByID: [Int64: Release] = [:]
    private var lastRolloutID: Int64 = 0
    private var lastReleaseID: Int64 = 0
    private var failingSaves = 0
    private var instanceSavesBeforeFailing: Int?
    private var schedules: [String: DrillSchedule] = [:]
    private var holdingNextSave = false
    private var heldSave: CheckedContinuation<Void, Never>?
    public let eventFeed = EventFeed()

    public init() {}

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String { "the store is unavailable (test)" }
    }

    /// The next `count` rollout saves throw.
    public func failNextSaves(_ count: Int) { failingSaves = count }

    /// The next rollout save is recorded at once but answers only at `releaseHeldSave`, as a slow disk
    /// would: what readers see between the record and the answer.
    public func holdNextSave() { holdingNextSave = true }

    /// A save is recorded and waits for `releaseHeldSave`.
    public var isHoldingASave: Bool { heldSave != nil }

    public func releaseHeldSave() {
        heldSave?.resume()
        heldSave = nil
    }

    /// After `count` more instance saves, every one throws.
    public func failNextInstanceSaves(after count: Int) { instanceSavesBeforeFailing = count }

    // MARK: Revisions

    public func appendRevision(service: String, version: SemanticVersion, spec: ServiceSpec, note: String, at: Moment) throws -> Revision {
        try Task.checkCancellation()
        return unchecked(service: service, version: version, spec: spec, note: note, at: at)
    }

    private func unchecked(service: String, version: SemanticVersion, spec: ServiceSpec, note: String, at: Moment) -> Revision {
        let revision = Revision(
            service: service, number: (revisionsByService[service]?.count ?? 0) + 1, version: version, spec: spec,
            createdAt: at, note: note)
        revisionsByService[service, default: []].append(revision)
        return revision
    }

    public func revisions(service: String) -> [Revision] { revisionsByService[service] ?? [] }

    public func stableRevision(service: String) -> Revision? {
        guard let number = stable[service] else { return nil }
        return revisionsByService[service]?.first { $0.number == number }
    }

    /// Makes `version` the service's stable revision, as a finished first deploy would have.
    public func seedStable(service: String, version: SemanticVersion, spec: ServiceSpec, at: Moment) -> Revision {
        let revision = unchecked(service: service, version: version, spec: spec, note: "seed \(version)", at: at)
        stable[service] = revision.number
        return revision
    }

    // MARK: Rollouts and events

    public func createRollout(at: Moment, events: [EventDraft], _ make: @Sendable (Int64) -> Rollout) async throws -> Rollout {
        try Task.checkCancellation()
        lastRolloutID += 1
        let rollout = make(lastRolloutID)
        rolloutsByID[rollout.id] = rollout
        await append(events, service: rollout.service, rolloutID: rollout.id, at: at)
        return rollout
    }

    public func save(_ rollout: Rollout, events: [EventDraft], at: Moment) async throws -> [Event] {
        try Task.checkCancellation()
        if failingSaves > 0 {
            failingSaves -= 1
            throw Unavailable()
        }
        if rolloutsByID[rollout.id]?.isTerminal != true { rolloutsByID[rollout.id] = rollout }
        if rollout.phase == .promoted {
            stable[rollout.service] = rollout.revision
            rejectionsByKey[Self.key(rollout.service, rollout.candidateVersion)] = nil
        }
        if let rejection = rollout.rejection { rejectionsByKey[Self.key(rejection.service, rejection.version)] = rejection }
        let appended = await append(events, service: rollout.service, rolloutID: rollout.id, at: at)
        if holdingNextSave {
            holdingNextSave = false
            await withCheckedContinuation { heldSave = $0 }
        }
        return appended
    }

    public func rollout(id: Int64) -> Rollout? { rolloutsByID[id] }

    public func rollouts(service: String, limit: Int) -> [Rollout] {
        Array(rolloutsByID.values.filter { $0.service == service }.sorted { $0.id > $1.id }.prefix(limit))
    }

    public func activeRollouts() -> [Rollout] { rolloutsByID.values.filter { !$0.isTerminal }.sorted { $0.id < $1.id } }

    public func record(service: String, rolloutID: Int64?, events: [EventDraft], at: Moment) async throws -> [Event] {
        try Task.checkCancellation()
        return await append(events, service: service, rolloutID: rolloutID, at: at)
    }

    public func lastEventID() -> Int64 { eventLog.last?.id ?? 0 }

    public func events(kinds: Set<EventKind>, since: Moment, service: String?, limit: Int) -> [Event] {
        Array(eventLog.filter { kinds.contains($0.kind) && $0.at >= since && (service == nil || $0.service == service) }.prefix(limit))
    }

    public func events(service: String?, rolloutID: Int64?, afterID: Int64, limit: Int) -> [Event] {
        Array(
            eventLog.filter { $0.id > afterID && (service == nil || $0.service == service) && (rolloutID == nil || $0.rolloutID == rolloutID) }
                .prefix(limit))
    }

    @discardableResult
    private func append(_ drafts: [EventDraft], service: String, rolloutID: Int64?, at: Moment) async -> [Event] {
        let appended = drafts.map { draft in
            let event = Event(
                id: Int64(eventLog.count + 1), at: at, service: service, rolloutID: rolloutID, kind: draft.kind,
                message: draft.message, evidence: draft.evidence, actor: draft.actor)
            eventLog.append(event)
            return event
        }
        await eventFeed.publish(appended)
        return appended
    }

    // MARK: Rejections

    public func rejection(service: String, version: SemanticVersion) -> Rejection? { rejectionsByKey[Self.key(service, version)] }

    public func rejections(service: String) -> [Rejection] {
        rejectionsByKey.values.filter { $0.service == service }.sorted { $0.at < $1.at }
    }

    public func removeRejection(service: String, version: SemanticVersion) -> Bool {
        rejectionsByKey.removeValue(forKey: Self.key(service, version)) != nil
    }

    private static func key(_ service: String, _ version: SemanticVersion) -> String { "\(service)@\(version)" }

    // MARK: Instances

    public func saveInstance(_ instance: InstanceRecord) throws {
        try Task.checkCancellation()
        if let allowed = instanceSavesBeforeFailing {
            guard allowed > 0 else { throw Unavailable() }
            instanceSavesBeforeFailing = allowed - 1
        }
        instancesByID[instance.id] = instance
    }

    public func removeInstance(id: String) throws {
        try Task.checkCancellation()
        instancesByID[id] = nil
    }

    public func instances(service: String) -> [InstanceRecord] {
        instancesByID.values.filter { $0.service == service }.sorted { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }
    }

    // MARK: Releases

    public func createRelease(at: Moment, _ make: @Sendable (Int64) -> Release) -> Release {
        lastReleaseID += 1
        let release = make(lastReleaseID)
        releasesByID[release.id] = release
        return release
    }

    public func saveRelease(_ release: Release, at: Moment) {
        if releasesByID[release.id]?.phase.isTerminal != true { releasesByID[release.id] = release }
    }

    public func release(id: Int64) -> Release? { releasesByID[id] }

    public func releases(limit: Int) -> [Release] { Array(releasesByID.values.sorted { $0.id > $1.id }.prefix(limit)) }

    public func activeReleases() -> [Release] { releasesByID.values.filter { !$0.phase.isTerminal }.sorted { $0.id < $1.id } }

    // MARK: Drill schedules

    public func saveDrillSchedule(_ schedule: DrillSchedule) { schedules[schedule.service] = schedule }

    public func removeDrillSchedule(service: String) -> Bool { schedules.removeValue(forKey: service) != nil }

    public func drillSchedules() -> [DrillSchedule] { schedules.values.sorted { $0.service < $1.service } }
}
