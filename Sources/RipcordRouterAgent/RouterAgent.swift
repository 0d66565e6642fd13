import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import RipcordCore
import RipcordRouter
import RipcordWire

/// How a standalone router finds its controller and keeps its last table.
public struct RouterAgentSettings: Sendable {
    /// The controllers' APIs, e.g. `http://10.0.0.5:7070`: one, or every controller sharing a store (the
    /// router follows whichever leads).
    public var controllers: [String]
    /// An API token (from `--token-file`); never logged.
    public var token: String
    /// How the controller tells this router apart from the others (events, `GET /api/v1/routers`); `RouterName.isValid`.
    public var name: String
    /// Where the last applied table is kept, to serve it when started while the controller is away.
    public var stateFile: String?
    /// Serves every door on this host address instead of the configured one (an edge host's own address).
    public var address: String?
    public var threads: Int
    public var reportInterval: Duration = .milliseconds(500)
    /// Nothing from the controller for this long (it sends a heartbeat every 2 s): the stream is dead.
    public var silenceLimit: Duration = .seconds(6)

    public init(controllers: [String], token: String, name: String, stateFile: String?, address: String? = nil, threads: Int) {
        self.controllers = controllers.map(Self.base)
        self.token = token
        self.name = name
        self.stateFile = stateFile
        self.address = address
        self.threads = threads
    }

    static func base(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }
}

