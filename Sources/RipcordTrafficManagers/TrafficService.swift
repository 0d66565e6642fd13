import RipcordCore

/// What an external load balancer needs to know of a service to render its front doors.
public struct TrafficService: Sendable, Equatable {
    public var name: String
    public var listen: HostPort
    public var previewListen: HostPort?

    public init(name: String, listen: HostPort, previewListen: HostPort? = nil) {
        self.name = name
        self.listen = listen
        self.previewListen = previewListen
    }

    public init(_ spec: ServiceSpec) {
        self.init(name: spec.name, listen: spec.listen, previewListen: spec.previewListen)
    }
}

/// Whose requests a series of measurements counts (a baseline runs the stable version but is measured apart).
struct MetricsSeries: Hashable, Sendable {
    var service: String
    var version: SemanticVersion
    var role: InstanceRole
}

enum Weights {
    /// The same ratios in the smallest whole numbers; above `maximum` they are scaled down
    /// proportionally (rounded, and a non-zero weight never becomes 0).
    static func reduced(_ weights: [Int], maximum: Int) -> [Int] {
        let divisor = weights.reduce(0) { greatestCommonDivisor($0, $1) }
        guard divisor > 0 else { return weights.map { _ in 0 } }
        let reduced = weights.map { $0 / divisor }
        let largest = reduced.max() ?? 0
        guard largest > maximum else { return reduced }
        return reduced.map { $0 == 0 ? 0 : max(1, Int((Double($0) * Double(maximum) / Double(largest)).rounded())) }
    }

    private static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int { b == 0 ? a : greatestCommonDivisor(b, a % b) }
}

/// Errors of the external traffic managers, each saying what to fix.
public struct TrafficManagerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
