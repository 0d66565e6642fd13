import RipcordCore

extension ConfigLoader {
    /// `driver: { command: { start, stop, check, timeout, workingDirectory, checkInterval, checkErrorLimit } }`.
    static func driverSpec(_ node: Located, baseDirectory: String) throws -> DriverSpec {
        let map = try node.mapping()
        let spec = try map.required("command") { node -> CommandDriverSpec in
            let settings = try node.mapping()
            func script(_ key: String) throws -> String {
                try settings.required(key) { node in
                    let command = try node.string()
                    guard !RunSpec.splitWords(command).isEmpty else { throw node.error("the \(key) script is empty") }
                    return command
                }
            }
            var spec = CommandDriverSpec(start: try script("start"), stop: try script("stop"), check: try script("check"))
            func positive(_ key: String) throws -> TimeSpan? {
                try settings.optional(key) { node in
                    let span = try node.timeSpan()
                    guard span > .zero else { throw node.error("\(key) must be longer than 0s") }
                    return span
                }
            }
            spec.timeout = try positive("timeout") ?? spec.timeout
            spec.checkInterval = try positive("checkInterval") ?? spec.checkInterval
            spec.checkErrorLimit = try settings.optional("checkErrorLimit") { try $0.int(in: 1...1000) } ?? spec.checkErrorLimit
            // Scripts like ./deploy/start.sh are found beside the configuration unless told otherwise.
            spec.workingDirectory = absolute(try settings.optional("workingDirectory") { try $0.string() } ?? ".", base: baseDirectory)
            try settings.finish(allowed: ["start", "stop", "check", "timeout", "workingDirectory", "checkInterval", "checkErrorLimit"])
            return spec
        }
        try map.finish(allowed: ["command"])
        return .command(spec)
    }

    /// `run` belongs to the process driver: required with it, refused beside `driver.command`.
    static func processRun(_ map: MappingReader, driver: DriverSpec, _ read: (Located) throws -> RunSpec) throws -> RunSpec {
        guard driver == .process else {
            if let run = map.value("run") { throw run.error("give either run (Ripcord starts local processes) or driver.command (your scripts do), not both") }
            return RunSpec(command: "")
        }
        guard let run = map.value("run") else {
            throw map.location.error("missing required key 'run' (Ripcord starts local processes), or give driver.command (your scripts do)")
        }
        return try read(run)
    }
}
