import Logging
import RipcordCore
import RipcordInsights

/// The controller's own telemetry: every stored event is counted into `ControllerMetrics` and logged at
/// info (the decision log: steps, promotions, rollbacks with their trigger and evidence, flags turned
/// off, migrations undone). It listens to the store's event feed, so nothing recorded escapes it.
actor Telemetry {
    private let store: any RolloutStore
    private let logger: Logger
    private var metrics = ControllerMetrics()
    /// The timelines of recent rollouts; a rollout from before this process started is read back once.
    private var timelines: [Int64: RolloutTimeline] = [:]
    private var listening: Task<Void, Never>?
    private static let keptTimelines = 512

    init(store: any RolloutStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Subscribes before returning, so every event stored afterwards is counted.
    func start() async {
        guard listening == nil else { return }
        let batches = await store.eventFeed.subscribe(.everything)
        listening = Task {
            for await batch in batches {
                for event in batch { await self.observe(event) }
            }
        }
    }

    func stop() {
        listening?.cancel()
        listening = nil
    }

    func exposition() -> String { metrics.render() }

    func countFlagChange(environment: String, change: String) { metrics.countFlagChange(environment: environment, change: change) }

    private func observe(_ event: Event) async {
        log(event)
        var timeline: RolloutTimeline?
        if let id = event.rolloutID {
            timeline = await self.timeline(id, service: event.service, through: event)
        }
        metrics.observe(event, timeline: timeline)
    }

    private func timeline(_ id: Int64, service: String, through event: Event) async -> RolloutTimeline? {
        if var known = timelines[id] {
            known.apply(event)
            timelines[id] = known
            return known
        }
        // First heard of now: a new rollout starts empty, an older one is read back from its history.
        var timeline = RolloutTimeline(rolloutID: id, service: service, events: [])
        if event.kind == .rolloutStarted {
            timeline.apply(event)
        } else if let history = try? await store.events(service: nil, rolloutID: id, afterID: 0, limit: 5000) {
            timeline = RolloutTimeline(rolloutID: id, service: service, events: history.filter { $0.id <= event.id })
        }
        if timelines.count >= Self.keptTimelines, let oldest = timelines.keys.min() { timelines.removeValue(forKey: oldest) }
        timelines[id] = timeline
        return timeline
    }

    /// One line per decision; with `--log-format json` the evidence is an object a log pipeline can query.
    private func log(_ event: Event) {
        var metadata: Logger.Metadata = [
            "event.action": .string(event.kind.rawValue),
            "ripcord.service": .string(event.service),
            "ripcord.event_id": .stringConvertible(event.id),
        ]
        if let rollout = event.rolloutID { metadata["ripcord.rollout_id"] = .stringConvertible(rollout) }
        if let actor = event.actor { metadata["user.name"] = .string(actor) }
        if !event.evidence.isEmpty { metadata["ripcord.evidence"] = .dictionary(event.evidence.mapValues { .string($0) }) }
        logger.info("\(event.service): \(event.message)", metadata: metadata)
    }
}
