import RipcordConfig
import RipcordCore
import Testing

/// The command driver's configuration.
extension ConfigLoaderTests {
    static let service = "services:\n  a:\n    listen: 127.0.0.1:1\n"

    @Test func driverCommandIsReadWithDefaultsBesideTheConfig() throws {
        let config = try parse(
            Self.service + """
                    driver:
                      command:
                        start: ./deploy/start.sh {service} {version}
                        stop: ./deploy/stop.sh
                        check: "./deploy/check.sh --instance {instance}"
                        timeout: 45s
                """)
        let spec = try #require(config.service(named: "a"))
        #expect(
            spec.driver
                == .command(
                    CommandDriverSpec(
                        start: "./deploy/start.sh {service} {version}", stop: "./deploy/stop.sh",
                        check: "./deploy/check.sh --instance {instance}", timeout: .seconds(45),
                        workingDirectory: "/etc/ripcord", checkInterval: .seconds(1), checkErrorLimit: 3)))
        let tuned = try parse(
            Self.service + """
                    driver: { command: { start: s, stop: t, check: c, workingDirectory: ops, checkInterval: 5s, checkErrorLimit: 10 } }
                """)
        guard case let .command(command) = try #require(tuned.service(named: "a")).driver else {
            Issue.record("not the command driver")
            return
        }
        #expect(command.workingDirectory == "/etc/ripcord/ops" && command.checkInterval == .seconds(5) && command.checkErrorLimit == 10)
        #expect(command.timeout == .seconds(30))
    }

    @Test func runStaysTheProcessDriver() throws {
        let config = try parse(Self.service + "    run: { command: 'a {port}' }\n")
        #expect(config.service(named: "a")?.driver == .process)
    }

    @Test func driverErrorsNameTheField() throws {
        let scripts = "start: s, stop: t, check: c"
        let both = try #require(error(Self.service + "    run: { command: 'a {port}' }\n    driver: { command: { \(scripts) } }\n"))
        #expect(both.key == "services.a.run" && both.line == 4 && both.message.contains("not both"))
        let neither = try #require(error(Self.service))
        #expect(neither.key == "services.a" && neither.message.contains("driver.command"))
        let noCheck = try #require(error(Self.service + "    driver: { command: { start: s, stop: t } }\n"))
        #expect(noCheck.key == "services.a.driver.command" && noCheck.message.contains("'check'"))
        let empty = try #require(error(Self.service + "    driver: { command: { start: '  ', stop: t, check: c } }\n"))
        #expect(empty.key == "services.a.driver.command.start" && empty.message.contains("empty"))
        let zero = try #require(error(Self.service + "    driver: { command: { \(scripts), timeout: 0s } }\n"))
        #expect(zero.key == "services.a.driver.command.timeout")
        let unknownDriver = try #require(error(Self.service + "    driver: { nomad: { job: x } }\n"))
        #expect(unknownDriver.key.hasPrefix("services.a.driver") && unknownDriver.message.contains("command"))
        let typo = try #require(error(Self.service + "    driver: { command: { \(scripts), timout: 5s } }\n"))
        #expect(typo.key == "services.a.driver.command.timout" && typo.line == 4)
    }
}
