/// Which traffic manager splits the services' traffic: the built-in router (the default) or an
/// external load balancer that Ripcord steers (`traffic:` in ripcord.yaml).
public enum TrafficSpec: Sendable, Equatable {
    case router
    case haproxy(HAProxySpec)
    case nginx(NginxSpec)

    /// As `traffic:` names it.
    public var kindName: String {
        switch self {
        case .router: "router"
        case .haproxy: "haproxy"
        case .nginx: "nginx"
        }
    }
}

/// HAProxy steered through its runtime API: each service is a backend of `slots` servers
/// (`server-template`) that Ripcord fills with addresses and weights, so nothing is reloaded.
public struct HAProxySpec: Sendable, Equatable {
    /// The admin socket (`stats socket PATH level admin`).
    public var socket: String
    /// Backends are named PREFIX + service (and PREFIX + service + `_preview` for the candidate-only backend).
    public var backendPrefix: String
    /// Servers per backend: the most instances a service can have at once (stable + candidate + baseline).
    public var slots: Int

    public init(socket: String, backendPrefix: String = "ripcord_", slots: Int = 10) {
        self.socket = socket
        self.backendPrefix = backendPrefix
        self.slots = slots
    }
}

/// nginx steered by rewriting an included upstream configuration and reloading it gracefully.
public struct NginxSpec: Sendable, Equatable {
    /// The file Ripcord owns and nginx includes in its `http {}` block.
    public var configFile: String
    /// The command that makes nginx load the new file without dropping connections.
    public var reload: String
    /// Where nginx writes the JSON access log Ripcord reads its per-version measurements from.
    public var accessLog: String

    public init(configFile: String, reload: String = "nginx -s reload", accessLog: String = "/var/log/nginx/ripcord-access.log") {
        self.configFile = configFile
        self.reload = reload
        self.accessLog = accessLog
    }
}

extension ServiceSpec {
    /// The preview door a blue-green service asks for.
    public var previewListen: HostPort? {
        if case let .blueGreen(blueGreen) = strategy { blueGreen.previewListen } else { nil }
    }
}
