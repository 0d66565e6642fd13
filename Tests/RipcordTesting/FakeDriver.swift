import Foundation
import RipcordCore

/// Instances that exist only as records: `start` hands out the next port, `crash` ends one with an
/// exit status the controller's health monitor sees, `refuseToStart` makes a version's starts throw.
public actor FakeDriver: InstanceDriver {
    public private(set) var started: [InstanceRecord] = []
    public private(set) var stopped: [InstanceRecord] = []
    private var alive: Set<String> = []
    private var exits: [String: String] = [:]
    private var refused: Set<SemanticVersion> = []
    private nonisolated let ports = PortCounter()
    private let journal: Journal?

    public struct StartRefused: Error, CustomStringConvertible {
        public var version: SemanticVersion
        public var description: String { "\(version) refused to start (test)" }
    }

    public init(journal: Journal? = nil) { self.journal = journal }

    public func start(_ planned: InstanceRecord, service: ServiceSpec) async throws -> InstanceRecord {
        if refused.contains(planned.version) { throw StartRefused(version: planned.version) }
        if holdingStarts {
            startsHeld += 1
            await Self.untilCancelled()
        }
        var instance = planned
        (instance.pid, instance.starting) = (Int32(planned.port), false)
        started.append(instance)
        alive.insert(instance.id)
        journal?.append("start \(instance.id)")
        return instance
    }

    public func stop(_ instance: InstanceRecord, grace: TimeSpan) {
        if alive.remove(instance.id) != nil {
            stopped.append(instance)
            journal?.append("stop \(instance.id)")
        }
    }

    /// How many times the controller asked whether an instance runs.
    public private(set) var looks = 0

    public func isRunning(_ instance: InstanceRecord) -> Bool {
        looks += 1
        return alive.contains(instance.id)
    }

    /// How many times the controller asked about a batch of instances at once.
    public private(set) var batches = 0

    public func running(_ instances: [InstanceRecord]) -> [InstanceRecord] {
        batches += 1
        return instances.filter(isRunning)
    }

    public func exitStatus(of instance: InstanceRecord) -> String? { exits[instance.id] }

    public nonisolated func freePort() throws -> Int { ports.next() }

    /// A process left by a start the controller did not live to record: running, known only by its id.
    public func leaveRunning(_ planned: InstanceRecord) {
        alive.insert(planned.id)
    }

    /// Ends the instance as a crash would.
    public func crash(_ instance: InstanceRecord, status: String = "exited with status 1") {
        alive.remove(instance.id)
        exits[instance.id] = status
        journal?.append("crash \(instance.id)")
    }

    public func refuseToStart(_ version: SemanticVersion) { refused.insert(version) }

    private var holdingStarts = false
    /// How many starts are holding (`holdStartsUntilCancelled`).
    public private(set) var startsHeld = 0

    /// From now on a start waits until the task that asked for it is cancelled, then spawns: the process
    /// comes up just as a shutdown cancels its start.
    public func holdStartsUntilCancelled() { holdingStarts = true }

    private static func untilCancelled() async {
        let (cancelled, cancel) = AsyncStream.makeStream(of: Void.self)
        await withTaskCancellationHandler {
            for await _ in cancelled {}
        } onCancel: {
            cancel.finish()
        }
    }

    /// An instance left running by an earlier controller, for restart tests.
    public func adopt(_ instance: InstanceRecord) { alive.insert(instance.id) }

    /// The instances running now, of `version` if given.
    public func running(version: SemanticVersion? = nil) -> [InstanceRecord] {
        started.filter { alive.contains($0.id) && (version == nil || $0.version == version) }
    }
}

/// Ports from 20000 up; no socket is opened.
final class PortCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var last = 19_999

    func next() -> Int {
        lock.withLock {
            last += 1
            return last
        }
    }
}
