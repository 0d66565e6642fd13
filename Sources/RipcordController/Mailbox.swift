import RipcordCore

/// The loop every machine of the controller runs on (a rollout, a guarded flag rollout, a guard window):
/// feeders — a ticker and watchers — put inputs in one mailbox, and one consumer handles each input to
/// the end before taking the next, so the machine's state changes in one place, one input at a time.
struct Mailbox<Input: Sendable>: Sendable {
    let inputs: AsyncStream<Input>
    let continuation: AsyncStream<Input>.Continuation

    init() {
        (inputs, continuation) = AsyncStream.makeStream(of: Input.self)
    }

    func send(_ input: Input) { continuation.yield(input) }

    /// Runs `prepare`, then hands every input to `handle` until it returns true (the machine is done);
    /// the ticker (one `tick` every `interval`) and `feeders` run beside it and stop with it.
    func run(
        tick: Input, every interval: TimeSpan, clock: any RipcordClock, feeders: [@Sendable () async -> Void] = [],
        prepare: @Sendable () async -> Void = {}, handle: @Sendable (Input) async -> Bool
    ) async {
        let continuation = self.continuation
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await clock.sleep(for: interval)
                    continuation.yield(tick)
                }
            }
            for feeder in feeders { group.addTask { await feeder() } }
            await prepare()
            for await input in inputs {
                if await handle(input) { break }
            }
            group.cancelAll()
        }
        continuation.finish()
    }
}
