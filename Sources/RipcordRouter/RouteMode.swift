/// How a request chooses among a service's backends.
enum RouteMode: Sendable, Equatable {
    /// Weighted split between stable and candidate backends.
    case weighted
    /// Candidate backends only, weights ignored (pin header, preview door).
    case candidate
    /// Stable backends only, weights ignored.
    case stable
}
