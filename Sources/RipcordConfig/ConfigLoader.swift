import Foundation
import RipcordCore
import RipcordJudges
import Yams

/// Loads `ripcord.yaml` into a `RipcordConfiguration`, reporting every problem with file, line and key.
public enum ConfigLoader {
    public static func load(file path: String) throws -> RipcordConfiguration {
        let text = try read(file: path)
        let directory = (URL(fileURLWithPath: path).deletingLastPathComponent().path)
        return try parse(text, file: path, baseDirectory: directory)
    }

    /// Parses configuration text. Relative paths (state directory, working directories) resolve
    /// against `baseDirectory`, the folder of the config file.
    public static func parse(_ text: String, file: String, baseDirectory: String) throws -> RipcordConfiguration {
        let top = try document(text, file: file).mapping()
        let (api, corsOrigins) =
            try top.optional("api") { node -> (HostPort, [String]) in
                let api = try node.mapping()
                let listen = try api.optional("listen") { try $0.hostPort() } ?? RipcordConfiguration.defaultAPI
                let origins = try api.optional("cors", readCORSOrigins) ?? []
                try api.finish(allowed: ["listen", "cors"])
                return (listen, origins)
            } ?? (RipcordConfiguration.defaultAPI, [])
        let stateDirectory = try top.optional("stateDirectory") { try $0.string() } ?? RipcordConfiguration.defaultStateDirectory
        let servicesNode = try top.required("services") { $0 }
        let services = try servicesNode.mapping().namedEntries().map { name, node in
            try service(named: name, node, baseDirectory: baseDirectory)
        }
        let notifications = try top.optional("notifications") { try $0.sequence().map { try notification($0, baseDirectory: baseDirectory) } } ?? []
        if let duplicate = Dictionary(grouping: notifications, by: \.name).first(where: { $0.value.count > 1 })?.key {
            throw top.value("notifications")!.error("two notifications are named '\(duplicate)'")
        }
        let traffic = try top.optional("traffic") { try trafficSpec($0, baseDirectory: baseDirectory) } ?? RipcordConfiguration.defaultTraffic
        let (router, routerMode) = try top.optional("router", routerSettings) ?? (RouterLimits(), .embedded)
        let store = try top.optional("store") { try storeSpec($0, routerMode: routerMode, baseDirectory: baseDirectory) } ?? .sqlite
        let highAvailability = try highAvailabilitySpec(top.value("ha"), store: store, storeNode: top.value("store"), api: api)
        try top.finish(allowed: ["api", "stateDirectory", "services", "notifications", "traffic", "router", "store", "ha"])
        guard !services.isEmpty else { throw servicesNode.error("declare at least one service") }
        try checkAddresses(api: api, services: services, servicesNode: servicesNode)
        try checkFixedPorts(traffic, routerMode: routerMode, services: services, trafficNode: top.value("traffic"), routerNode: top.value("router"))
        return RipcordConfiguration(
            api: api, stateDirectory: absolute(stateDirectory, base: baseDirectory), services: services,
            notifications: notifications, traffic: traffic, router: router, routerMode: routerMode, corsAllowedOrigins: corsOrigins,
            store: store, highAvailability: highAvailability)
    }

    /// `store: {postgres: URL | {url, passwordFile, sslmode, sslrootcert}}`; without it, SQLite in the state directory.
    private static func storeSpec(_ node: Located, routerMode: RouterMode, baseDirectory: String) throws -> StateStoreSpec {
        let map = try node.mapping()
        let database = try map.required("postgres") { try postgresDatabase($0, baseDirectory: baseDirectory) }
        try map.finish(allowed: ["postgres"])
        guard case let .postgres(url, passwordFile, sslMode, sslRootCert) = database else { throw node.error("store takes a postgres database") }
        // Controllers sharing a store take over from each other: a front door inside one would die with it.
        guard routerMode == .external else {
            throw node.error(
                "a shared store is for controllers that take over from each other, so the front doors must not live inside one: set router.mode: external and run `ripcord router` processes"
            )
        }
        return .postgres(PostgresConnectionSpec(url: url, passwordFile: passwordFile, sslMode: sslMode, sslRootCert: sslRootCert))
    }

