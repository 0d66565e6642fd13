import Foundation
import RipcordController
import RipcordCore
import RipcordDrivers
import RipcordLoadGenerator
import RipcordServer
import RipcordStore
import RipcordTestSupport
import RipcordWire
import Testing

/// Deploy scripts as a user would write them for the command driver: the sample service started
/// detached with a pid file per instance, stopped and checked through that file.
enum DeployScripts {
    static func write(to directory: String) throws {
        let scripts = [
            "start.sh": """
            #!/bin/sh
            here=$(dirname "$0")
            case "$RIPCORD_VERSION" in
              3.0.0) echo "no capacity left for $RIPCORD_SERVICE $RIPCORD_VERSION (token $RIPCORD_DRIVER_TEST_TOKEN)" >&2; exit 1 ;;
              4.0.0) echo "started, somewhere"; exit 0 ;;
            esac
            echo "starting $RIPCORD_INSTANCE"
            RIPCORD_SAMPLE_FAULTS="2.0.0=crashAtStart" nohup '\(ripcordBinary)' sample-service --name "$RIPCORD_SERVICE" \\
              --port "$RIPCORD_PORT" --version "$RIPCORD_VERSION" >"$here/$RIPCORD_INSTANCE.log" 2>&1 </dev/null &
            echo $! >"$here/$RIPCORD_INSTANCE.pid"
            echo "address=127.0.0.1:$RIPCORD_PORT"
            echo "pid=$!"
            echo "handle=unit-$RIPCORD_INSTANCE"
            """,
            "stop.sh": """
            #!/bin/sh
            here=$(dirname "$0")
            echo "$RIPCORD_INSTANCE $RIPCORD_ADDRESS $RIPCORD_HANDLE $RIPCORD_PID" >>"$here/stops.log"
            [ -f "$here/$RIPCORD_INSTANCE.pid" ] || exit 0
            pid=$(cat "$here/$RIPCORD_INSTANCE.pid")
            kill -TERM "$pid" 2>/dev/null
            tries=0
            while [ "$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)" != Z ] && [ -e /proc/$pid ] && [ $tries -lt 50 ]; do
              sleep 0.1; tries=$((tries + 1))
            done
            kill -KILL "$pid" 2>/dev/null
            rm -f "$here/$RIPCORD_INSTANCE.pid"
            """,
            "check.sh": """
            #!/bin/sh
            here=$(dirname "$0")
            [ -f "$here/$RIPCORD_INSTANCE.pid" ] || { echo "$RIPCORD_INSTANCE has no pid file"; exit 1; }
            pid=$(cat "$here/$RIPCORD_INSTANCE.pid")
            state=$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)
            if [ -z "$state" ] || [ "$state" = Z ]; then echo "pid $pid is not running"; exit 1; fi
            """,
        ]
        for (name, text) in scripts {
            let path = "\(directory)/\(name)"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
    }

    /// The harness's checkout config with the deploy scripts instead of `run:`.
    static func config(directory: String, strategy: String, instances: Int = 2) throws -> String {
        let config = try checkoutConfig(directory: directory, strategy: strategy, instances: instances)
        let run = try #require(config.range(of: "    run:\n(      .*\n)+", options: .regularExpression))
        return config.replacingCharacters(
            in: run,
            with: """
                    driver:
                      command: { start: ./start.sh, stop: ./stop.sh, check: ./check.sh, timeout: 10s, checkInterval: 100ms }

                """)
    }

    static func harness(_ label: String, strategy: String, instances: Int = 2) async throws -> Harness {
        let directory = try temporaryDirectory(label)
        try write(to: directory)
        return try await Harness.start(in: directory, config: try config(directory: directory, strategy: strategy, instances: instances))
    }
}

/// Alive and not a zombie: the detached instances are nobody's children, so nobody may reap them.
/// The pid a test's script wrote to `path`, once it is written whole (`echo $$ > file` creates it first).
func pidWritten(to path: String) -> Int32? {
    (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}

/// How many files in `directory` are named with `prefix` (a script's mktemp per run counts its runs).
func files(in directory: String, named prefix: String) -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(prefix) }.count
}

