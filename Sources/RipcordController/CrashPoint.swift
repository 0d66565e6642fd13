import Foundation

/// Points between two steps that must be safe to interrupt, where `RIPCORD_CRASH_AT=<point>` ends the
/// process at once, as a kill -9 would (no cleanup, nothing flushed): the crash-recovery tests stop a real
/// controller exactly there. Unset, each point costs a comparison.
enum CrashPoint: String {
    /// An instance is saved as `starting`; nothing is spawned yet.
    case instanceSaved = "instance.saved"
    /// The instance's process runs; its pid is not saved yet.
    case instanceSpawned = "instance.spawned"
    /// The started instance is saved; its event and its routes are not.
    case instanceRecorded = "instance.recorded"

    private static let armed = ProcessInfo.processInfo.environment["RIPCORD_CRASH_AT"].flatMap(CrashPoint.init(rawValue:))

    static func reached(_ point: CrashPoint) {
        if armed == point { _exit(137) }
    }
}
