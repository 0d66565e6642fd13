import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

/// Hostile input sent to a real `ripcord serve` over real sockets: a request can fail, the process cannot.
@Suite(.serialized) struct HostileClientTests {
    /// The crash reported with a client token: counts near Int.max, sent twice, overflowed the merge and
    /// stored a REAL that trapped the next read of the metrics. Each is refused now, and nothing is stored.
    @Test func sdkMetricsNearIntMaxAreRefusedAndTheProcessKeepsServing() async throws {
        let (process, api, _, _) = try await ServeProcessTests.startServe("hostile-metrics")
        defer { process.signal(SIGKILL) }
        let (status, created) = try await api.call("POST", "/api/v1/tokens", body: #"{"name":"sdk","kind":"client","environment":"production"}"#)
        #expect(status == 201)
        let sdk = ServeProcessTests.API(base: api.base, token: try #require(created["token"] as? String))

        let hostile = [
            #"{"appName":"x","bucket":{"toggles":{"f1":{"yes":1,"no":0,"variants":{"v":9223372036854775807}}}}}"#,
            #"{"appName":"x","bucket":{"toggles":{"f1":{"yes":9223372036854775807,"no":0}}}}"#,
            #"{"appName":"x","bucket":{"toggles":{"f1":{"yes":-5,"no":0}}}}"#,
            #"{"appName":"x","bucket":{"toggles":{"f1":{"yes":1e300,"no":0}}}}"#,
        ]
        for body in hostile {
            for _ in 0..<2 {
                let (code, error) = try await sdk.call("POST", "/api/client/metrics", body: body)
                #expect(code == 400, "\(body)")
                #expect((error["error"] as? [String: Any])?["code"] is String)
            }
        }
        #expect(try await sdk.call("POST", "/api/client/metrics",
                                   body: #"{"appName":"x","bucket":{"toggles":{"f1":{"yes":3,"no":1,"variants":{"v":2}}}}}"#).0 == 202)
        let (metricsStatus, metrics) = try await api.call("GET", "/api/v1/flag-metrics?environment=production")
        #expect(metricsStatus == 200)
        let exposures = try #require(metrics["exposures"] as? [[String: Any]])
        #expect(exposures.count == 1 && exposures[0]["yes"] as? Int == 3 && exposures[0]["no"] as? Int == 1)
        #expect(processExists(process.pid))
    }

    /// A duration near Int64.max used to trap when a deadline was computed from it.
    @Test func aDurationTooLongToHoldIsRefused() async throws {
        let (process, api, _, _) = try await ServeProcessTests.startServe("hostile-duration")
        defer { process.signal(SIGKILL) }
        #expect(try await api.call("POST", "/api/v1/flags?environment=production", body: FlagAPITests.checkoutFlag).0 == 201)
        for duration in ["9223372036854775807", #""99999999999999999999h""#] {
            let (status, body) = try await api.call("POST", "/api/v1/flags/new-checkout/guarded-rollouts?environment=production",
                                                    body: #"{"service":"checkout","steps":[50,100],"stepDuration":\#(duration)}"#)
            #expect(status == 400, "\(body)")
        }
        #expect(try await api.call("GET", "/api/v1/health").0 == 200)
        #expect(processExists(process.pid))
    }
}
