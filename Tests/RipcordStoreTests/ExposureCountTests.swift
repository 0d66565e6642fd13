import RipcordCore
import Foundation
import GRDB
import RipcordFlagService
import RipcordStore
import RipcordTestSupport
import Testing

/// SDK metrics are counts a client sends: bounded on the way in, summed without overflow, read back
/// without trusting what is stored (stored totals on both stores: FlagStoreContractTests).
@Suite(.tags(.unit)) struct ExposureCountTests {
    let directory = temporaryPath("exposures")

    func count(yes: Int = 0, no: Int = 0, variants: [String: Int] = [:]) -> ExposureCount {
        ExposureCount(appName: "shop", flag: "f1", yes: yes, no: no, variants: variants)
    }

    @Test func countsOutsideZeroToTheBoundAreRefusedNamingTheField() throws {
        #expect(throws: Never.self) { try count(yes: ExposureCount.maxReportedCount, variants: ["v": 0]).validated() }
        for (bad, field) in [
            (count(yes: -1), "f1.yes"), (count(no: ExposureCount.maxReportedCount + 1), "f1.no"),
            (count(variants: ["v": Int.max]), "f1.variants.v"),
        ] {
            do {
                _ = try bad.validated()
                Issue.record("\(bad) was accepted")
            } catch {
                #expect(error.code == "invalid_count" && error.message.contains(field), "\(error.message)")
            }
        }
    }

    @Test func totalsSaturateInsteadOfOverflowing() {
        var total = count(yes: Int.max - 1, no: 5, variants: ["v": Int.max])
        total.add(count(yes: 10, no: 1, variants: ["v": 1, "w": 2]))
        #expect(total.yes == Int.max && total.no == 6 && total.variants == ["v": Int.max, "w": 2])
    }

    /// Before counts were bounded, SQLite turned an overflowing `yes + excluded.yes` into a REAL, and
    /// reading that row trapped the process. Such a row must read as a (clamped) count.
    @Test func aRowWithARealOrANegativeCountReadsClampedInsteadOfTrapping() async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/state.sqlite"
        let store = try SQLiteStore(path: path)
        try await store.recordExposures([count(yes: 1)], environment: "production")
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "UPDATE flag_exposure SET yes = 1.8446744073709552e19, no = -4, variants = 'not json'")
        }
        let stored = try #require(try await store.exposures(environment: "production").first)
        #expect(stored.yes == Int.max && stored.no == 0 && stored.variants.isEmpty)
        try await store.recordExposures([count(yes: 1, no: 1)], environment: "production")
        #expect(try await store.exposures(environment: "production").first.map { [$0.yes, $0.no] } == [Int.max, 1])
    }
}
