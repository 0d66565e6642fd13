import NIOCore
import NIOPosix
import RipcordCore

/// The least a SwiftNIO proxy can do: each client connection gets its own backend connection and
/// every byte read on one is written to the other, with no parsing, routing, limits or metrics.
/// `ripcord-bench relay` runs it beside the router in `benchmarks/router-vs-nginx.sh`, so the
/// router's cost splits into what NIO's channels cost on this machine and what the router adds.
public func runByteRelay(listen: HostPort, backend: HostPort, threads: Int) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
    do {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { client in
                client.setOption(.autoRead, value: false).flatMap {
                    ClientBootstrap(group: client.eventLoop)
                        .channelOption(.socketOption(.tcp_nodelay), value: 1)
                        .connect(host: backend.host, port: backend.port)
                }.flatMap { upstream in
                    RelayHandler.join(client, upstream)
                }
            }
            .bind(host: listen.host, port: listen.port).get()
        print("ripcord-bench relay listening on \(server.localAddress.map(\.description) ?? "?") -> \(backend)")
        await waitForTerminationSignal()
        try? await server.close()
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
    try? await group.shutdownGracefully()
}

/// One side of a relayed pair: what it reads goes to its partner (written per read, flushed once per
/// batch of reads), and it stops reading while the partner cannot keep up.
private final class RelayHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: RelayHandler?
    private var context: ChannelHandlerContext?
    private var pendingFlush = false

    /// Adds a handler to each channel, each the other's partner, then starts reading the client.
    static func join(_ client: Channel, _ upstream: Channel) -> EventLoopFuture<Void> {
        let clientSide = RelayHandler()
        let upstreamSide = RelayHandler()
        clientSide.partner = upstreamSide
        upstreamSide.partner = clientSide
        return upstream.pipeline.addHandler(upstreamSide).flatMap {
            client.pipeline.addHandler(clientSide)
        }.flatMap {
            client.setOption(.autoRead, value: true)
        }.flatMapError { error in
            upstream.close(promise: nil)
            return client.eventLoop.makeFailedFuture(error)
        }
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.relay(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flushRelayed()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        guard let partnerContext = partner?.context else { return }
        let writable = context.channel.isWritable
        try? partnerContext.channel.syncOptions?.setOption(.autoRead, value: writable)
        if writable { partnerContext.read() }
    }

    private func relay(_ bytes: ByteBuffer) {
        guard let context else { return }
        context.write(wrapOutboundOut(bytes), promise: nil)
        pendingFlush = true
    }

    private func flushRelayed() {
        guard pendingFlush, let context else { return }
        pendingFlush = false
        context.flush()
    }
}
