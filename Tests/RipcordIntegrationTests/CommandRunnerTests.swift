import Foundation
import RipcordCore
@testable import RipcordDrivers
import RipcordTestSupport
import Testing

/// The runner behind metric commands, hooks, nginx reloads and the command driver's scripts, with
/// real `/bin/sh` processes: what it reports, what it keeps of their output, and what it kills.
@Suite(.tags(.integration)) struct CommandRunnerTests {
    private func sh(_ body: String, environment: [String: String] = [:], timeout: TimeSpan = .seconds(10)) async throws -> CommandRunner.Outcome {
        try await CommandRunner.run(arguments: ["/bin/sh", "-c", body], environment: environment, timeout: timeout)
    }

    @Test func outputOfBothStreamsAndTheExitStatusComeBack() async throws {
        let outcome = try await sh("echo out; echo err >&2; exit 3")
        #expect(outcome.ending == .exited(3))
        #expect(outcome.output == "out\nerr\n")
        #expect(try await sh("kill -USR1 $$").ending == .signalled(SIGUSR1))
        #expect(try await sh("true").succeeded)
    }

    @Test func givenVariablesOverrideTheInheritedOnesAndTheRestIsInherited() async throws {
        // Both set in the test process's environment by CRipcordTestEnvironment.
        let outcome = try await sh(
            "echo \"$RIPCORD_RUNNER_TEST_INHERITED $RIPCORD_RUNNER_TEST_OVERRIDDEN $RIPCORD_RUNNER_TEST_GIVEN\"; env | grep -c '^RIPCORD_RUNNER_TEST_OVERRIDDEN='",
            environment: ["RIPCORD_RUNNER_TEST_OVERRIDDEN": "new", "RIPCORD_RUNNER_TEST_GIVEN": "given"])
        #expect(outcome.output == "from-the-controller new given\n1\n")
    }

    @Test func aCommandOutlivingItsTimeoutIsKilledWithItsWholeGroup() async throws {
        let directory = try temporaryDirectory("runner-timeout")
        let started = ContinuousClock.now
        let outcome = try await sh("sleep 30 & echo $! > \(directory)/child.pid; echo waiting; wait", timeout: .milliseconds(300))
        let took = ContinuousClock.now - started
        #expect(outcome.ending == .timedOut)
        #expect(outcome.output == "waiting\n", "what it printed before it was killed is kept")
        #expect(took >= .milliseconds(300) && took < .seconds(3), "\(took)")
        let child = try #require(pidWritten(to: "\(directory)/child.pid"))
        try await eventually("the command's child killed with it") { !processRuns(child) }
    }

    @Test func aCancelledCallerKillsItsCommand() async throws {
        let directory = try temporaryDirectory("runner-cancel")
        let running = Task { try await sh("echo $$ > \(directory)/shell.pid; exec sleep 30", timeout: .seconds(60)) }
        try await eventually("the command started") { pidWritten(to: "\(directory)/shell.pid") != nil }
        let started = ContinuousClock.now
        running.cancel()
        let outcome = try await running.value
        #expect(outcome.ending == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(3))
        let shell = try #require(pidWritten(to: "\(directory)/shell.pid"))
        #expect(!processRuns(shell))
    }

    @Test func aFloodOfOutputNeitherBlocksTheCommandNorGrowsBeyondTheLimit() async throws {
        // 4 MiB, far beyond a pipe's buffer: the command ends only if its output is read as it comes.
        let outcome = try await sh("yes x | head -c 4194304; echo the-end", timeout: .seconds(20))
        #expect(outcome.ending == .exited(0))
        #expect(outcome.output.utf8.count <= 16_384 && outcome.output.utf8.count > 16_000)
        #expect(outcome.output.hasSuffix("x\nx\nthe-end\n"))
    }

    @Test func aBackgroundChildHoldingTheOutputOpenDoesNotHoldUpTheAnswer() async throws {
        let started = ContinuousClock.now
        let outcome = try await sh("sleep 5 & echo left-behind; exit 0")
        #expect(outcome.ending == .exited(0) && outcome.output == "left-behind\n")
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test func aCommandThatClosesItsOutputEarlyIsStillWaitedFor() async throws {
        let started = ContinuousClock.now
        let outcome = try await sh("echo closing; exec >&- 2>&-; sleep 0.5; exit 4")
        #expect(outcome.ending == .exited(4) && outcome.output == "closing\n")
        #expect(ContinuousClock.now - started >= .milliseconds(500))
    }

    @Test func manyCommandsAtOnceEachGetTheirOwnStatusAndOutput() async throws {
        // Descriptors and pids are reused as fast as commands end; no answer may reach the wrong caller.
        try await withThrowingTaskGroup(of: (Int, CommandRunner.Outcome).self) { group in
            for index in 0..<300 {
                group.addTask {
                    let body = index % 3 == 0 ? "echo \(index); exit \(index % 7)" : "sleep 0.0\(index % 10); echo \(index) >&2; exit \(index % 7)"
                    return (index, try await sh(body, timeout: index % 50 == 0 ? .milliseconds(1) : .seconds(20)))
                }
            }
            for try await (index, outcome) in group where index % 50 != 0 {
                #expect(outcome.ending == .exited(Int32(index % 7)) && outcome.output == "\(index)\n", "\(index): \(outcome)")
            }
        }
    }

    @Test func aBatchAnswersEachCommandInItsOrderWhenTheLastHasEnded() async throws {
        let started = ContinuousClock.now
        let results = await CommandRunner.run([
            .init(arguments: ["/bin/sh", "-c", "sleep 0.4; echo slow; exit 3"], timeout: .seconds(10)),
            .init(arguments: ["ripcord-no-such-program"], timeout: .seconds(10)),
            .init(arguments: ["/bin/sh", "-c", "echo \"$GIVEN\""], environment: ["GIVEN": "quick"], timeout: .seconds(10)),
            .init(arguments: ["/bin/sh", "-c", "sleep 30"], timeout: .milliseconds(200)),
        ])
        #expect(ContinuousClock.now - started >= .milliseconds(400), "answered when the last has ended")
        let slow = try results[0].get(), quick = try results[2].get(), overdue = try results[3].get()
        #expect(slow.ending == .exited(3) && slow.output == "slow\n" && slow.duration >= .milliseconds(400))
        #expect(quick.ending == .exited(0) && quick.output == "quick\n" && quick.duration < .milliseconds(400), "its own duration: \(quick.duration)")
        #expect(overdue.ending == .timedOut)
        #expect(throws: CommandRunner.LaunchError.self) { try results[1].get() }
    }

    @Test func aCancelledBatchKillsEveryCommandStillRunning() async throws {
        let directory = try temporaryDirectory("runner-batch-cancel")
        let commands = (0..<3).map { index in
            CommandRunner.Command(
                arguments: ["/bin/sh", "-c", "echo $$ > \(directory)/\(index).pid" + (index == 0 ? "" : "; exec sleep 30")], timeout: .seconds(60))
        }
        let running = Task { await CommandRunner.run(commands) }
        try await eventually("the long commands started") { (1...2).allSatisfy { pidWritten(to: "\(directory)/\($0).pid") != nil } }
        // Reaped, not only exited: the runner has its ending (on a busy machine it can lag the exit).
        try await eventually("the short command was reaped") {
            pidWritten(to: "\(directory)/0.pid").map { !FileManager.default.fileExists(atPath: "/proc/\($0)") } ?? false
        }
        running.cancel()
        let results = await running.value
        #expect(try results[0].get().ending == .exited(0))
        #expect(try results[1].get().ending == .timedOut && results[2].get().ending == .timedOut)
        for index in 1...2 {
            let pid = try #require(pidWritten(to: "\(directory)/\(index).pid"))
            #expect(!processRuns(pid))
        }
    }

    @Test func withoutPidfdsCommandsAreLookedAtAndAnsweredAsWell() async throws {
        // The fallback where pidfd_open is missing (kernels before 5.3, some sandboxes): no exit to wait on.
        let watcher = try CommandWatcher(usesPidfds: false)
        let started = ContinuousClock.now
        let results = await CommandRunner.run(
            [
                .init(arguments: ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], timeout: .seconds(10)),
                .init(arguments: ["/bin/sh", "-c", "yes x | head -c 1048576; echo the-end"], timeout: .seconds(20)),
                .init(arguments: ["/bin/sh", "-c", "echo waiting; exec sleep 30"], timeout: .milliseconds(300)),
            ], on: watcher)
        let failed = try results[0].get(), flood = try results[1].get(), overdue = try results[2].get()
        #expect(failed.ending == .exited(3) && failed.output == "out\nerr\n")
        #expect(flood.ending == .exited(0) && flood.output.hasSuffix("x\nthe-end\n") && flood.output.utf8.count <= 16_384)
        #expect(overdue.ending == .timedOut && overdue.output == "waiting\n")
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func aCommandReapedByAnotherWaitStillEnds() async throws {
        // A caller asking `waitpid` about a pid of its own that the command now has (pids are reused)
        // takes the command's status: the runner must still answer, where it used to wait forever.
        let directory = try temporaryDirectory("runner-reaped")
        for round in 0..<5 {
            let running = Task { try await sh("echo $$ > \(directory)/\(round).pid; exec sleep 0.3", timeout: .seconds(5)) }
            try await eventually("the command started") { pidWritten(to: "\(directory)/\(round).pid") != nil }
            let pid = try #require(pidWritten(to: "\(directory)/\(round).pid"))
            await withCheckedContinuation { (reaped: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    var status: Int32 = 0
                    _ = waitpid(pid, &status, 0)
                    reaped.resume()
                }
            }
            let outcome = try await running.value
            #expect(outcome.ending == .statusLost || outcome.ending == .exited(0), "\(outcome)")
        }
    }

    @Test func aProgramThatCannotBeFoundIsALaunchError() async throws {
        await #expect(throws: CommandRunner.LaunchError.self) {
            try await CommandRunner.run(arguments: ["ripcord-no-such-program"], timeout: .seconds(1))
        }
    }
}
