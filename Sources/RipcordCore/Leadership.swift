/// Controllers that share one store elect a leader: only the leader acts on rollouts (moves traffic,
/// starts and stops instances, records decisions); the others stand by, serve reads, and take over when
/// the leader's lease ends. The lease lives in the shared store (PostgreSQL's `leader_lease` row) and
/// its times are the database's, so the controllers' own clocks never need to agree.
public struct Lease: Sendable, Equatable, Codable {
    /// The controller that holds it (`ha.name`).
    public var holder: String
    /// Where that controller's API answers (`ha.advertiseURL`): followers send state-changing calls there.
    public var url: String
    /// Rises by one each time the lease changes hands: every write of the leader carries it, and the
    /// store refuses a write whose term is no longer the lease's (fencing).
    public var term: Int64
    /// When this term began, by the database's clock.
    public var since: Moment
    /// When the lease ends unless renewed, by the database's clock.
    public var expiresAt: Moment

    public init(holder: String, url: String, term: Int64, since: Moment, expiresAt: Moment) {
        self.holder = holder
        self.url = url
        self.term = term
        self.since = since
        self.expiresAt = expiresAt
    }
}

/// A claim's answer: the lease as it stands after the claim (the claimant's or another's), and the
/// database's clock when it answered.
public struct LeaseClaim: Sendable, Equatable {
    public var lease: Lease
    public var databaseNow: Moment

    public init(lease: Lease, databaseNow: Moment) {
        self.lease = lease
        self.databaseNow = databaseNow
    }
}

/// Where the lease is kept: one row every controller claims.
public protocol LeaseStore: Sendable {
    /// Takes the lease when it is free or has expired (a new term), renews it when `holder` holds it
    /// (same term, later expiry), and otherwise leaves it to its holder. Returns the lease as it stands after.
    func claimLease(holder: String, url: String, duration: TimeSpan) async throws -> LeaseClaim
    /// Ends the holder's lease at once (a controller stopping in order), so a follower need not wait it out.
    func releaseLease(holder: String, term: Int64) async throws
    func currentLease() async throws -> Lease?
}

/// The writes that act on rollouts carry the leader's term, and the store refuses them when that term is
/// no longer the lease's: a leader that was paused or cut off past its lease cannot record a decision.
public enum WriteFence: Sendable, Equatable {
    /// One controller owns the store (SQLite, or PostgreSQL without a second controller): no check.
    case none
    /// This controller stands by: it writes nothing that acts on a rollout.
    case standingBy
    /// This controller led as `holder` in `term`.
    case leader(holder: String, term: Int64)
}

/// A write refused because the controller that sent it no longer leads (or never did).
public struct StaleLeaderWrite: Error, CustomStringConvertible, Equatable {
    public var fence: WriteFence
    public var description: String {
        switch fence {
        case let .leader(holder, term): "refused a write of term \(term) from \(holder): the lease has passed on, this controller no longer leads"
        case .standingBy, .none: "refused a write from a controller that stands by: only the leader acts on rollouts"
        }
    }

    public init(fence: WriteFence) { self.fence = fence }
}

/// Decides when a controller leads, from its claims of the lease and its own clock; the election loop
/// (RipcordServer's `LeaderElection`) claims, feeds the answers in, and carries out what this decides.
///
/// Local times are read from a clock that only moves forward. A leader counts its lease from when it
/// *sent* its last successful claim, and gives up `safetyMargin` before that lease could end: the database
/// started the lease later than the claim left, so the leader stops acting before any follower can take over.
public struct LeadershipStateMachine: Sendable, Equatable {
    public struct Settings: Sendable, Equatable {
        public var renewInterval: TimeSpan
        public var leaseDuration: TimeSpan
        public var safetyMargin: TimeSpan

