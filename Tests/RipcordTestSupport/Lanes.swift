import Testing

// The two lanes of the suite. `scripts/test.sh --unit` runs the unit lane alone: it skips every
// suite tagged `.integration` (see the script), so a suite that starts a process, opens a socket or
// needs PostgreSQL, Prometheus, HAProxy, nginx or chromium must carry that tag.
extension Tag {
    /// Pure logic in process: no child process, no socket, no server. Seconds for the whole lane.
    @Tag public static var unit: Tag
    /// Real processes, sockets and servers on loopback.
    @Tag public static var integration: Tag
}
