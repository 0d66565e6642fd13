import RipcordCore

/// Chooses and describes the traffic manager a configuration asks for.
public enum TrafficManagers {
    /// The external manager `traffic:` names, or nil for the built-in router (the default).
    public static func external(for config: RipcordConfiguration) -> (any TrafficManager)? {
        switch config.traffic {
        case .router: return nil
        case let .haproxy(spec): return HAProxyTrafficManager(spec: spec)
        case let .nginx(spec): return NginxTrafficManager(spec: spec, services: config.services.map(TrafficService.init))
        }
    }

    public enum Kind: String, CaseIterable, Sendable {
        case haproxy, nginx
    }

    /// The initial load-balancer configuration for the configured services, with the settings of
    /// `traffic:` when it names this kind and the defaults otherwise.
    public static func initialConfiguration(_ kind: Kind, config: RipcordConfiguration) -> String {
        let services = config.services.map(TrafficService.init)
        switch (kind, config.traffic) {
        case let (.haproxy, .haproxy(spec)):
            return HAProxyConfigRenderer.render(services: services, spec: spec)
        case (.haproxy, _):
            return HAProxyConfigRenderer.render(services: services, spec: HAProxySpec(socket: "/run/haproxy/admin.sock"))
        case let (.nginx, .nginx(spec)):
            return NginxConfigRenderer.render(services: services, accessLog: spec.accessLog)
        case (.nginx, _):
            return NginxConfigRenderer.render(services: services, accessLog: NginxSpec(configFile: "").accessLog)
        }
    }
}
