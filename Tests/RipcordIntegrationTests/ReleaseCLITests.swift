import Foundation
import RipcordDrivers
import RipcordTestSupport
import Testing

/// `ripcord release …` as a user runs it, against a real `ripcord serve`.
@Suite(.serialized, .tags(.integration)) struct ReleaseCLITests {
    @Test func applyWaitStatusHistoryAndUndo() async throws {
        let (server, _, directory, config) = try await ServeProcessTests.startServe("release-cli")
        func ripcord(_ arguments: String...) async throws -> (Int32, String) {
            try await ChildProcess.runRipcord(arguments + ["--config", config])
        }
        func manifest(_ name: String, _ text: String) throws -> String {
            let path = "\(directory)/\(name).yaml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        let broken = try manifest("broken", "services:\n  checkout:\n    version: 1.0\n")
        let (refused, refusal) = try await ripcord("release", "apply", broken)
        #expect(refused != 0 && refusal.contains("broken.yaml:3") && refusal.contains("services.checkout.version"), "\(refusal)")

        let first = try manifest("first", "name: first\nservices:\n  checkout: { version: 1.0.0 }\n")
        let (applied, appliedOutput) = try await ripcord("release", "apply", first, "--wait")
        #expect(applied == 0 && appliedOutput.contains("promoted: checkout 1.0.0"), "\(appliedOutput)")

        let second = try manifest("second", "name: second\nservices:\n  checkout: { version: 2.0.0, requires: { checkout-db: \">=1\" } }\n")
        let (unknown, unknownOutput) = try await ripcord("release", "apply", second)
        #expect(unknown == 1 && unknownOutput.contains("unknown_service"), "\(unknownOutput)")

        let third = try manifest("third", "name: third\nservices:\n  checkout: { version: 2.0.0 }\n")
        #expect(try await ripcord("release", "apply", third, "--wait").0 == 0)
        let (_, history) = try await ripcord("release", "history")
        #expect(history.contains("third: promoted  checkout 2.0.0") && history.contains("first: promoted  checkout 1.0.0"), "\(history)")

        let (undone, undoOutput) = try await ripcord("release", "undo", "--wait")
        #expect(undone == 0 && undoOutput.contains("undo third") && undoOutput.contains("promoted: checkout 1.0.0"), "\(undoOutput)")
        let (_, status) = try await ripcord("release", "status")
        #expect(status.contains("(undoes release 2)") && status.contains("checkout 2.0.0 → 1.0.0: rollout"), "\(status)")
        #expect(status.contains("release.promoted"), "the status shows the release's events: \(status)")

        server.signal(SIGTERM)
        try await server.wait()
    }
}