        public init(renewInterval: TimeSpan = .seconds(1), leaseDuration: TimeSpan = .seconds(5), safetyMargin: TimeSpan? = nil) {
            self.renewInterval = renewInterval
            self.leaseDuration = leaseDuration
            self.safetyMargin = safetyMargin ?? .milliseconds(leaseDuration.milliseconds / 10)
        }

        /// How long after sending a successful claim the leader may act.
        public var actingSpan: TimeSpan { .milliseconds(leaseDuration.milliseconds - safetyMargin.milliseconds) }
    }

    public enum Role: Sendable, Equatable {
        /// Standing by; `leader` is the lease as last seen (nil: nobody holds it, or not yet known).
        case following(leader: Lease?)
        /// Acting, until `actUntil` on the local clock unless a claim renews it.
        case leading(Lease, actUntil: Moment)
        /// Led and stopped: this process must act no more (it exits and starts again as a follower).
        case resigned(reason: String)
    }

    public enum Action: Sendable, Equatable {
        case nothing
        /// The lease is ours in a new term: fence writes with it, then start the controller.
        case lead(Lease)
        /// Stop acting at once; `reason` goes to the log.
        case stepDown(reason: String)
    }

    public let me: String
    public let settings: Settings
    public private(set) var role: Role = .following(leader: nil)

    public init(me: String, settings: Settings) {
        self.me = me
        self.settings = settings
    }

    /// Whether this controller may act at `now` (local clock).
    public func mayAct(at now: Moment) -> Bool {
        if case let .leading(_, actUntil) = role { return now < actUntil }
        return false
    }

    /// The lease as this controller last knew it (its own while it leads).
    public var knownLease: Lease? {
        switch role {
        case let .following(leader): leader
        case let .leading(lease, _): lease
        case .resigned: nil
        }
    }

    /// A claim sent at `sentAt` answered `claim`.
    public mutating func claimed(_ claim: LeaseClaim, sentAt: Moment) -> Action {
        let lease = claim.lease
        let ours = lease.holder == me
        let actUntil = sentAt + settings.actingSpan
        switch role {
        case .resigned:
            return .nothing
        case .following:
            guard ours else {
                role = .following(leader: lease.expiresAt > claim.databaseNow ? lease : nil)
                return .nothing
            }
            role = .leading(lease, actUntil: actUntil)
            return .lead(lease)
        case let .leading(current, until):
            if ours && lease.term == current.term {
                role = .leading(lease, actUntil: max(until, actUntil))
                return .nothing
            }
            // Ours in another term means it lapsed in between: what this process did since may be fenced out.
            let reason =
                ours
                ? "the lease lapsed and was taken again in term \(lease.term): term \(current.term) is over"
                : "\(lease.holder) holds the lease in term \(lease.term)"
            role = .resigned(reason: reason)
            return .stepDown(reason: reason)
        }
    }

    /// The local clock moved to `now`: a leader whose lease could not be renewed in time steps down.
    public mutating func tick(_ now: Moment) -> Action {
        guard case let .leading(lease, actUntil) = role, now >= actUntil else { return .nothing }
        let reason = "could not renew the lease of term \(lease.term) in time (no successful claim for \(settings.actingSpan))"
        role = .resigned(reason: reason)
        return .stepDown(reason: reason)
    }

    /// When to claim next, after a claim answered at `now` (local clock) with `claim` (nil: it failed).
    /// A leader renews every `renewInterval`; a follower tries again every `renewInterval`, or as soon as
    /// the holder's lease ends if that comes first, so a dead leader is replaced as early as allowed.
    public func nextClaim(after now: Moment, claim: LeaseClaim?) -> Moment {
        let regular = now + settings.renewInterval
        guard case .following = role, let claim, claim.lease.holder != me else { return regular }
        let untilExpiry = TimeSpan.milliseconds(max(0, claim.lease.expiresAt.millisecondsSinceEpoch - claim.databaseNow.millisecondsSinceEpoch) + 5)
        return min(regular, now + untilExpiry)
    }
}
