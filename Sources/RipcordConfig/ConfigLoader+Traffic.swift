import Foundation
import RipcordCore

extension ConfigLoader {
    static let trafficManagers = ["router", "haproxy", "nginx"]

    /// `traffic: { manager: router | haproxy | nginx, ... }`; the built-in router needs nothing more.
    static func trafficSpec(_ node: Located, baseDirectory: String) throws -> TrafficSpec {
        let map = try node.mapping()
        let manager =
            try map.optional("manager") { node -> String in
                let name = try node.string()
                guard trafficManagers.contains(name) else {
                    throw node.error("unknown traffic manager '\(name)' (known: \(trafficManagers.joined(separator: ", ")))")
                }
                return name
            } ?? "router"
        switch manager {
        case "haproxy":
            var spec = HAProxySpec(socket: absolute(try map.required("socket") { try $0.string() }, base: baseDirectory))
            spec.backendPrefix =
                try map.optional("backendPrefix") { node -> String in
                    let prefix = try node.string()
                    guard prefix.range(of: "^[A-Za-z0-9_.-]*$", options: .regularExpression) != nil else {
                        throw node.error("a backend prefix is letters, digits, '_', '.' and '-'")
                    }
                    return prefix
                } ?? spec.backendPrefix
            spec.slots = try map.optional("slots") { try $0.int(in: 1...256) } ?? spec.slots
            try map.finish(allowed: ["manager", "socket", "backendPrefix", "slots"])
            return .haproxy(spec)
        case "nginx":
            var spec = NginxSpec(configFile: absolute(try map.required("configFile") { try $0.string() }, base: baseDirectory))
            spec.reload = try map.optional("reload") { try $0.string() } ?? spec.reload
            spec.accessLog = try map.optional("accessLog") { absolute(try $0.string(), base: baseDirectory) } ?? spec.accessLog
            try map.finish(allowed: ["manager", "configFile", "reload", "accessLog"])
            return .nginx(spec)
        default:
            try map.finish(allowed: ["manager"])
            return .router
        }
    }

    /// An external load balancer's frontends are written into its configuration, so each door needs a fixed port.
    /// Doors another program binds (an external load balancer, standalone routers) need ports fixed in advance.
    static func checkFixedPorts(_ traffic: TrafficSpec, routerMode: RouterMode, services: [ServiceSpec], trafficNode: Located?, routerNode: Located?) throws {
        let (node, who): (Located?, String) =
            if traffic != .router { (trafficNode, "an external traffic manager") } else if routerMode == .external { (routerNode, "standalone routers") } else { (nil, "") }
        guard let node else { return }
        if traffic != .router, routerMode == .external, let routerNode {
            throw routerNode.error("router.mode: external needs the built-in router (traffic: router), not \(traffic.kindName)")
        }
        for service in services {
            let doors: [(key: String, door: HostPort?)] = [("listen", service.listen), ("strategy.blueGreen.previewListen", service.previewListen)]
            for (key, door) in doors where door?.port == 0 {
                throw node.error("services.\(service.name).\(key): with \(who) the port must be fixed, not 0")
            }
        }
    }
}
