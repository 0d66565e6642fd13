#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RipcordCore
import RipcordRouter

/// Runs a router with one service ("standalone") on `listen`, splitting evenly across `backends`
/// (all stable, version 0.0.0), on `threads` event loops, until SIGINT or SIGTERM. Used by
/// `ripcord-bench router` to compare the data plane with nginx.
public func runStandaloneRouter(listen: HostPort, backends: [HostPort], threads: Int) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
    let router = Router(group: group)
    let version = SemanticVersion(major: 0, minor: 0, patch: 0)
    do {
        try await router.setBackends(
            service: "standalone",
            backends.map {
                Backend(address: $0, version: version, role: .stable, weight: 1)
            })
        let bound = try await router.addService(name: "standalone", listen: listen, previewListen: nil)
        print("ripcord router listening on \(bound) -> \(backends.map(\.description).joined(separator: ", "))")
        await waitForTerminationSignal()
    } catch {
        await router.shutdown()
        try? await group.shutdownGracefully()
        throw error
    }
    await router.shutdown()
    try? await group.shutdownGracefully()
}

func waitForTerminationSignal() async {
    let queue = DispatchQueue(label: "ripcord.router.signals")
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let resumed = SignalLatch(continuation)
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { resumed.fire() }
            source.resume()
            sources.append(source)
        }
        resumed.keep(sources)
    }
}

/// Resumes the waiting continuation once, and keeps the signal sources alive until then.
private final class SignalLatch: @unchecked Sendable {
    private var continuation: CheckedContinuation<Void, Never>?
    private var sources: [any DispatchSourceSignal] = []
    private let lock = NIOLock()

    init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = continuation }

    func keep(_ sources: [any DispatchSourceSignal]) { lock.withLock { self.sources = sources } }

    func fire() {
        let continuation = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            defer { self.continuation = nil }
            return self.continuation
        }
        continuation?.resume()
    }
}
