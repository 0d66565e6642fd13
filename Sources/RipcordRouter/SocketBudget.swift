import NIOConcurrencyHelpers
import NIOCore
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The file descriptors the router's sockets may take, shared by every front door and event loop.
/// The rest of the process's limit is a reserve for the API, the state database, health checks and
/// instance processes: a flood of client connections fills the router's share and gets 503, while
/// the API and everything else keep working.
final class SocketBudget: Sendable {
    struct Exhausted: Error {}

    let limit: Int
    private let used = NIOLockedValueBox(0)

    init(limit: Int) {
        self.limit = limit
    }

    static let unlimited = SocketBudget(limit: .max)

    /// The budget of this process: its descriptor limit (raised from soft to hard first) less a
    /// reserve of a quarter of it, at most 4,096.
    static func forThisProcess() -> SocketBudget {
        let descriptors = raiseDescriptorLimit()
        return SocketBudget(limit: descriptors - min(4_096, descriptors / 4))
    }

    /// Raises the soft limit on open files to the hard limit; returns the limit in force.
    @discardableResult
    static func raiseDescriptorLimit() -> Int {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return 1024 }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        return Int(clamping: limits.rlim_cur)
    }

    /// A client connection: taken only while there is room for it and its upstream connection.
    func acquireClient() -> Bool { acquire(needing: 2) }

    func acquireUpstream() -> Bool { acquire(needing: 1) }

    func release() {
        used.withLockedValue { $0 -= 1 }
    }

    var inUse: Int { used.withLockedValue { $0 } }

    private func acquire(needing room: Int) -> Bool {
        used.withLockedValue { used in
            guard used <= limit - room else { return false }
            used += 1
            return true
        }
    }
}

/// Who gets through one front door: at most `maxConnections` at once, within the process's socket budget.
final class FrontDoorAdmission: Sendable {
    private let maxConnections: Int
    private let budget: SocketBudget
    private let open = NIOLockedValueBox(0)

    init(maxConnections: Int, budget: SocketBudget) {
        self.maxConnections = maxConnections
        self.budget = budget
    }

    /// Admits a new connection (and counts it until it closes), or says it must be refused.
    func admit(_ channel: any Channel) -> Bool {
        let admitted = open.withLockedValue { open in
            guard open < maxConnections, budget.acquireClient() else { return false }
            open += 1
            return true
        }
        if admitted {
            channel.closeFuture.whenComplete { [self] _ in
                open.withLockedValue { $0 -= 1 }
                budget.release()
            }
        }
        return admitted
    }
}

/// The whole pipeline of a connection the front door can't take: a 503 that says so, then close.
final class RefusedConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        let response = ByteBuffer(
            staticString: """
                HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 37\r\n\
                retry-after: 1\r\nconnection: close\r\n\r\ntoo many connections, try again soon\n
                """)
        context.writeAndFlush(wrapOutboundOut(response)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
