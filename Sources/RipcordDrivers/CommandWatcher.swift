import CRipcordSpawn
import Foundation
import Synchronization
#if canImport(Glibc)
    import Glibc
#endif

/// Waits on every running command at once, from one thread of its own: a command's pidfd turns
/// readable when it exits, and its output pipe when it writes (the last `outputLimit` bytes are kept,
/// and a chatty command never blocks on a full pipe). An idle controller checking a thousand instances
/// through scripts so pays one wake per script, not a timer every 10 ms for each, and no file.
///
/// Only the watcher thread reaps, reads or kills, so a pid is never signalled after it was reaped;
/// callers hand it commands, and cancellations, through `handover` and a wake-up eventfd.
final class CommandWatcher: @unchecked Sendable {
    struct Ending {
        /// The `waitpid` status; nil when the command was reaped by another `waitpid` (a caller asking
        /// about a pid of its own that had been reused), so it ended but how is not known.
        var status: Int32?
        /// Killed by the watcher: it outlived its deadline, or its caller was cancelled.
        var killed: Bool
        var output: String
        var endedAt: ContinuousClock.Instant
    }

    static let outputLimit = 16_384
    private static let instance = Mutex<CommandWatcher?>(nil)

    /// The one watcher, started by the first command. Made again on the next command when it could not
    /// be (no descriptor left, say): that command fails, the process does not.
    static func shared() throws -> CommandWatcher {
        try instance.withLock { watcher in
            if let watcher { return watcher }
            let made = try CommandWatcher()
            watcher = made
            return made
        }
    }

    struct CannotStart: Error, CustomStringConvertible {
        var description: String
    }

    /// A started command as its caller hands it over.
    struct Started: Sendable {
        let pid: pid_t
        /// The read end of its output pipe, non-blocking; the watcher closes it.
        let output: Int32
        let deadline: ContinuousClock.Instant
    }

    /// Commands handed over together, answered together: one wake of their caller, not one each.
    private final class Batch: @unchecked Sendable {
        // Written by the caller before the handover, then by the watcher thread alone.
        let commands: [Started]
        let firstID: Int
        let continuation: CheckedContinuation<[Ending], Never>
        /// Its caller was cancelled before it was handed over.
        var cancelledEarly = false
        var endings: [Ending?]
        var remaining: Int

        init(commands: [Started], firstID: Int, continuation: CheckedContinuation<[Ending], Never>) {
            (self.commands, self.firstID, self.continuation) = (commands, firstID, continuation)
            (endings, remaining) = (Array(repeating: nil, count: commands.count), commands.count)
        }
    }

    /// What the watcher thread knows of a command it waits on.
    private struct Running {
        let command: Started
        let batch: Batch
        /// -1 where pidfds are not available: the command is then looked at every 10 ms.
        let pidfd: Int32
        var outputOpen = true
        var kept: [UInt8] = []
        var killed = false
    }

    /// What callers hand the thread: batches to wait on, and the first ids of batches whose callers were cancelled.
    private struct Handover {
        var batches: [Batch] = []
        var cancelled: [Int] = []
        var nextID = 0
    }

    private let epoll: Int32
    private let wakeUp: Int32
    private let handover = Mutex(Handover())
    // The watcher thread's alone:
    private var running: [Int: Running] = [:]
    /// Commands without a pidfd, looked at on every turn.
    private var polled: Set<Int> = []
    /// No command's deadline is before this (it may be earlier than the earliest: then a look finds none due).
    private var nextDeadline: ContinuousClock.Instant?
    private static let wakeUpKey = UInt64.max

    /// Without pidfds (kernels before 5.3, some sandboxes) every command is looked at every 10 ms.
    private let usesPidfds: Bool