func processRuns(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let end = stat.lastIndex(of: ")") else { return false }
    return !stat[stat.index(after: end)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

@Suite(.serialized, .tags(.integration)) struct CommandDriverRolloutTests {
    static let canary = "canary:\n  steps:\n    - setWeight: 50\n    - analysis: { passes: 2 }"

    func withScripts(_ label: String, instances: Int = 2, _ body: (Harness) async throws -> Void) async throws {
        try await DeployScripts.harness(label, strategy: Self.canary, instances: instances).run(body)
    }

    /// The stable instances, once a promotion's last effect made the candidate the stable set.
    func stableSet(_ harness: Harness, count: Int = 2) async throws -> [InstanceStatus] {
        try await eventually("\(count) stable instances") {
            try await harness.server.controller.status(service: "checkout").stableInstances.count == count
        }
        return try await harness.server.controller.status(service: "checkout").stableInstances
    }

    func stops(_ harness: Harness) -> String {
        (try? String(contentsOfFile: "\(harness.directory)/stops.log", encoding: .utf8)) ?? ""
    }

    @Test func canaryThroughTheScriptsIsPromotedUnderLoad() async throws {
        try await withScripts("command-canary") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let old = try await stableSet(harness)
            #expect(old.allSatisfy { processRuns($0.pid) })

            var rollout: Rollout?
            let samples = try await underLoad(harness) {
                rollout = try await harness.finish(try await harness.deploy("1.1.0"))
            }
            #expect(rollout?.phase == .promoted)
            #expect(samples.filter(\.failed).isEmpty, "failed: \(samples.filter(\.failed).prefix(5))")
            #expect(samples.contains { $0.version == "1.0.0" } && samples.contains { $0.version == "1.1.0" })
            let started = try await harness.events(try #require(rollout)).filter { $0.kind == "instance.started" }
            #expect(started.count == 2 && started.allSatisfy { $0.evidence["address"]?.hasPrefix("127.0.0.1:") == true })
            #expect(try await get(await harness.frontDoor + "/").1 == "1.1.0")

            try await eventually("the old instances stopped by the stop script") { old.allSatisfy { !processRuns($0.pid) } }
            for instance in old {
                #expect(
                    stops(harness).contains("\(instance.id) \(instance.address) unit-\(instance.id) \(instance.pid)"),
                    "stop is told the instance's id, address, handle and pid")
            }
        }
    }

    @Test func candidateReportedGoneByItsCheckIsRolledBack() async throws {
        try await withScripts("command-crash") { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))
            let rollout = try await harness.finish(try await harness.deploy("2.0.0"))
            #expect(rollout.phase == .rolledBack && rollout.trigger?.kind == .instanceCrashed)
            let message = try #require(rollout.trigger?.message)
            #expect(message.contains("was reported gone by its check: pid ") && message.hasSuffix("is not running"), "\(message)")
            #expect(try await get(await harness.frontDoor + "/").1 == "1.0.0")
        }
    }

    @Test func failedStartsRollBackWithTheScriptsOutputAndNoSecret() async throws {
        // RIPCORD_DRIVER_TEST_TOKEN is in the controller's environment (set by CRipcordTestEnvironment).
        try await withScripts("command-start", instances: 1) { harness in
            try await harness.finish(try await harness.deploy("1.0.0"))

            let refused = try await harness.finish(try await harness.deploy("3.0.0"))
            #expect(refused.phase == .rolledBack && refused.trigger?.kind == .instanceFailedToStart)
            #expect(refused.trigger?.message.contains("exited with status 1: no capacity left for checkout 3.0.0") == true)
            let rollback = try #require(try await harness.events(refused).first { $0.kind == "rollout.rolledBack" })
            let output = try #require(rollback.evidence["output"])
            #expect(output.contains("no capacity left for checkout 3.0.0 (token [redacted])") && !output.contains("s3cr3t"))
            #expect(rollback.evidence["script"] == "start")
            #expect(stops(harness).contains("checkout-3.0.0-"), "the half-started instance was stopped")

            let silent = try await harness.finish(try await harness.deploy("4.0.0"))
            #expect(silent.phase == .rolledBack && silent.trigger?.kind == .instanceFailedToStart)
            #expect(silent.trigger?.message.contains("exited 0 but printed no line address=HOST:PORT") == true, "\(silent.trigger?.message ?? "")")
            #expect(silent.trigger?.evidence["output"]?.contains("started, somewhere") == true)
            #expect(try await get(await harness.frontDoor + "/").1 == "1.0.0")
        }
    }

    @Test func restartedControllerAdoptsTheInstancesItsCheckFindsRunning() async throws {
        let first = try await DeployScripts.harness("command-restart", strategy: Self.canary)
        try await first.finish(try await first.deploy("1.0.0"))
        let before = try await stableSet(first)
        await first.server.shutdown(keepInstances: true)
        #expect(before.allSatisfy { processRuns($0.pid) }, "instances outlive the controller")
        kill(before[0].pid, SIGKILL)
        try await eventually("one instance gone while the controller was down") { !processRuns(before[0].pid) }

        let config = try String(contentsOfFile: "\(first.directory)/ripcord.yaml", encoding: .utf8)
        try await Harness.start(in: first.directory, config: config).run { second in
            let events = try await second.server.store.events(service: "checkout", rolloutID: nil, afterID: 0, limit: 1000)
            let adopted = try #require(events.first { $0.kind == "instances.adopted" })
            #expect(adopted.evidence["stable"] == before[1].id, "only the instance whose check says it runs is adopted")
            let after = try await second.server.controller.status(service: "checkout").stableInstances
            #expect(after.count == 2 && after.contains { $0.id == before[1].id && $0.pid == before[1].pid })
            #expect(!after.contains { $0.id == before[0].id }, "the gone one was replaced")
            #expect(try await get(await second.frontDoor + "/").1 == "1.0.0")
        }
        try await eventually("every instance stopped through the scripts") { !processRuns(before[1].pid) }
    }
}

