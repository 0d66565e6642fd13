/// Smooth weighted round-robin, as nginx balances its upstreams: every pick adds each eligible
/// peer's weight to its running score, takes the peer with the highest score and subtracts the
/// total weight from it. Over a cycle of `sum(weights)` picks every peer is chosen exactly
/// `weight` times, and the picks are spread out (90/10 gives one candidate pick per ten, not ten
/// in a row).
///
/// A value type with no allocation per pick; one lives per event loop per service.
struct SmoothWeightedRoundRobin: Sendable, Equatable {
    private(set) var weights: [Int]
    private(set) var current: [Int]

    init(weights: [Int]) {
        self.weights = weights.map { max(0, $0) }
        self.current = Array(repeating: 0, count: weights.count)
    }

    /// Whether any peer has a positive weight.
    var hasEligiblePeer: Bool { weights.contains { $0 > 0 } }

    /// Picks the next peer, skipping peers whose bit is set in `excluded` (bit `i` = peer `i`;
    /// peers beyond 63 cannot be excluded). Returns `nil` when no peer is eligible.
    mutating func next(excluding excluded: UInt64 = 0) -> Int? {
        var total = 0
        var best = -1
        var bestScore = Int.min
        for index in weights.indices {
            let weight = weights[index]
            if weight == 0 { continue }
            if index < 64, excluded & (1 << UInt64(index)) != 0 { continue }
            current[index] &+= weight
            total &+= weight
            if current[index] > bestScore {
                best = index
                bestScore = current[index]
            }
        }
        guard best >= 0 else { return nil }
        current[best] &-= total
        return best
    }
}
