import Logging
import NIOConcurrencyHelpers
import RipcordCore
import RipcordWire

/// Whether this controller may act now. The seams that act (`FencedTrafficManager`, `FencedDriver`) ask
/// before each act, and the answer turns false the moment the lease could end, whatever the election
/// loop is doing (a claim may hang on a database that went away).
public final class LeadershipGate: Sendable {
    private let actUntil = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    public init() {}

    public var mayAct: Bool { actUntil.withLockedValue { $0.map { ContinuousClock.now < $0 } ?? false } }

    func open(until instant: ContinuousClock.Instant) { actUntil.withLockedValue { $0 = instant } }
    func close() { actUntil.withLockedValue { $0 = nil } }
}

/// Refused because this controller does not lead (any more).
public struct NotLeading: Error, CustomStringConvertible {
    public var action: String
    public var description: String { "not the leader: \(action) refused (the leader's lease has ended or passed on)" }
}

/// The election loop of a controller that shares its store: claims the lease every `renewInterval`, feeds
/// the answers to `LeadershipStateMachine`, opens and closes the gate, and calls `lead` once when elected
/// and `stepDown` once when it must stop.
actor LeaderElection {
    private let leases: any LeaseStore
    private let spec: HighAvailabilitySpec
    let gate: LeadershipGate
    private var machine: LeadershipStateMachine
    private let origin = ContinuousClock.now
    private let logger: Logger
    private var failedClaims = 0

    init(leases: any LeaseStore, spec: HighAvailabilitySpec, gate: LeadershipGate, logger: Logger) {
        self.leases = leases
        self.spec = spec
        self.gate = gate
        self.logger = logger
        machine = LeadershipStateMachine(me: spec.name, settings: .init(renewInterval: spec.renewInterval, leaseDuration: spec.leaseDuration))
    }

    /// The lease as last seen, and whether it is ours.
    var status: LeadershipView {
        let lease = machine.knownLease
        let leading = machine.mayAct(at: localNow())
        return LeadershipView(
            me: spec.name, role: leading ? "leader" : "follower", leader: lease?.holder, leaderURL: lease?.url, term: lease?.term,
            since: lease.map { Timestamp.iso8601($0.since.millisecondsSinceEpoch) })
    }

    /// Runs until cancelled or until this controller steps down.
    func run(lead: @escaping @Sendable (Lease) async -> Void, stepDown: @escaping @Sendable (String) async -> Void) async {
        while !Task.isCancelled {
            let sentAt = localNow()
            // A leader's claim may not outlast its acting span: the step-down below must come on time.
            let claim = await claimWithin(min(spec.renewInterval, actingDeadline.map { $0 - sentAt } ?? spec.renewInterval))
            if let claim {
                failedClaims = 0
                let action = machine.claimed(claim, sentAt: sentAt)
                // The gate follows the machine's deadline, and opens before a new leader starts acting.
                if let deadline = actingDeadline { gate.open(until: instant(of: deadline)) }
                if case let .lead(lease) = action {
                    logger.notice("elected leader", metadata: ["term": "\(lease.term)", "controller": "\(spec.name)"])
                    await lead(lease)
                }
            }
            // A claim that found another holder, or a deadline passed: either way the machine has resigned.
            _ = machine.tick(localNow())
            if case let .resigned(reason) = machine.role {
                gate.close()
                await stepDown(reason)
                return
            }
            let next = min(machine.nextClaim(after: localNow(), claim: claim), actingDeadline ?? .init(millisecondsSinceEpoch: .max))
            try? await Task.sleep(until: instant(of: next), clock: .continuous)
        }
    }

    /// Until when this controller may act (nil while it does not lead).
    private var actingDeadline: Moment? {
        if case let .leading(_, actUntil) = machine.role { return actUntil }
        return nil
    }

    /// Ends our lease at once (a controller stopping in order), so a follower takes over within a renewal.
    func resign() async {
        guard case let .leading(lease, _) = machine.role else { return }
        gate.close()
        try? await leases.releaseLease(holder: spec.name, term: lease.term)
    }

    /// One claim, given up after `limit`: a database that stopped answering must not stall the loop.
    private func claimWithin(_ limit: TimeSpan) async -> LeaseClaim? {
        let (leases, spec) = (leases, spec)
        let answer = NIOLockedValueBox<CheckedContinuation<Result<LeaseClaim, any Error>, Never>?>(nil)
        let result: Result<LeaseClaim, any Error> = await withCheckedContinuation { continuation in
            answer.withLockedValue { $0 = continuation }
            Task {
                let result: Result<LeaseClaim, any Error>
                do { result = .success(try await leases.claimLease(holder: spec.name, url: spec.advertiseURL, duration: spec.leaseDuration)) } catch {
                    result = .failure(error)
                }
                answer.withLockedValue { $0.take() }?.resume(returning: result)
            }
            Task {
                try? await Task.sleep(for: limit.duration)
                answer.withLockedValue { $0.take() }?.resume(returning: .failure(ClaimTimedOut(limit: limit)))
            }
        }
        switch result {
        case let .success(claim): return claim
        case let .failure(error):
            failedClaims += 1
            // Once, then every tenth: a database away for minutes must not flood the log.
            if failedClaims == 1 || failedClaims % 10 == 0 {
                logger.warning("cannot claim the lease: \(error)", metadata: ["failedClaims": "\(failedClaims)"])
            }
            return nil
        }
    }

    private func localNow() -> Moment {
        let elapsed = ContinuousClock.now - origin
        return Moment(millisecondsSinceEpoch: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    private func instant(of moment: Moment) -> ContinuousClock.Instant { origin + .milliseconds(moment.millisecondsSinceEpoch) }
}

struct ClaimTimedOut: Error, CustomStringConvertible {
    var limit: TimeSpan
    var description: String { "the database did not answer within \(limit)" }
}
