/// Who runs a service's instances.
public enum DriverSpec: Sendable, Equatable, Hashable, Codable {
    /// Local child processes started from the service's `run` command (the default).
    case process
    /// The user's own scripts start, stop and check instances (systemd, Ansible, Nomad, SSH…);
    /// the contract is in docs/drivers.md.
    case command(CommandDriverSpec)

    /// How long an answer to "does this instance still run?" stands: asking sooner cannot tell more.
    /// Zero for processes (a system call answers anew each time).
    public var answerStands: TimeSpan {
        switch self {
        case .process: .zero
        case let .command(spec): spec.checkInterval
        }
    }
}

/// The scripts of the command driver. Each is a command template, split like a shell would (not run
/// through one); `{service}`, `{version}`, `{port}`, `{instance}` (and for stop and check `{address}`,
/// `{pid}`, `{handle}`) are filled in, and the same values are in `RIPCORD_*` environment variables.
public struct CommandDriverSpec: Sendable, Equatable, Hashable, Codable {
    /// Starts an instance; exits 0 and prints `address=HOST:PORT` (optionally `pid=N`, `handle=…`).
    public var start: String
    /// Stops an instance; must succeed for one that is already gone.
    public var stop: String
    /// Exits 0 while the instance runs, 1 once it is gone; anything else is a check error.
    public var check: String
    /// Each script is killed (its whole process group) when it runs longer.
    public var timeout: TimeSpan
    /// Where the scripts run; relative script paths resolve against it.
    public var workingDirectory: String?
    /// A check's answer is reused for this long, so callers asking at once run the script once.
    public var checkInterval: TimeSpan
    /// Consecutive check errors after which an instance counts as gone (before that, as running).
    public var checkErrorLimit: Int

    public init(
        start: String, stop: String, check: String, timeout: TimeSpan = .seconds(30), workingDirectory: String? = nil,
        checkInterval: TimeSpan = .seconds(1), checkErrorLimit: Int = 3
    ) {
        self.start = start
        self.stop = stop
        self.check = check
        self.timeout = timeout
        self.workingDirectory = workingDirectory
        self.checkInterval = checkInterval
        self.checkErrorLimit = checkErrorLimit
    }
}
