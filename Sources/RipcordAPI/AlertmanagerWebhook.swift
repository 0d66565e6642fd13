import RipcordCore

/// The body Alertmanager's `webhook_config` posts (payload version 4).
public struct AlertmanagerWebhook: Codable, Sendable {
    public struct Alert: Codable, Sendable {
        public var status: String
        public var labels: [String: String]
        public var annotations: [String: String]?
        public var startsAt: String?
        public var endsAt: String?
        public var fingerprint: String?
    }

    public var version: String?
    public var status: String?
    public var receiver: String?
    public var alerts: [Alert]

    /// The alerts in Ripcord's terms.
    public var ripcordAlerts: [RipcordCore.Alert] {
        alerts.map { alert in
            RipcordCore.Alert(
                name: alert.labels["alertname"] ?? "unnamed", firing: alert.status == "firing",
                labels: alert.labels, annotations: alert.annotations ?? [:], startsAt: alert.startsAt)
        }
    }
}