/// `ripcord router`: the data plane apart from the controller. It serves the front doors of the table
/// the controller streams to it, reports what it applied and measured, and goes on serving its last
/// table for as long as the controller is away (from its state file if it starts meanwhile),
/// reconnecting with backoff.
public actor RouterAgent {
    private let settings: RouterAgentSettings
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let client: HTTPClient
    /// Counters start again with every process: the controller keeps each boot's apart.
    private let boot = UUID().uuidString
    private var router: Router?
    private var limits: RouterLimits?
    /// The last table received, as the controller sent it (and as the state file keeps it).
    private var applied: FleetRoutes?
    /// What is served now, per service (doors as bound here).
    private var bound: [String: ServiceRoutes] = [:]
    /// What could not be applied, by service (a door it cannot bind): reported, and tried again every half second.
    private var serviceProblems: [String: String] = [:]
    /// The controller's limits differ from those the doors were opened with (they apply at a restart).
    private var limitsChanged = false
    private var applying: Task<Bool, Never>?
    /// The counters the last report read (nil before the first: this controller's count of this process starts from them).
    private var measured: [SeriesMeasurement]?
    /// The controller followed now (and reported to): the last one that led, as far as this router knows.
    private var following: String

    public init(settings: RouterAgentSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, settings.threads))
        // A standing-by controller's redirect says who leads: the router switches to it rather than follow blindly.
        client = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(2))))
        following = settings.controllers.first ?? "http://127.0.0.1:7070"
    }

    /// The generation of the table served now (nil before any).
    public var servedGeneration: UInt64? { applied?.generation }

    /// Serves until the task is cancelled: the state file's table first, then the controller's.
    public func run() async {
        if let table = loadStateFile() {
            logger.notice("serving the state file's table until the controller answers", metadata: ["generation": "\(table.generation)", "services": "\(table.services.count)"])
            await apply(.table(table), save: false)
        }
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await self.follow() }
            tasks.addTask { await self.reportEvery() }
            await tasks.waitForAll()
        }
    }

    /// Closes the doors once requests in flight finish (bounded by the drain timeout).
    public func shutdown() async {
        await router?.shutdown()
        try? await client.shutdown()
        try? await group.shutdownGracefully()
    }

    // MARK: - Following the controller

    private func follow() async {
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await streamRoutes()
                backoff = .milliseconds(100)
                logger.warning("the controller ended the routes stream: reconnecting", metadata: servingMetadata)
            } catch let missed as MissedChange {
                backoff = .milliseconds(100)
                logger.warning("\(missed): reconnecting for the whole table", metadata: servingMetadata)
            } catch is CancellationError {
                return
            } catch let refused as ControllerRefused where refused.leader != nil {
                // A controller standing by named the leader: follow it at once.
                following = refused.leader!
                logger.notice("\(refused.leader!) leads: following it", metadata: servingMetadata)
                continue
            } catch {
                let next = nextController()
                logger.warning("controller \(following) unreachable: \(error); trying \(next) in \(backoff)", metadata: servingMetadata)
                following = next
            }
            // Jitter: routers that lost the same controller do not all come back in the same millisecond.
            try? await Task.sleep(for: backoff + .milliseconds(Int64.random(in: 0...max(1, backoff.milliseconds / 4))))
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    /// The controller after the one followed now, in the order given (the same one when there is one).
    private func nextController() -> String {
        let all = settings.controllers
        guard let index = all.firstIndex(of: following) else { return all.first ?? following }
        return all[(index + 1) % all.count]
    }

    private var servingMetadata: Logger.Metadata {
        ["generation": "\(applied.map { String($0.generation) } ?? "none")", "services": "\(bound.count)"]
    }

    /// One routes stream, until it ends, goes silent or misses a change: the whole table first, then the
    /// changes, each applied in the order it came.
    private func streamRoutes() async throws {
        var request = HTTPClientRequest(url: "\(following)/api/v1/routes/watch?router=\(settings.name)&deltas=true")
        request.headers.add(name: "Authorization", value: "Bearer \(settings.token)")
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await client.execute(request, timeout: .hours(24 * 365))
        guard response.status == .ok else {
            let body = try? await response.body.collect(upTo: 64 * 1024)
            let leader = response.status == .temporaryRedirect ? response.headers.first(name: "Location").flatMap(Self.controllerBase) : nil
            throw ControllerRefused(status: response.status, body: body.map { String(buffer: $0) } ?? "", leader: leader)
        }
        logger.info("following the controller's routes", metadata: ["controller": "\(following)"])
        let lastHeard = NIOLockedValueBox(ContinuousClock.now)
        let silenceLimit = settings.silenceLimit
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                var parser = ServerSentEventParser()
                // A delta follows a table this stream sent: the same generation from another controller may name another table.
                var streamSentTable = false
                for try await chunk in response.body {
                    lastHeard.withLockedValue { $0 = .now }
                    for event in try parser.feed(chunk.readableBytesView) {
                        switch event.name {
                        case "routes":
                            await self.apply(.table(try JSONDecoder().decode(FleetRoutes.self, from: Data(event.data.utf8))), save: true)
                            streamSentTable = true
                        case "delta":
                            let delta = try JSONDecoder().decode(FleetRoutesDelta.self, from: Data(event.data.utf8))
                            guard streamSentTable, await self.apply(.delta(delta), save: true) else { throw MissedChange(delta: delta) }
                        default:
                            continue
                        }
                    }
                }
            }
            tasks.addTask {
                while true {
                    try await Task.sleep(for: .seconds(1))
                    if ContinuousClock.now - lastHeard.withLockedValue({ $0 }) > silenceLimit { throw ControllerSilent(limit: silenceLimit) }
                }
            }
            defer { tasks.cancelAll() }
            try await tasks.next()
        }
    }

    /// `http://host:port` of a redirect to `http://host:port/api/v1/...`.
    static func controllerBase(_ location: String) -> String? {
        guard let range = location.range(of: "/api/v1/") else { return nil }
        return String(location[..<range.lowerBound])
    }

    // MARK: - Applying a table

    /// What the controller sent: its whole table, or one change to the table served.
    private enum Update {
        case table(FleetRoutes)
        case delta(FleetRoutesDelta)
    }

    /// Applies updates one at a time, in the order they arrive. Returns false for a delta made from
    /// another generation than the one served (a change was missed), which changes nothing.
    @discardableResult
    private func apply(_ update: Update, save: Bool) async -> Bool {
        let previous = applying
        let task = Task {
            _ = await previous?.value
            return await self.applyNow(update, save: save)
        }
        applying = task
        guard await task.value else { return false }
        // Right away: the controller waits for every router to serve a change before it stops instances.
        await report(measuring: false)
        return true
    }

    private func applyNow(_ update: Update, save: Bool) async -> Bool {
        // A whole table brings every service up to date; a delta only those it names.
        let table: FleetRoutes
        let wanted: [ServiceRoutes]
        let gone: [String]
        switch update {
        case let .table(whole):
            table = whole
            wanted = whole.services.map(served)
            let names = Set(wanted.map(\.name))
            gone = Set(bound.keys).union(serviceProblems.keys).filter { !names.contains($0) }
        case let .delta(delta):
            guard let next = applied?.applying(delta) else { return false }
            table = next
            wanted = delta.changed.map(served)
            gone = delta.removed
        }
        let router = self.router ?? Router(group: group, limits: table.limits)
        if self.router == nil {
            self.router = router
            limits = table.limits
        }
        if table.limits != limits, !limitsChanged { logger.error("\(Self.limitsProblem)") }
        limitsChanged = table.limits != limits
        for name in gone {
            serviceProblems[name] = nil
            guard bound.removeValue(forKey: name) != nil else { continue }
            await router.removeService(name: name)
        }
        for service in wanted {
            do {
                if let current = bound[service.name], current.listen == service.listen, current.previewListen == service.previewListen {
                    if current.backends != service.backends || current.release != service.release {
                        try await router.setBackends(service: service.name, service.backends, release: service.release)
                    }
                } else {
                    // A door that moved closes (its requests finish) before it opens at the new address.
                    if bound[service.name] != nil {
                        await router.removeService(name: service.name)
                        bound[service.name] = nil
                    }
                    try await router.setBackends(service: service.name, service.backends, release: service.release)
                    try await router.addService(name: service.name, listen: service.listen, previewListen: service.previewListen)
                }
                bound[service.name] = service
                serviceProblems[service.name] = nil
            } catch {
                // A door retried every half second is logged when its problem changes, not at every try.
                let problem = "\(error)"
                if serviceProblems[service.name] != problem { logger.error("\(service.name): \(problem)") }
                serviceProblems[service.name] = problem
            }
        }
        if applied?.generation != table.generation {
            logger.info("applied routes", metadata: ["generation": "\(table.generation)", "services": "\(bound.count)"])
        }
        applied = table
        if save { saveStateFile(table) }
        return true
    }

    private static let limitsProblem = "the controller's router limits changed: restart this router to apply them"

    /// What could not be applied, as the reports tell the controller.
    private var problems: [String] {
        (limitsChanged ? [Self.limitsProblem] : []) + serviceProblems.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
    }

    /// The service's doors on this host's address when `--address` says so.
    private func served(_ service: ServiceRoutes) -> ServiceRoutes {
        guard let host = settings.address else { return service }
        var service = service
        service.listen.host = host
        service.previewListen?.host = host
        return service
    }

    // MARK: - Reporting

    private func reportEvery() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: settings.reportInterval)
            // A door that could not be bound (its port busy) is tried again.
            if !serviceProblems.isEmpty, let applied { await apply(.table(applied), save: false) }
            await report(measuring: true)
        }
    }

    /// Tells the controller the generation served, what could not be applied and, when `measuring`, the
    /// counters read now. A report right after a change carries the last counters read again: reading
    /// every service's counters takes a round on each event loop per service, too slow to repeat at each
    /// of a burst of changes (the periodic report reads them every half second).
    private func report(measuring: Bool) async {
        if measuring || measured == nil { measured = await measure() }
        let report = RouterReport(boot: boot, generation: applied?.generation ?? 0, problems: problems, series: measured ?? [])
        var request = HTTPClientRequest(url: "\(following)/api/v1/routers/\(settings.name)/reports")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(settings.token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        do {
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(report)))
            let response = try await client.execute(request, timeout: .seconds(2))
            if response.status != .noContent {
                let body = try? await response.body.collect(upTo: 64 * 1024)
                logger.warning("the controller refused a report: \(response.status) \(body.map { String(buffer: $0) } ?? "")")
            }
        } catch {
            logger.debug("cannot report: \(error)")
        }
    }

    private func measure() async -> [SeriesMeasurement] {
        var series: [SeriesMeasurement] = []
        guard let router else { return series }
        for name in bound.keys.sorted() {
            // A version nothing reached yet is left out (the controller counts a missing series as zero):
            // an idle fleet of a thousand services reports next to nothing.
            for measured in await router.measurements(service: name) where measured.metrics != VersionMetrics() {
                series.append(SeriesMeasurement(service: name, version: measured.version, role: measured.role, metrics: measured.metrics))
            }
        }
        return series
    }

    // MARK: - State file

    private func loadStateFile() -> FleetRoutes? {
        guard let path = settings.stateFile, FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(FleetRoutes.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            logger.error("cannot read the state file \(path): \(error); waiting for the controller")
            return nil
        }
    }

    /// Written whole to a temporary file and renamed over the old one: a crash leaves one or the other.
    private func saveStateFile(_ table: FleetRoutes) {
        guard let path = settings.stateFile else { return }
        do {
            try JSONEncoder().encode(table).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            logger.error("cannot write the state file \(path): \(error)")
        }
    }
}

struct ControllerRefused: Error, CustomStringConvertible {
    var status: HTTPResponseStatus
    var body: String
    /// The leader a standing-by controller named (its 307's Location, without the path).
    var leader: String?
    var description: String { "the controller answered \(status.code): \(body.prefix(500))" }
}

/// A change that does not apply to the table served: one before it never arrived.
struct MissedChange: Error, CustomStringConvertible {
    var delta: FleetRoutesDelta
    var description: String { "a change from generation \(delta.base) to \(delta.generation) does not apply to the table served" }
}

struct ControllerSilent: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "nothing from the controller for \(limit)" }
}

extension Duration {
    fileprivate var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