/// The driver alone against small scripts: check errors, shared check answers, timeouts.
@Suite(.tags(.integration)) struct CommandDriverTests {
    func script(_ directory: String, _ name: String, _ body: String) throws {
        let path = "\(directory)/\(name)"
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    /// An instance whose check is `checkScript` (`check.sh` in a fresh folder), due every `interval`. Run by
    /// `sh`, not executed itself: a file just written can't be executed while a process spawned meanwhile
    /// by a test running beside this one still holds it open (ETXTBSY).
    func instanceChecked(by checkScript: String, every interval: TimeSpan) throws -> (directory: String, record: InstanceRecord) {
        let directory = try temporaryDirectory("driver-check")
        try script(directory, "check.sh", checkScript)
        let spec = CommandDriverSpec(start: "true", stop: "true", check: "sh ./check.sh", workingDirectory: directory, checkInterval: interval)
        return (directory, try instance(spec))
    }

    func instance(_ spec: CommandDriverSpec) throws -> InstanceRecord {
        InstanceRecord(
            id: "web-1.0.0-1-abc", service: "web", version: try SemanticVersion(parsing: "1.0.0"), host: "10.0.0.9", port: 8080,
            pid: 0, startedAt: Moment(millisecondsSinceEpoch: 0), driver: .command(spec), handle: "alloc-7")
    }

    @Test func checkErrorsCountAsRunningUntilTheirLimit() async throws {
        let directory = try temporaryDirectory("driver-check-errors")
        try script(directory, "check.sh", "echo \"cannot reach $RIPCORD_ADDRESS ($RIPCORD_HANDLE)\"; exit 2")
        let spec = CommandDriverSpec(
            start: "true", stop: "true", check: "./check.sh", workingDirectory: directory,
            checkInterval: .milliseconds(1), checkErrorLimit: 2)
        let driver = CommandDriver()
        let record = try instance(spec)
        #expect(await driver.isRunning(record), "one check error is not a dead instance")
        try await eventually("the second check error") { await driver.exitStatus(of: record) != nil }
        #expect(
            await driver.exitStatus(of: record)
                == "could not be checked 2 times in a row (last: the check exited with status 2: cannot reach 10.0.0.9:8080 (alloc-7))")
        #expect(!(await driver.isRunning(record)))
    }

    @Test func callersWithinTheCheckIntervalShareOneCheck() async throws {
        let directory = try temporaryDirectory("driver-check-shared")
        try script(directory, "check.sh", "echo checked >>\"$(dirname \"$0\")/checks.log\"")
        let spec = CommandDriverSpec(start: "true", stop: "true", check: "./check.sh", workingDirectory: directory, checkInterval: .seconds(60))
        let driver = CommandDriver()
        let record = try instance(spec)
        let answers = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<5 { group.addTask { await driver.isRunning(record) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers == Array(repeating: true, count: 5))
        #expect(await driver.exitStatus(of: record) == nil)
        #expect(try String(contentsOfFile: "\(directory)/checks.log", encoding: .utf8) == "checked\n")
    }

    @Test func askingAboutManyChecksOnlyThoseDueAndAnswersTheRestFromTheirLastCheck() async throws {
        let directory = try temporaryDirectory("driver-check-batch")
        try script(
            directory, "check.sh", "mktemp \"ran-$RIPCORD_INSTANCE.XXXXXX\" >/dev/null\n[ ! -e \"$RIPCORD_INSTANCE.gone\" ] || { echo gone; exit 1; }")
        let spec = CommandDriverSpec(start: "true", stop: "true", check: "./check.sh", workingDirectory: directory, checkInterval: .milliseconds(600))
        var first = try instance(spec), second = try instance(spec)
        (first.id, second.id) = ("web-a", "web-b")
        let driver = CommandDriver()
        // A file per check run, not a line appended to one log: nothing two checks at once could mix.
        let checks = { (instance: String) in files(in: directory, named: "ran-\(instance).") }
        #expect(await driver.running([first, second]).map(\.id) == ["web-a", "web-b"])
        #expect(checks("web-a") == 1 && checks("web-b") == 1)
        #expect(FileManager.default.createFile(atPath: "\(directory)/web-b.gone", contents: nil))
        #expect(await driver.running([first, second]).map(\.id) == ["web-a", "web-b"], "answered from the checks just run")
        #expect(checks("web-a") == 1 && checks("web-b") == 1)
        try await eventually("the next checks tell that web-b is gone", within: 10) {
            await driver.running([first, second]).map(\.id) == ["web-a"]
        }
        #expect(checks("web-b") == 2, "checked again once due, and only once")
        #expect(checks("web-a") <= 2)
        #expect(await driver.exitStatus(of: second) == "was reported gone by its check: gone")
    }

    @Test func aCheckIsAsOldAsItsStartSoASlowOneIsRunAgainOneIntervalLater() async throws {
        let (directory, record) = try instanceChecked(by: "mktemp \"ran.XXXXXX\" >/dev/null\nsleep 0.3", every: .seconds(1))
        let driver = CommandDriver()
        let runs = { files(in: directory, named: "ran.") }
        #expect(await driver.running([record]).count == 1)
        let answered = ContinuousClock.now
        #expect(runs() == 1)
        // 0.7 s after the answer, at least one interval after the check started (it took 0.3 s): an answer
        // as old as its check's start is due again; one dated from its end would stand for 0.2 s more.
        try await Task.sleep(until: answered + .milliseconds(700), clock: .continuous)
        #expect(await driver.running([record]).count == 1)
        #expect(runs() == 2)
    }

    @Test func aCheckSlowerThanItsAnswerStandsStillCountsTheInstanceRunning() async throws {
        // 0.6 s: longer than the 0.45 s an answer stands at a 0.5 s interval, so it is due again on arrival.
        let (_, record) = try instanceChecked(by: "sleep 0.6", every: .milliseconds(500))
        let driver = CommandDriver()
        #expect(await driver.running([record]).map(\.id) == [record.id])
        #expect(await driver.exitStatus(of: record) == nil)
    }

    @Test func aStartScriptOutlivingItsTimeoutIsKilledWithItsChildren() async throws {
        let directory = try temporaryDirectory("driver-timeout")
        try script(directory, "start.sh", "sleep 30 &\necho $! >\"$(dirname \"$0\")/sleep.pid\"\nwait")
        let spec = CommandDriverSpec(start: "./start.sh", stop: "true", check: "true", timeout: .milliseconds(500), workingDirectory: directory)
        let service = ServiceSpec(name: "web", listen: HostPort(host: "127.0.0.1", port: 0), run: RunSpec(command: ""), driver: .command(spec))
        do {
            let planned = InstanceRecord(
                id: "web-1.0.0-1-timeout", service: "web", version: try SemanticVersion(parsing: "1.0.0"), host: "127.0.0.1", port: 1, pid: 0,
                startedAt: Moment(millisecondsSinceEpoch: 0), driver: service.driver, starting: true)
            _ = try await CommandDriver().start(planned, service: service)
            Issue.record("a start that timed out succeeded")
        } catch let error as DriverError {
            #expect(error.message.contains("did not finish within 500ms"), "\(error.message)")
        }
        let sleeper = try #require(pidWritten(to: "\(directory)/sleep.pid"))
        try await eventually("the script's child killed") { !processRuns(sleeper) }
    }
}