    /// The host's name and the API's port, cut to a valid controller name.
    private static func defaultControllerName(port: Int) -> String {
        let host = ProcessInfo.processInfo.hostName.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "-" }
        return String(String(host).prefix(56)) + "-\(port)"
    }

    /// `ha: {name, advertiseURL, renewInterval, leaseDuration}`: how controllers sharing a PostgreSQL store elect
    /// their leader. Defaults apply when it is left out.
    private static func highAvailabilitySpec(_ node: Located?, store: StateStoreSpec, storeNode: Located?, api: HostPort) throws -> HighAvailabilitySpec? {
        guard case .postgres = store else {
            if let node { throw node.error("ha needs a store that controllers share: store.postgres") }
            return nil
        }
        let map = try node?.mapping()
        let name = try map?.optional("name") { node -> String in
            let text = try node.string()
            let allowed = text.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2E || byte == 0x2D || byte == 0x5F
            }
            guard (1...64).contains(text.utf8.count), allowed else { throw node.error("a controller name is 1 to 64 letters, digits, '.', '-' or '_'") }
            return text
        }
        let wildcard = api.host == "0.0.0.0" || api.host == "::"
        let advertised = try map?.optional("advertiseURL") { try $0.httpURL() }
        if advertised == nil && wildcard {
            throw (node ?? storeNode)!.error("api.listen binds every address: give ha.advertiseURL, the address the other controllers reach this one at")
        }
        let renewInterval =
            try map?.optional("renewInterval") { node -> TimeSpan in
                let span = try node.timeSpan()
                guard span >= .milliseconds(100) else { throw node.error("renewInterval must be at least 100ms") }
                return span
            } ?? HighAvailabilitySpec.defaultRenewInterval
        let leaseDuration =
            try map?.optional("leaseDuration") { node -> TimeSpan in
                let span = try node.timeSpan()
                // A leader must be able to miss a renewal without losing the lease to a hiccup.
                guard span.milliseconds >= 2 * renewInterval.milliseconds else {
                    throw node.error("leaseDuration must be at least twice renewInterval (\(renewInterval))")
                }
                return span
            } ?? HighAvailabilitySpec.defaultLeaseDuration
        if renewInterval.milliseconds * 2 > leaseDuration.milliseconds, let node = map?.value("renewInterval") {
            throw node.error("renewInterval must be at most half of leaseDuration (\(leaseDuration))")
        }
        try map?.finish(allowed: ["name", "advertiseURL", "renewInterval", "leaseDuration"])
        return HighAvailabilitySpec(
            name: name ?? defaultControllerName(port: api.port), advertiseURL: advertised ?? "http://\(api.host):\(api.port)",
            renewInterval: renewInterval, leaseDuration: leaseDuration)
    }

    /// `api.cors: {allowedOrigins: [...]}`: each an origin as browsers send it (scheme, host and
    /// optional port, no path), or `*` for any.
    private static func readCORSOrigins(_ node: Located) throws -> [String] {
        let map = try node.mapping()
        let origins =
            try map.optional("allowedOrigins") {
                try $0.sequence().map { item -> String in
                    let origin = try item.string()
                    guard origin == "*" || isOrigin(origin) else {
                        throw item.error("'\(origin)' is not an origin like https://app.example.com (scheme and host, optional port, no path) or *")
                    }
                    return origin
                }
            } ?? []
        try map.finish(allowed: ["allowedOrigins"])
        return origins
    }

    private static func isOrigin(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty,
            url.path.isEmpty, url.query == nil, url.fragment == nil, url.user == nil
        else { return false }
        return text == "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
    }

    private static func routerSettings(_ node: Located) throws -> (RouterLimits, RouterMode) {
        let map = try node.mapping()
        let mode =
            try map.optional("mode") { node -> RouterMode in
                let text = try node.string()
                guard let mode = RouterMode(rawValue: text) else {
                    throw node.error("unknown router mode '\(text)' (known: \(RouterMode.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return mode
            } ?? .embedded
        var limits = RouterLimits()
        func positive(_ key: String) throws -> TimeSpan? {
            try map.optional(key) { node in
                let span = try node.timeSpan()
                guard span.milliseconds > 0 else { throw node.error("\(key) must be longer than 0") }
                return span
            }
        }
        limits.headerTimeout = try positive("headerTimeout") ?? limits.headerTimeout
        limits.idleTimeout = try positive("idleTimeout") ?? limits.idleTimeout
        limits.bodyTimeout = try positive("bodyTimeout") ?? limits.bodyTimeout
        limits.maxConnections = try map.optional("maxConnections") { try $0.int(in: 1...1_000_000) } ?? limits.maxConnections
        limits.maxBodyBytes =
            try map.optional("maxBodyBytes") { node in
                let bytes = try node.byteSize()
                guard bytes > 0 else { throw node.error("maxBodyBytes must be more than 0") }
                return bytes
            } ?? limits.maxBodyBytes
        try map.finish(allowed: ["mode", "headerTimeout", "idleTimeout", "bodyTimeout", "maxConnections", "maxBodyBytes"])
        return (limits, mode)
    }

    private static func notification(_ node: Located, baseDirectory: String) throws -> NotificationSpec {
        let map = try node.mapping()
        let name = try map.required("name") { try $0.string() }
        let url = try map.required("url") { try $0.httpURL() }
        var spec = NotificationSpec(name: name, url: url)
        spec.format =
            try map.optional("format") { node -> NotificationSpec.Format in
                let text = try node.string()
                guard let format = NotificationSpec.Format(rawValue: text) else {
                    throw node.error("unknown format '\(text)' (known: \(NotificationSpec.Format.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return format
            } ?? spec.format
        spec.events =
            try map.optional("events") {
                try $0.sequence().map { node in
                    let kind = EventKind(rawValue: try node.string())
                    // A misspelt kind would subscribe to nothing, silently.
                    guard EventKind.all.contains(kind) else {
                        throw node.error("unknown event kind '\(kind)' (known: \(EventKind.all.sorted().map(\.rawValue).joined(separator: ", ")))")
                    }
                    return kind
                }
            } ?? spec.events
        spec.headers = try map.optional("headers") { try secretMap($0, baseDirectory: baseDirectory) } ?? [:]
        spec.timeout = try map.optional("timeout") { try $0.timeSpan() } ?? spec.timeout
        try map.finish(allowed: ["name", "url", "format", "events", "headers", "timeout"])
        return spec
    }

    private static func service(named name: String, _ node: Located, baseDirectory: String) throws -> ServiceSpec {
        guard ServiceSpec.isValidName(name) else {
            throw node.error("service name '\(name)' must be lowercase letters, digits and dashes")
        }
        let map = try node.mapping()
        let listen = try map.required("listen") { try $0.hostPort() }
        let driver = try map.optional("driver") { try driverSpec($0, baseDirectory: baseDirectory) } ?? ServiceSpec.defaultDriver
        let run = try processRun(map, driver: driver) { try runSpec($0, baseDirectory: baseDirectory) }
        let instances = try map.optional("instances") { try $0.int(in: 1...64) } ?? ServiceSpec.defaultInstances
        let health = try map.optional("healthCheck", healthCheck) ?? HealthCheckSpec()
        let startup = try map.optional("startupDeadline") { try $0.timeSpan() } ?? ServiceSpec.defaultStartupDeadline
        let strategy = try map.optional("strategy", strategy) ?? ServiceSpec.defaultStrategy
        let analysis = try map.optional("analysis", analysisSpec)
        if strategy.promotesOnTimeAlone(analysis: analysis), let located = map.value("strategy") {
            throw located.error(
                "a canary without `analysis` would be promoted on time alone, with no evidence the version is good: "
                    + "add `analysis` to the service, or write `unanalyzed: true` under `canary` to allow it")
        }
        let progress = try map.optional("progressDeadline") { try $0.timeSpan() } ?? strategy.proportionalProgressDeadline(analysis: analysis)
        let guardWindow = try map.optional("guardWindow") { try $0.timeSpan() } ?? ServiceSpec.defaultGuardWindow
        let hooks = try map.optional("hooks") { try $0.sequence().map { try hook($0, baseDirectory: baseDirectory) } } ?? []
        let migrations = try map.optional("migrations") { try migrationsSpec($0, baseDirectory: baseDirectory) }
        let flags = try map.optional("flags", declaredFlags) ?? []
        let owners = try map.optional("owners") { try $0.sequence().map(owner) } ?? []
        let drill = try map.optional("drill", drillSpec) ?? DrillSpec()
        if let duplicate = Dictionary(grouping: hooks, by: \.name).first(where: { $0.value.count > 1 })?.key {
            throw map.value("hooks")!.error("two hooks are named '\(duplicate)'")
        }
        try map.finish(allowed: [
            "listen", "run", "instances", "healthCheck", "startupDeadline", "progressDeadline", "strategy", "analysis",
            "guardWindow", "hooks", "migrations", "flags", "driver", "owners", "drill",
        ])
        return ServiceSpec(
            name: name, listen: listen, run: run, instances: instances, healthCheck: health,
            startupDeadline: startup, progressDeadline: progress, strategy: strategy, analysis: analysis,
            guardWindow: guardWindow, hooks: hooks, migrations: migrations, flags: flags, driver: driver, owners: owners, drill: drill)
    }

    /// `{ maxTimeToRestore, fault }`: how the service's rollback drills are judged, and what they inject.
    private static func drillSpec(_ node: Located) throws -> DrillSpec {
        let map = try node.mapping()
        var spec = DrillSpec()
        spec.maxTimeToRestore =
            try map.optional("maxTimeToRestore") { node in
                let span = try node.timeSpan()
                guard span > .zero else { throw node.error("maxTimeToRestore must be longer than 0s") }
                return span
            } ?? spec.maxTimeToRestore
        spec.fault =
            try map.optional("fault") { node in
                do { return try InjectedFault(parsing: try node.string()) } catch let error as InjectedFault.ParseError { throw node.error(error.description) }
            } ?? spec.fault
        try map.finish(allowed: ["maxTimeToRestore", "fault"])
        return spec
    }

    /// `{ name, contact }`: who answers for the service and how to reach them.
    private static func owner(_ node: Located) throws -> ServiceOwner {
        let map = try node.mapping()
        func text(_ key: String) throws -> String {
            try map.required(key) { node in
                let value = try node.string()
                guard !value.isEmpty, value.count <= 200, !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                    throw node.error("an owner's \(key) is 1 to 200 characters without control characters")
                }
                return value
            }
        }
        let owner = ServiceOwner(name: try text("name"), contact: try text("contact"))
        try map.finish(allowed: ["name", "contact"])
        return owner
    }

    /// `flags: [a, b]`, or entries `{name, environment}` for flags outside the default environment.
    static func declaredFlags(_ node: Located) throws -> [DeclaredFlag] {
        var seen = Set<DeclaredFlag>()
        return try node.sequence().map { entry in
            let flag: DeclaredFlag
            if case .scalar = entry.node {
                flag = DeclaredFlag(name: try flagName(entry))
            } else {
                let map = try entry.mapping()
                let name = try map.required("name", flagName)
                let environment =
                    try map.optional("environment") { node -> String in
                        let text = try node.string()
                        guard text.range(of: "^[A-Za-z0-9._-]{1,64}$", options: .regularExpression) != nil else {
                            throw node.error("an environment name is 1 to 64 letters, digits, '-', '_' or '.'")
                        }
                        return text
                    } ?? DeclaredFlag.defaultEnvironment
                try map.finish(allowed: ["name", "environment"])
                flag = DeclaredFlag(name: name, environment: environment)
            }
            guard seen.insert(flag).inserted else { throw entry.error("flag '\(flag.name)' (\(flag.environment)) is declared twice") }
            return flag
        }
    }

    private static func flagName(_ node: Located) throws -> String {
        let name = try node.string()
        guard !name.isEmpty, name.utf8.count <= 255, !name.contains("/") else {
            throw node.error("a flag name is 1 to 255 characters without '/'")
        }
        return name
    }

    private static func migrationsSpec(_ node: Located, baseDirectory: String) throws -> MigrationsSpec {
        let map = try node.mapping()
        let folder = absolute(try map.required("folder") { try $0.string() }, base: baseDirectory)
        let databases = map.keys.filter { ["sqlite", "postgres"].contains($0) }
        guard databases.count == 1 else { throw node.error("give exactly one database: sqlite (a file) or postgres (a URL)") }
        let database: MigrationsSpec.Database =
            if databases[0] == "sqlite" {
                .sqlite(path: absolute(try map.required("sqlite") { try $0.string() }, base: baseDirectory))
            } else {
                try map.required("postgres") { try postgresDatabase($0, baseDirectory: baseDirectory) }
            }
        let lockTimeout = try map.optional("lockTimeout") { try $0.timeSpan() } ?? MigrationsSpec.defaultLockTimeout
        try map.finish(allowed: ["folder", "sqlite", "postgres", "lockTimeout"])
        return MigrationsSpec(folder: folder, database: database, lockTimeout: lockTimeout)
    }

    /// `postgres: URL` (or a secret reference), or `postgres: {url, passwordFile, sslmode, sslrootcert}`.
    /// A written-out URL may not hold a password: revisions store the configuration.
    private static func postgresDatabase(_ node: Located, baseDirectory: String) throws -> MigrationsSpec.Database {
        func url(_ node: Located) throws -> SecretValue {
            let url = try secret(node, baseDirectory: baseDirectory)
            guard case let .literal(text) = url else { return url }
            guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else { throw node.error("the url must start with postgres://") }
            if URLComponents(string: text)?.password != nil {
                throw node.error(
                    "the URL holds a password, which would be stored with every revision: give it with passwordFile, "
                        + "PGPASSWORD or ~/.pgpass, or write the whole URL as ${ENV_NAME} or { file: PATH }")
            }
            return url
        }
        guard case .mapping = node.node, let map = try? node.mapping(), !map.keys.contains("file") else {
            return .postgres(url: try url(node))
        }
        let address = try map.required("url", url)
        let passwordFile = try map.optional("passwordFile") { absolute(try $0.string(), base: baseDirectory) }
        let sslMode = try map.optional("sslmode") { node -> PostgresSSLMode in
            let text = try node.string()
            guard let mode = PostgresSSLMode(rawValue: text) else {
                throw node.error("unknown sslmode '\(text)' (known: \(PostgresSSLMode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return mode
        }
        let sslRootCert = try map.optional("sslrootcert") { absolute(try $0.string(), base: baseDirectory) }
        try map.finish(allowed: ["url", "passwordFile", "sslmode", "sslrootcert"])
        return .postgres(url: address, passwordFile: passwordFile, sslMode: sslMode, sslRootCert: sslRootCert)
    }

    /// A value written out, as `${ENV_NAME}`, or as `{ file: PATH }` (relative to the configuration's folder).
    static func secret(_ node: Located, baseDirectory: String) throws -> SecretValue {
        if case .mapping = node.node {
            let map = try node.mapping()
            let path = try map.required("file") { absolute(try $0.string(), base: baseDirectory) }
            try map.finish(allowed: ["file"])
            return .file(path)
        }
        let text = try node.string()
        if let name = SecretValue.environmentReference(in: text) { return .environment(name) }
        if text.contains("${") {
            throw node.error("a reference is the whole value, written ${NAME} with letters, digits and _ (put a prefix such as 'Bearer ' in the variable)")
        }
        return .literal(text)
    }

    /// Header names to values, each of which may be a secret reference.
    private static func secretMap(_ node: Located, baseDirectory: String) throws -> [String: SecretValue] {
        try Dictionary(uniqueKeysWithValues: node.mapping().namedEntries().map { ($0.name, try secret($0.value, baseDirectory: baseDirectory)) })
    }

    private static func hook(_ node: Located, baseDirectory: String) throws -> HookSpec {
        let map = try node.mapping()
        let name = try map.required("name") { try $0.string() }
        let point = try map.required("at") { node -> HookPoint in
            let text = try node.string()
            guard let point = HookPoint(rawValue: text) else {
                throw node.error("unknown hook point '\(text)' (known: \(HookPoint.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return point
        }
        let actions = map.keys.filter { ["command", "http"].contains($0) }
        guard actions.count == 1 else { throw node.error("give exactly one of command or http") }
        let action: HookAction
        if actions[0] == "command" {
            action = .command(try map.required("command") { try $0.string() })
        } else {
            action = try map.required("http") { node in
                let settings = try node.mapping()
                let url = try settings.required("url") { try $0.httpURL() }
                let headers = try settings.optional("headers") { try secretMap($0, baseDirectory: baseDirectory) } ?? [:]
                try settings.finish(allowed: ["url", "headers"])
                return .http(url: url, headers: headers)
            }
        }
        let timeout = try map.optional("timeout") { try $0.timeSpan() } ?? HookSpec.defaultTimeout
        try map.finish(allowed: ["name", "at", "command", "http", "timeout"])
        return HookSpec(name: name, point: point, action: action, timeout: timeout)
    }

    private static func runSpec(_ node: Located, baseDirectory: String) throws -> RunSpec {
        let map = try node.mapping()
        let command = try map.required("command") { try $0.string() }
        if !command.contains("{port}") {
            throw map.value("command")!.error("the command must contain {port}: Ripcord picks each instance's port")
        }
        let directory = try map.optional("workingDirectory") { try $0.string() }
        let environment = try map.optional("environment") { try $0.stringMap() } ?? [:]
        try map.finish(allowed: ["command", "workingDirectory", "environment"])
        return RunSpec(command: command, workingDirectory: directory.map { absolute($0, base: baseDirectory) }, environment: environment)
    }

    private static func healthCheck(_ node: Located) throws -> HealthCheckSpec {
        let map = try node.mapping()
        var spec = HealthCheckSpec()
        if let path = try map.optional("path", { try $0.string() }) {
            guard path.hasPrefix("/") else { throw map.value("path")!.error("the path must start with /") }
            spec.path = path
        }
        spec.interval = try map.optional("interval") { try $0.timeSpan() } ?? spec.interval
        spec.timeout = try map.optional("timeout") { try $0.timeSpan() } ?? spec.timeout
        spec.healthyThreshold = try map.optional("healthyThreshold") { try $0.int(in: 1...100) } ?? spec.healthyThreshold
        spec.unhealthyThreshold = try map.optional("unhealthyThreshold") { try $0.int(in: 1...100) } ?? spec.unhealthyThreshold
        try map.finish(allowed: ["path", "interval", "timeout", "healthyThreshold", "unhealthyThreshold"])
        return spec
    }

    static func strategy(_ node: Located) throws -> Strategy {
        let map = try node.mapping()
        let choices = ["canary", "blueGreen", "preset"]
        let present = map.keys.filter(choices.contains)
        guard present.count == 1 else {
            throw node.error("choose exactly one of canary, blueGreen or preset")
        }
        let result: Strategy
        switch present[0] {
        case "canary":
            result = try map.required("canary") { node in
                let canary = try node.mapping()
                let steps = try canary.optional("steps") { try $0.sequence().map(step) } ?? []
                let unanalyzed = try canary.optional("unanalyzed") { try $0.bool() } ?? false
                // Weights only go up: a step back would hand the candidate's share back and call it progress.
                var highest = 0
                for (index, step) in steps.enumerated() {
                    guard case let .setWeight(weight) = step else { continue }
                    if weight < highest, let located = canary.value("steps") {
                        throw located.error("step \(index + 1) sets \(weight)% after \(highest)%: canary weights only increase")
                    }
                    highest = weight
                }
                try canary.finish(allowed: ["steps", "unanalyzed"])
                return .canary(CanarySpec(steps: steps, unanalyzed: unanalyzed))
            }
        case "blueGreen":
            result = try map.required("blueGreen") { node in
                let blueGreen = try node.mapping()
                let spec = BlueGreenSpec(
                    previewListen: try blueGreen.optional("previewListen") { try $0.hostPort() },
                    autoPromotionAfter: try blueGreen.optional("autoPromotionAfter") { try $0.timeSpan() },
                    scaleDownDelay: try blueGreen.optional("scaleDownDelay") { try $0.timeSpan() } ?? BlueGreenSpec.defaultScaleDownDelay)
                try blueGreen.finish(allowed: ["previewListen", "autoPromotionAfter", "scaleDownDelay"])
                return .blueGreen(spec)
            }
        default:
            result = try map.required("preset") { node in
                let name = try node.string()
                guard let preset = Strategy.preset(named: name) else {
                    throw node.error("unknown preset '\(name)' (known: \(Strategy.presetNames.joined(separator: ", ")))")
                }
                return preset
            }
        }
        try map.finish(allowed: choices)
        return result
    }

    private static func step(_ node: Located) throws -> CanaryStep {
        let map = try node.mapping()
        let kinds = ["setWeight", "pause", "analysis", "confirm"]
        guard map.keys.count == 1, let kind = map.keys.first, kinds.contains(kind) else {
            throw node.error("a step is exactly one of setWeight, pause, analysis or confirm")
        }
        switch kind {
        case "setWeight":
            return .setWeight(try map.required("setWeight") { try $0.int(in: 0...100) })
        case "pause":
            return try map.required("pause") { node in
                let pause = try node.mapping()
                let duration = try pause.optional("duration") { try $0.timeSpan() }
                try pause.finish(allowed: ["duration"])
                return .pause(duration)
            }
        case "confirm":
            return try map.required("confirm") { node in
                let confirm = try node.mapping()
                let message = try confirm.required("message") { try $0.string() }
                try confirm.finish(allowed: ["message"])
                return .confirm(message: message)
            }
        default:
            return try map.required("analysis") { node in
                let analysis = try node.mapping()
                let passes = try analysis.optional("passes") { try $0.int(in: 1...10_000) } ?? CanaryStep.defaultAnalysisPasses
                try analysis.finish(allowed: ["passes"])
                return .analysis(passes: passes)
            }
        }
    }

    static func analysisSpec(_ node: Located) throws -> AnalysisSpec {
        let map = try node.mapping()
        var spec = AnalysisSpec()
        spec.interval = try map.optional("interval") { try $0.timeSpan() } ?? spec.interval
        spec.minRequests = try map.optional("minRequests") { try $0.int(in: 1...1_000_000) } ?? spec.minRequests
        spec.failureLimit = try map.optional("failureLimit") { try $0.int(in: 0...1000) } ?? spec.failureLimit
        if let errorRate = map.value("maxErrorRate") { spec.maxErrorRate = try errorRate.ratio() }
        spec.maxLatency =
            try map.optional("maxLatency") { node in
                try node.mapping().namedEntries().map { label, value in
                    guard label.hasPrefix("p"), let percent = Double(label.dropFirst()), percent > 0, percent < 100 else {
                        throw value.error("'\(label)' is not a quantile (use p50, p95, p99, p99.9)")
                    }
                    return LatencyLimit(quantile: percent / 100, limit: try value.timeSpan())
                }.sorted { $0.quantile < $1.quantile }
            } ?? []
        let judges = ["threshold", "sequential", "canaryBaseline"]
        let judge =
            try map.optional("judge") { node -> String in
                let name = try node.string()
                guard judges.contains(name) else { throw node.error("unknown judge '\(name)' (known: \(judges.joined(separator: ", ")))") }
                return name
            } ?? "threshold"
        if let alpha = map.value("alpha") {
            spec.alpha = try alpha.ratio()
            guard spec.alpha > 0, spec.alpha < 0.5 else { throw alpha.error("alpha must be above 0 and below 50%") }
        }
        if let rate = map.value("expectedRequestsPerSecond") {
            guard let value = Double(try rate.string()), value > 0, value <= 10_000_000 else {
                throw rate.error("expectedRequestsPerSecond must be a number above 0")
            }
            spec.expectedRequestsPerSecond = value
        }
        let sequential = try map.optional("sequential") { node -> SequentialJudgeSpec in
            guard judge == "sequential" else { throw node.error("'sequential' settings need 'judge: sequential'") }
            let settings = try node.mapping()
            var sequential = SequentialJudgeSpec(alpha: spec.alpha)
            if let alpha = settings.value("alpha") {
                sequential.alpha = try alpha.ratio()
                guard sequential.alpha > 0, sequential.alpha < 0.5 else { throw alpha.error("alpha must be above 0 and below 50%") }
            }
            if let increase = settings.value("minErrorRateIncrease") { sequential.minErrorRateIncrease = try increase.ratio() }
            if let increase = settings.value("minLatencyIncrease") { sequential.minLatencyIncrease = try increase.ratio() }
            sequential.maxCanaryRequests = try settings.optional("maxCanaryRequests") { try $0.int(in: 10...100_000_000) } ?? sequential.maxCanaryRequests
            try settings.finish(allowed: ["alpha", "minErrorRateIncrease", "minLatencyIncrease", "maxCanaryRequests"])
            return sequential
        }
        let canaryBaseline = try map.optional("canaryBaseline") { node -> CanaryBaselineJudgeSpec in
            guard judge == "canaryBaseline" else { throw node.error("'canaryBaseline' settings need 'judge: canaryBaseline'") }
            return try canaryBaselineSpec(node)
        }
        switch judge {
        case "sequential": spec.judge = .sequential(sequential ?? SequentialJudgeSpec(alpha: spec.alpha))
        case "canaryBaseline":
            let settings = canaryBaseline ?? CanaryBaselineJudgeSpec()
            spec.judge = .canaryBaseline(settings)
            // Kayenta windows are judged on their own: each needs enough requests to catch a bad canary.
            if map.value("minRequests") == nil {
                spec.minRequests = JudgeDesign.canaryBaselineWindow(confidenceLevel: settings.confidenceLevel, tolerance: settings.errorRateTolerance)
            }
        default: break
        }
        // A canary-vs-baseline judge wants a baseline unless told to compare with stable.
        spec.baseline = try map.optional("baseline") { try $0.bool() } ?? (judge == "canaryBaseline")
        spec.minPassedWindows = try map.optional("minPassedWindows") { try $0.int(in: 1...1000) } ?? spec.minPassedWindows
        spec.onNoEvidence =
            try map.optional("onNoEvidence") { node -> NoEvidenceAction in
                let text = try node.string()
                guard let action = NoEvidenceAction(rawValue: text) else { throw node.error("'\(text)' is not rollback or pause") }
                return action
            } ?? spec.onNoEvidence
        spec.syntheticTraffic = try map.optional("syntheticTraffic", syntheticTraffic)
        spec.metrics = try map.optional("metrics") { try $0.sequence().map(metric) } ?? []
        if let duplicate = Dictionary(grouping: spec.metrics, by: \.name).first(where: { $0.value.count > 1 })?.key {
            throw map.value("metrics")!.error("two metrics are named '\(duplicate)'")
        }
        try map.finish(allowed: [
            "interval", "minRequests", "failureLimit", "maxErrorRate", "maxLatency", "judge", "sequential",
            "canaryBaseline", "baseline", "metrics", "minPassedWindows", "onNoEvidence", "syntheticTraffic",
            "alpha", "expectedRequestsPerSecond",
        ])
        return spec
    }

    /// `syntheticTraffic: { rps: 5, path: /checkout, method: GET, headers: { X-Probe: ripcord } }`.
    static func syntheticTraffic(_ node: Located) throws -> SyntheticTrafficSpec {
        let map = try node.mapping()
        var spec = SyntheticTrafficSpec()
        if let rps = map.value("rps") {
            guard let rate = Double(try rps.string()), rate > 0, rate <= 1000 else { throw rps.error("rps must be a number above 0 and at most 1000") }
            spec.requestsPerSecond = rate
        }
        if let path = map.value("path") {
            let text = try path.string()
            guard text.hasPrefix("/"), !text.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7f } == true }) else {
                throw path.error("path must start with / and hold no spaces or control characters")
            }
            spec.path = text
        }
        if let method = map.value("method") {
            let text = try method.string()
            guard ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"].contains(text) else { throw method.error("'\(text)' is not an HTTP method") }
            spec.method = text
        }
        spec.headers = try map.optional("headers") { try $0.stringMap() } ?? [:]
        try map.finish(allowed: ["rps", "path", "method", "headers"])
        return spec
    }

    private static func canaryBaselineSpec(_ node: Located) throws -> CanaryBaselineJudgeSpec {
        let settings = try node.mapping()
        var spec = CanaryBaselineJudgeSpec()
        if let confidence = settings.value("confidenceLevel") {
            spec.confidenceLevel = try confidence.ratio()
            guard spec.confidenceLevel >= 0.5, spec.confidenceLevel < 1 else { throw confidence.error("confidenceLevel must be at least 50% and below 100%") }
        }
        spec.passScore = try settings.optional("passScore") { Double(try $0.int(in: 0...100)) } ?? spec.passScore
        spec.marginalScore = try settings.optional("marginalScore") { Double(try $0.int(in: 0...100)) } ?? spec.marginalScore
        if spec.marginalScore > spec.passScore {
            throw (settings.value("marginalScore") ?? node).error("marginalScore \(Int(spec.marginalScore)) is above passScore \(Int(spec.passScore))")
        }
        if let tolerance = settings.value("errorRateTolerance") { spec.errorRateTolerance = try tolerance.ratio() }
        if let tolerance = settings.value("latencyTolerance") { spec.latencyTolerance = try tolerance.ratio() }
        try settings.finish(allowed: ["confidenceLevel", "passScore", "marginalScore", "errorRateTolerance", "latencyTolerance"])
        return spec
    }

    private static func metric(_ node: Located) throws -> MetricSpec {
        let map = try node.mapping()
        let name = try map.required("name") { try $0.string() }
        let providers = ["prometheus", "http", "command", "router"]
        let present = map.keys.filter(providers.contains)
        guard present.count == 1 else { throw node.error("give exactly one provider: prometheus, http, command or router") }
        let provider: MetricProviderSpec
        switch present[0] {
        case "prometheus":
            provider = try map.required("prometheus") { node in
                let settings = try node.mapping()
                let range = try settings.optional("range") { node -> PrometheusRange in
                    let range = try node.mapping()
                    let spec = PrometheusRange(
                        duration: try range.required("duration") { try $0.timeSpan() },
                        step: try range.optional("step") { try $0.timeSpan() } ?? PrometheusRange.defaultStep,
                        reduce: try range.optional("reduce") { node in
                            guard let reduction = PrometheusRange.Reduction(rawValue: try node.string()) else {
                                throw node.error("reduce is last, mean, min or max")
                            }
                            return reduction
                        } ?? PrometheusRange.defaultReduction)
                    try range.finish(allowed: ["duration", "step", "reduce"])
                    return spec
                }
                let spec = MetricProviderSpec.prometheus(
                    address: try settings.required("address") { try $0.string() },
                    query: try settings.required("query") { try $0.string() }, range: range)
                try settings.finish(allowed: ["address", "query", "range"])
                return spec
            }
        case "http":
            provider = try map.required("http") { node in
                let settings = try node.mapping()
                let headers = try settings.optional("headers") { try $0.stringMap() } ?? [:]
                let spec = MetricProviderSpec.http(
                    url: try settings.required("url") { try $0.string() },
                    path: try settings.required("path") { try $0.string() }, headers: headers)
                try settings.finish(allowed: ["url", "path", "headers"])
                return spec
            }
        case "command":
            provider = try map.required("command") { node in
                let settings = try node.mapping()
                let result =
                    try settings.optional("result") { node -> String in
                        let value = try node.string()
                        guard ["output", "exitStatus"].contains(value) else { throw node.error("result is 'output' (a number printed) or 'exitStatus'") }
                        return value
                    } ?? "output"
                let spec = MetricProviderSpec.command(command: try settings.required("run") { try $0.string() }, exitStatus: result == "exitStatus")
                try settings.finish(allowed: ["run", "result"])
                return spec
            }
        default:
            provider = try map.required("router") { node in
                let settings = try node.mapping()
                let measure = try settings.required("measure") { node -> String in
                    let value = try node.string()
                    let quantile = value.hasPrefix("p") && Double(value.dropFirst()).map { $0 > 0 && $0 < 100 } == true
                    guard ["errorRate", "requests"].contains(value) || quantile else {
                        throw node.error("measure is errorRate, requests or a latency quantile such as p99")
                    }
                    return value
                }
                try settings.finish(allowed: ["measure"])
                return .router(measure: measure)
            }
        }
        func condition(_ key: String) throws -> Condition? {
            try map.optional(key) { node in
                do { return try Condition(parsing: try node.string()) } catch let error as Condition.ParseError {
                    throw node.error(error.message)
                }
            }
        }
        var spec = MetricSpec(name: name, provider: provider)
        spec.interval = try map.optional("interval") { try $0.timeSpan() } ?? spec.interval
        spec.timeout = try map.optional("timeout") { try $0.timeSpan() } ?? spec.timeout
        spec.count = try map.optional("count") { try $0.int(in: 1...1_000_000) }
        spec.initialDelay = try map.optional("initialDelay") { try $0.timeSpan() } ?? spec.initialDelay
        spec.successCondition = try condition("successCondition")
        spec.failureCondition = try condition("failureCondition")
        spec.failureLimit = try map.optional("failureLimit") { try $0.int(in: 0...1000) } ?? spec.failureLimit
        spec.inconclusiveLimit = try map.optional("inconclusiveLimit") { try $0.int(in: 0...1000) } ?? spec.inconclusiveLimit
        spec.consecutiveErrorLimit = try map.optional("consecutiveErrorLimit") { try $0.int(in: 0...1000) } ?? spec.consecutiveErrorLimit
        spec.onInconclusive =
            try map.optional("onInconclusive") { node in
                guard let action = InconclusiveAction(rawValue: try node.string()) else { throw node.error("onInconclusive is pause or rollback") }
                return action
            } ?? spec.onInconclusive
        try map.finish(
            allowed: [
                "name", "interval", "timeout", "count", "initialDelay", "successCondition", "failureCondition",
                "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit", "onInconclusive",
            ] + providers)
        return spec
    }

    private static func checkAddresses(api: HostPort, services: [ServiceSpec], servicesNode: Located) throws {
        var seen: [Int: String] = [api.port: "api.listen"]
        for service in services {
            var doors = [("listen", service.listen)]
            if case let .blueGreen(blueGreen) = service.strategy, let preview = blueGreen.previewListen {
                doors.append(("strategy.blueGreen.previewListen", preview))
            }
            for (key, door) in doors where door.port != 0 {
                if let other = seen[door.port] {
                    throw ConfigError(
                        file: servicesNode.file, line: servicesNode.line, column: servicesNode.column,
                        key: "services.\(service.name).\(key)", message: "port \(door.port) is already used by \(other)")
                }
                seen[door.port] = "services.\(service.name).\(key)"
            }
        }
    }

    /// The root node of a YAML document, with syntax errors located.
    static func document(_ text: String, file: String) throws -> Located {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, line: 1, column: 1, key: "", message: "the file is empty")
            }
            return Located(node: node, path: "", file: file)
        } catch let error as YamlError {
            throw syntaxError(error, file: file)
        }
    }

    /// Reads a whole file for a loader, as a located error when it cannot.
    static func read(file path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, line: 0, column: 0, key: "", message: "cannot read the file: \(error.localizedDescription)")
        }
    }

    static func syntaxError(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _):
            let contextText = context.map { "\($0.text) " } ?? ""
            return ConfigError(file: file, line: mark.line, column: mark.column, key: "", message: "YAML syntax: \(contextText)\(problem)")
        case let .composer(context, problem, mark, _):
            let contextText = context.map { "\($0.text) " } ?? ""
            return ConfigError(file: file, line: mark.line, column: mark.column, key: "", message: "YAML: \(contextText)\(problem)")
        default:
            return ConfigError(file: file, line: 1, column: 1, key: "", message: "YAML: \(error)")
        }
    }

    static func absolute(_ path: String, base: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }
}
