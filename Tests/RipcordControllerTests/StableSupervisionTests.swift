import RipcordCore
import RipcordJudges
import RipcordTestSupport
import RipcordTesting
import Testing

@testable import RipcordController

/// How often the stable supervisor looks at a service's instances, and how soon an exit is noticed.
@Suite(.tags(.unit)) struct StableSupervisionTests {
    /// A service of `service()` run by the command driver, its instances checked every `checkInterval`.
    private func commandService(_ name: String = "checkout", checkInterval: TimeSpan) -> ServiceSpec {
        var spec = service(name)
        spec.driver = .command(CommandDriverSpec(start: "start", stop: "stop", check: "check", checkInterval: checkInterval))
        return spec
    }

    /// The looks `superviseStable` takes over `span`, as it takes them: follow, take what is due, sleep
    /// as the schedule says, and wake `late` after each sleep (a busy machine).
    private func looks(
        _ intervals: [String: TimeSpan], over span: TimeSpan, late: TimeSpan = .zero, seed: UInt64 = 7
    ) -> [(at: Moment, services: [String])] {
        var schedule = StableLookSchedule()
        var random = SplitMix64(seed: seed)
        var now = start
        var batches: [(at: Moment, services: [String])] = []
        while now - start < span {
            schedule.follow(intervals, now: now, interval: { $0 }, using: &random)
            let due = schedule.due(at: now)
            for name in due { schedule.looked(at: name, now: now, interval: intervals[name]!) }
            if !due.isEmpty { batches.append((now, due)) }
            now = now + schedule.sleep(from: now) + late
        }
        return batches
    }

    private func lookTimes(_ batches: [(at: Moment, services: [String])]) -> [String: [Moment]] {
        batches.reduce(into: [:]) { times, batch in for name in batch.services { times[name, default: []].append(batch.at) } }
    }

    private let start = Moment(millisecondsSinceEpoch: 1_800_000_000_000)
    private let sixtyServices = Dictionary(uniqueKeysWithValues: (0..<60).map { ("svc\($0)", TimeSpan.seconds(30)) })

    @Test func eachServiceIsLookedAtOncePerIntervalAtMostATickLate() {
        for seed in 1...20 as ClosedRange<UInt64> {
            let times = lookTimes(looks(sixtyServices, over: .seconds(300), seed: seed))
            #expect(times.count == 60)
            for (name, moments) in times {
                #expect(moments[0] - start <= .seconds(31), "\(name): first look \(moments[0] - start) after the start")
                #expect((9...10).contains(moments.count), "\(name): \(moments.count) looks in 300 s")
                for (earlier, later) in zip(moments, moments.dropFirst()) {
                    let gap = (later - earlier).milliseconds
                    #expect((29_000...31_000).contains(gap), "\(name): \(gap) ms between two looks")
                }
            }
        }
    }

    @Test func looksDueWithinATickAreTakenTogether() {
        // 60 services every 30 s, first looks spread over the interval: one by one, that is about 55 wakes
        // (and batches of scripts) in each 30 s; taken by one-second ticks, 31 at most.
        let batches = looks(sixtyServices, over: .seconds(300))
        #expect(batches.map(\.services.count).reduce(0, +) >= 600)
        for (earlier, later) in zip(batches, batches.dropFirst()) { #expect(later.at - earlier.at >= .seconds(1)) }
        #expect(batches.count <= 10 * 31, "\(batches.count) batches in 300 s")
    }

    @Test func aLoopRunningLateDoesNotMakeLaterLooksLater() throws {
        // Each wake 400 ms late: looks stay due an interval after the last was due, not after it was taken.
        let times = lookTimes(looks(sixtyServices, over: .seconds(300), late: .milliseconds(400)))
        for (name, moments) in times {
            let first = try #require(moments.first)
            for (n, moment) in moments.enumerated() {
                let behind = (moment - (first + .seconds(30 * Double(n)))).milliseconds
                #expect((-1_400...1_400).contains(behind), "\(name): look \(n) \(behind) ms off its schedule")
            }
        }
    }

    @Test func aLookHeldBackPastItsNextCountsItsIntervalFromWhenItIsTaken() {
        var schedule = StableLookSchedule()
        var random = SplitMix64(seed: 1)
        schedule.follow(["checkout": TimeSpan.seconds(10)], now: start, interval: { $0 }, using: &random)
        // A repair held the look back 25 s past its first due moment (at most 10 s after the start).
        let taken = start + .seconds(35)
        #expect(schedule.due(at: taken) == ["checkout"])
        schedule.looked(at: "checkout", now: taken, interval: .seconds(10))
        #expect(schedule.due(at: taken + .milliseconds(9_999)).isEmpty)
        #expect(schedule.due(at: taken + .seconds(10)) == ["checkout"])
    }

    @Test func aNewServiceIsLookedAtWithinItsFirstIntervalAndARemovedOneNoMore() {
        var schedule = StableLookSchedule()
        var random = SplitMix64(seed: 3)
        schedule.follow(["a": TimeSpan.seconds(5)], now: start, interval: { $0 }, using: &random)
        schedule.follow(["a": TimeSpan.seconds(5), "b": TimeSpan.seconds(5)], now: start, interval: { $0 }, using: &random)
        #expect(Set(schedule.due(at: start + .seconds(5))) == ["a", "b"])
        schedule.follow(["b": TimeSpan.seconds(5)], now: start, interval: { $0 }, using: &random)
        #expect(schedule.due(at: start + .seconds(5)) == ["b"])
        #expect(schedule.sleep(from: start + .seconds(5)) == StableLookSchedule.tick(shortestLookInterval: .seconds(5)))
    }

    @Test func aTickIsAThirtiethOfTheShortestIntervalBetweenATenthOfASecondAndASecond() {
        #expect(StableLookSchedule.tick(shortestLookInterval: .seconds(30)) == .seconds(1))
        #expect(StableLookSchedule.tick(shortestLookInterval: .seconds(300)) == .seconds(1))
        #expect(StableLookSchedule.tick(shortestLookInterval: .seconds(6)) == .milliseconds(200))
        #expect(StableLookSchedule.tick(shortestLookInterval: .seconds(1)) == .milliseconds(100))
        #expect(StableLookSchedule.tick(shortestLookInterval: nil) == .milliseconds(100))
    }

    @Test func processInstancesAreLookedAtEveryHealthCheckAndCommandInstancesOncePerCheckInterval() {
        #expect(Controller.lookInterval(Controller.ServiceState(spec: service())) == .seconds(1))
        // The driver's answers stand for its check interval: asking each second would only repeat them.
        #expect(Controller.lookInterval(Controller.ServiceState(spec: commandService(checkInterval: .seconds(10)))) == .seconds(10))
        #expect(Controller.lookInterval(Controller.ServiceState(spec: commandService(checkInterval: .milliseconds(200)))) == .seconds(1))
    }

    @Test func aCommandInstanceThatExitsIsNoticedWithinOneCheckInterval() async throws {
        let rig = try await ControllerRig([commandService(checkInterval: .seconds(10))])
        #expect(await rig.driver.running(version: v1).count == 2)
        try await rig.advance(by: .seconds(30))
        let crashed = try #require(await rig.driver.running(version: v1).first)
        await rig.driver.crash(crashed)
        try await rig.advance(
            until: { try await rig.events().contains { $0.kind == "instance.exited" && $0.evidence["instance"] == crashed.id } },
            limit: .seconds(11), "the exit noticed within one check interval")
    }
}