    /// `usesPidfds: false` is the fallback, for its test.
    init(usesPidfds: Bool = true) throws {
        self.usesPidfds = usesPidfds
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw CannotStart(description: "cannot watch commands: \(String(cString: strerror(errno)))") }
        wakeUp = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wakeUp >= 0 else {
            let reason = String(cString: strerror(errno))
            close(epoll)
            throw CannotStart(description: "cannot watch commands: \(reason)")
        }
        watch(wakeUp, key: Self.wakeUpKey)
        let thread = Thread { [self] in run() }
        thread.name = "ripcord-commands"
        thread.start()
    }

    /// Waits for the started commands to end, each killed with its process group at its deadline or
    /// when the calling task is cancelled (and then waited for), and answers in their order.
    func endings(of commands: [Started]) async -> [Ending] {
        guard !commands.isEmpty else { return [] }
        let firstID = handover.withLock { handover in
            defer { handover.nextID += commands.count }
            return handover.nextID
        }
        let cancelled = Atomic<Bool>(false)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let batch = Batch(commands: commands, firstID: firstID, continuation: continuation)
                handover.withLock { handover in
                    // Read under the lock: a cancellation after it is handed over after the batch.
                    batch.cancelledEarly = cancelled.load(ordering: .relaxed)
                    handover.batches.append(batch)
                }
                poke()
            }
        } onCancel: {
            // The flag covers a cancellation before the batch is handed over, the first id one after.
            cancelled.store(true, ordering: .relaxed)
            handover.withLock { $0.cancelled.append(firstID) }
            poke()
        }
    }

    private func poke() {
        var one: UInt64 = 1
        _ = write(wakeUp, &one, 8)
    }

    private func watch(_ descriptor: Int32, key: UInt64) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = key
        _ = epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event)
    }

    /// Unwatches and closes. Closing alone is not enough: a command being spawned at that moment holds
    /// a copy of the descriptor until it execs, and epoll would go on reporting the finished one.
    private func unwatchAndClose(_ descriptor: Int32) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil)
        close(descriptor)
    }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let count = epoll_wait(epoll, &events, Int32(events.count), timeout())
            for event in events.prefix(Int(max(count, 0))) {
                let key = event.data.u64
                if key == Self.wakeUpKey {
                    var value: UInt64 = 0
                    _ = read(wakeUp, &value, 8)
                    takeHandover()
                } else if key & 1 == 1 {
                    readOutput(of: Int(key >> 1))
                } else {
                    reapIfEnded(Int(key >> 1))
                }
            }
            for id in polled { reapIfEnded(id) }
            if let due = nextDeadline, ContinuousClock.now >= due { killOverdue() }
        }
    }

    /// Milliseconds until the next deadline (10 at most while a command has no pidfd), or -1: none.
    private func timeout() -> Int32 {
        var milliseconds = -1
        if let due = nextDeadline {
            let left = ContinuousClock.now.duration(to: due).components
            milliseconds = Int(clamping: max(0, left.seconds * 1000 + left.attoseconds / 1_000_000_000_000_000 + 1))
        }
        if !polled.isEmpty { milliseconds = milliseconds < 0 ? 10 : min(milliseconds, 10) }
        return Int32(clamping: milliseconds)
    }

    private func takeHandover() {
        let taken = handover.withLock { handover in
            defer { (handover.batches, handover.cancelled) = ([], []) }
            return (handover.batches, handover.cancelled)
        }
        for batch in taken.0 {
            for (index, command) in batch.commands.enumerated() {
                let id = batch.firstID + index
                let pidfd = usesPidfds ? ripcord_pidfd_open(command.pid) : -1
                running[id] = Running(command: command, batch: batch, pidfd: pidfd)
                watch(command.output, key: UInt64(id) << 1 | 1)
                if pidfd >= 0 { watch(pidfd, key: UInt64(id) << 1) } else { polled.insert(id) }
                nextDeadline = min(nextDeadline ?? command.deadline, command.deadline)
                if batch.cancelledEarly { kill(id) }
            }
        }
        // A cancelled batch is named by its first id (some of its commands may have ended already).
        for firstID in taken.1 {
            running.filter { $0.value.batch.firstID == firstID }.keys.forEach(kill)
        }
    }

    private func killOverdue() {
        let now = ContinuousClock.now
        let overdue = running.filter { !$0.value.killed && $0.value.command.deadline <= now }.keys
        overdue.forEach(kill)
        nextDeadline = running.values.lazy.filter { !$0.killed }.map(\.command.deadline).min()
    }

    private func kill(_ id: Int) {
        guard let command = running[id], !command.killed else { return }
        running[id]?.killed = true
        Glibc.kill(-command.command.pid, SIGKILL)
        Glibc.kill(command.command.pid, SIGKILL)
    }

    /// Reads what the pipe holds now, keeping the last `outputLimit` bytes; at its end, closes it.
    private func readOutput(of id: Int) {
        guard let output = running[id]?.command.output, running[id]?.outputOpen == true else { return }
        let atEnd = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.outputLimit) { buffer in
            while true {
                let count = read(output, buffer.baseAddress, buffer.count)
                guard count > 0 else { return count == 0 }
                running[id]?.kept.append(contentsOf: buffer[..<count])
                if let kept = running[id]?.kept.count, kept > 2 * Self.outputLimit { running[id]?.kept.removeFirst(kept - Self.outputLimit) }
            }
        }
        if let kept = running[id]?.kept.count, kept > Self.outputLimit { running[id]?.kept.removeFirst(kept - Self.outputLimit) }
        if atEnd {
            running[id]?.outputOpen = false
            unwatchAndClose(output)
        }
    }

    private func reapIfEnded(_ id: Int) {
        guard let pid = running[id]?.command.pid else { return }
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        guard reaped == pid || (reaped == -1 && errno == ECHILD) else { return }
        // What it wrote last may still be in the pipe; a child it left behind may hold the pipe open.
        readOutput(of: id)
        guard let command = running.removeValue(forKey: id) else { return }
        polled.remove(id)
        if command.outputOpen { unwatchAndClose(command.command.output) }
        if command.pidfd >= 0 { unwatchAndClose(command.pidfd) }
        // A multi-byte character cut by the limit is dropped rather than decoded into a replacement.
        let text = String(decoding: command.kept.drop { $0 & 0b1100_0000 == 0b1000_0000 }, as: UTF8.self)
        let batch = command.batch
        batch.endings[id - batch.firstID] = Ending(status: reaped == pid ? status : nil, killed: command.killed, output: text, endedAt: .now)
        batch.remaining -= 1
        if batch.remaining == 0 { batch.continuation.resume(returning: batch.endings.map { $0! }) }
    }
}
