/// One entry of a service's deploy history.
public struct Revision: Sendable, Codable, Equatable {
    public var service: String
    public var number: Int
    public var version: SemanticVersion
    /// The service configuration this revision was deployed with.
    public var spec: ServiceSpec
    public var createdAt: Moment
    public var note: String

    public init(service: String, number: Int, version: SemanticVersion, spec: ServiceSpec, createdAt: Moment, note: String) {
        self.service = service
        self.number = number
        self.version = version
        self.spec = spec
        self.createdAt = createdAt
        self.note = note
    }
}

/// An append-only record of something that happened, with its evidence.
public struct Event: Sendable, Codable, Equatable {
    public var id: Int64
    public var at: Moment
    public var service: String
    public var rolloutID: Int64?
    public var kind: EventKind
    public var message: String
    public var evidence: [String: String]
    /// The name of the token whose API call caused the event; nil when Ripcord decided on its own.
    public var actor: String?

    public init(
        id: Int64, at: Moment, service: String, rolloutID: Int64?, kind: EventKind, message: String, evidence: [String: String],
        actor: String? = nil
    ) {
        self.id = id
        self.at = at
        self.service = service
        self.rolloutID = rolloutID
        self.kind = kind
        self.message = message
        self.evidence = evidence
        self.actor = actor
    }
}

public enum InstanceRole: String, Sendable, Codable, Equatable {
    case stable, candidate
    /// A fresh instance of the stable version that gets the candidate's traffic share, so the two
    /// are compared equally warm and equally loaded (canary vs baseline).
    case baseline
}

/// One running process of one version, as recorded so a restarted controller can adopt it.
public struct InstanceRecord: Sendable, Codable, Equatable, Hashable {
    public var id: String
    public var service: String
    public var version: SemanticVersion
    public var host: String
    public var port: Int
    /// The process id; for the command driver what its start script reported, else 0.
    public var pid: Int32
    public var startedAt: Moment
    /// What the instance was started as; a restarted controller adopts it in the same role.
    public var role: InstanceRole
    /// How it was started, so it is stopped and checked the same way (also after a restart).
    public var driver: DriverSpec
    /// What the command driver's start script reported to identify the instance (a unit, an allocation…).
    public var handle: String?
    /// Saved before the driver is asked to start it, and still so if the controller died before the start's
    /// outcome was saved: a restarted controller stops whatever such a record may have left running.
    public var starting: Bool

    public init(
        id: String, service: String, version: SemanticVersion, host: String, port: Int, pid: Int32, startedAt: Moment,
        role: InstanceRole = .stable, driver: DriverSpec = .process, handle: String? = nil, starting: Bool = false
    ) {
        self.id = id
        self.service = service
        self.version = version
        self.host = host
        self.port = port
        self.pid = pid
        self.startedAt = startedAt
        self.role = role
        self.driver = driver
        self.handle = handle
        self.starting = starting
    }

    public var address: HostPort { HostPort(host: host, port: port) }

    public func withRole(_ role: InstanceRole) -> InstanceRecord {
        var record = self
        record.role = role
        return record
    }
}

/// A monitoring alert about a service (from Alertmanager's webhook).
public struct Alert: Sendable, Codable, Equatable {
    public var name: String
    public var firing: Bool
    public var labels: [String: String]
    public var annotations: [String: String]
    public var startsAt: String?

    public init(name: String, firing: Bool, labels: [String: String], annotations: [String: String], startsAt: String?) {
        self.name = name
        self.firing = firing
        self.labels = labels
        self.annotations = annotations
        self.startsAt = startsAt
    }

    /// The alert as rollback evidence: its name, labels and annotations.
    public var evidence: [String: String] {
        var evidence = ["alert": name]
        for (key, value) in labels { evidence["label.\(key)"] = value }
        for (key, value) in annotations { evidence["annotation.\(key)"] = value }
        if let startsAt { evidence["startsAt"] = startsAt }
        return evidence
    }
}
