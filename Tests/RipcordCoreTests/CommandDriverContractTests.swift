import RipcordCore
import RipcordTestSupport
import Testing

/// The command driver's side of the contract that is pure: reading what a start script printed, and
/// keeping secrets out of the output Ripcord records.
@Suite(.tags(.unit)) struct CommandDriverContractTests {
    @Test func startReportTakesTheLastLineOfEachKeyAmongOtherOutput() throws {
        let report = try StartReport(
            parsing: """
                starting checkout 1.1.0 on port 20001
                address=127.0.0.1:1
                waiting for it...
                  address=10.0.0.7:20001
                pid=4242
                handle=checkout@1.1.0.service
                """)
        #expect(report == StartReport(address: HostPort(host: "10.0.0.7", port: 20001), pid: 4242, handle: "checkout@1.1.0.service"))
        #expect(try StartReport(parsing: "address=[::1]:8080\n") == StartReport(address: HostPort(host: "::1", port: 8080)))
        #expect(try StartReport(parsing: "address=web-3.internal:80\nhandle=\n").handle == nil)
    }

    @Test func startReportErrorsSayWhatIsWrong() {
        #expect(throws: StartReport.ParseError(description: "printed no line address=HOST:PORT")) {
            try StartReport(parsing: "started, see the logs\nmy address is 127.0.0.1:80\n")
        }
        #expect(throws: StartReport.ParseError(description: "printed address=localhost, which is not HOST:PORT")) {
            try StartReport(parsing: "address=localhost\n")
        }
        #expect(throws: StartReport.ParseError(description: "printed pid=abc, which is not a process id")) {
            try StartReport(parsing: "address=127.0.0.1:80\npid=abc\n")
        }
    }

    @Test func secretsOfTheEnvironmentAreBlankedOut() {
        let environment = [
            "DEPLOY_TOKEN": "tok-123456", "AWS_SECRET_ACCESS_KEY": "abcd/efgh", "SSH_KEY": "----KEY----",
            "DB_PASSWORD": "hunter22", "MODE": "production", "API_TOKEN": "ab",
        ]
        let output = "token tok-123456, key abcd/efgh ----KEY---- pw hunter22 in production (ab)"
        #expect(
            SecretRedaction.redact(output, environment: environment)
                == "token [redacted], key [redacted] [redacted] pw [redacted] in production (ab)")
    }
}
