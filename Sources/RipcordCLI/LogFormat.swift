import ArgumentParser
import Foundation
import Logging
import RipcordCore

/// How `serve` and `router` write their log: `text` for people, `json` for log pipelines.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json

    /// Installs the format for the whole process (once, before the first logger is made).
    func bootstrap() {
        guard self == .json else { return }
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
    }
}

/// One JSON object per line with Elastic Common Schema field names (`@timestamp`, `log.level`,
/// `message`, `log.logger`, `ecs.version`, then the metadata), so Elasticsearch, Logstash and Datadog
/// take the lines unchanged. Evidence and other nested metadata stay objects a query can reach into.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, Logger.Metadata.Value)] = [
            ("@timestamp", .string(Self.timestamp())), ("log.level", .string(event.level.rawValue)),
            ("message", .string(event.message.description)), ("log.logger", .string(label)), ("ecs.version", .string("8.11.0")),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() { fields.append((key, merged[key]!)) }
        var line = "{" + fields.map { "\(JSONText.quoted($0.0)):\(Self.json($0.1))" }.joined(separator: ",") + "}\n"
        // One write per record, so lines from concurrent tasks never interleave.
        line.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }

    private static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case let .string(text): JSONText.quoted(text)
        case let .stringConvertible(value): JSONText.quoted(value.description)
        case let .array(values): "[" + values.map(json).joined(separator: ",") + "]"
        case let .dictionary(values): "{" + values.keys.sorted().map { "\(JSONText.quoted($0)):\(json(values[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    private static func timestamp() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var parts = tm()
        var seconds = time.tv_sec
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min,
            parts.tm_sec, time.tv_nsec / 1_000_000)
    }
}
