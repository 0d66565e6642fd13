import RipcordCore

/// When the stable supervision looks at each service's instances: a value type that decides, while the
/// supervisor's loop (`superviseStable`) sleeps, asks the driver and repairs.
///
/// Looks due close together are taken together: the loop wakes at most once per `tick` (a thirtieth of
/// the shortest look interval, 100 ms to 1 s), so a look is at most that late and a thousand services
/// checked every 30 s cost one wake and one batch of 33 scripts a second.
struct StableLookSchedule {
    static let granularity: TimeSpan = .milliseconds(100)

    /// Each service's next look, and its interval as of its last look (so a reload's new interval counts from then).
    private var nextLook: [String: (at: Moment, interval: TimeSpan)] = [:]

    /// Follows exactly the services of `services`. A new one's first look comes at a random point of its
    /// interval: services loaded together are then looked at (and their check scripts run) spread over it,
    /// not all at once.
    mutating func follow<State>(
        _ services: [String: State], now: Moment, interval: (State) -> TimeSpan,
        using random: inout some RandomNumberGenerator
    ) {
        // Keys only, and a state read only for a new service: copying a thousand states a tick is what costs.
        for name in services.keys where nextLook[name] == nil {
            let interval = services[name].map(interval) ?? .seconds(1)
            nextLook[name] = (now + .seconds(interval.seconds * Double.random(in: 0...1, using: &random)), interval)
        }
        if nextLook.count != services.count { nextLook = nextLook.filter { services.index(forKey: $0.key) != nil } }
    }

    /// The services whose look has come at `now`.
    func due(at now: Moment) -> [String] {
        nextLook.compactMap { $0.value.at <= now ? $0.key : nil }
    }

    /// Records the look at `name` taken at `now`; `interval` is its interval from now on.
    mutating func looked(at name: String, now: Moment, interval: TimeSpan) {
        guard let due = nextLook[name]?.at else { return }
        // An interval on from when the look was due, not from when it was taken: a loop running late (a busy
        // machine) does not make every later look later too. From now if a repair held it back past that.
        let following = due + interval
        nextLook[name] = (following > now ? following : now + interval, interval)
    }

    /// How long the loop sleeps from `now`: until the next look is due, and at least a tick (new services
    /// wait at most a tick to be noticed).
    func sleep(from now: Moment) -> TimeSpan {
        let tick = Self.tick(shortestLookInterval: nextLook.values.lazy.map(\.interval).min())
        return max(tick, (nextLook.values.lazy.map(\.at).min() ?? now + tick) - now)
    }

    /// A thirtieth of the shortest look interval, between `granularity` and a second: how late a look may be.
    static func tick(shortestLookInterval: TimeSpan?) -> TimeSpan {
        guard let shortest = shortestLookInterval else { return granularity }
        return min(.seconds(1), max(granularity, .milliseconds(shortest.milliseconds / 30)))
    }
}
