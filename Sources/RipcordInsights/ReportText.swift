import Foundation
import RipcordCore

extension DeploymentReport {
    /// For a wiki page or a pull request: the overall keys, one row per service, the weekly trend.
    public func markdown() -> String {
        var out = "# Delivery report, \(since) to \(until)\n\n"
        out += "| | deployments | per day | change failure rate | rollbacks | aborts | time to detect (median / p90) | time to restore (median / p90) |\n"
        out += "|---|---|---|---|---|---|---|---|\n"
        for row in [overall] + services {
            out += "| \(row.service == "all" ? "**all services**" : row.service) | \(row.deployments) | \(formatDecimal(row.deploymentsPerDay, digits: 2)) | "
            out += "\(Format.percent(row.changeFailureRate)) | \(row.rolledBack) | \(row.aborted) | \(Self.pair(row.timeToDetect)) | \(Self.pair(row.timeToRestore)) |\n"
        }
        out += "\n## Rollbacks\n\n"
        out += "- by trigger: \(Self.counts(overall.rollbacksByTrigger))\n"
        out += "- by metric: \(Self.counts(overall.rollbacksByMetric))\n"
        out += "- caught before any user got the version: \(overall.caughtBeforeTraffic)\n"
        out += "- flags turned off by rollbacks: \(overall.flagsTurnedOff); migrations undone: \(overall.migrationsUndone)\n"
        out += "\n## Week over week\n\n| week from | deployments | rollbacks | change failure rate | median time to restore |\n|---|---|---|---|---|\n"
        for week in weeks {
            out += "| \(week.from) | \(week.deployments) | \(week.rolledBack) | \(Format.percent(week.changeFailureRate)) | "
            out += "\(week.medianTimeToRestoreSeconds.map(Format.seconds) ?? "–") |\n"
        }
        out += "\n## Drills\n\n\(drills.run) run, \(drills.passed) rolled back as they should"
        if let restore = drills.timeToRestore { out += "; time to restore \(Format.seconds(restore.medianSeconds)) median, \(Format.seconds(restore.p90Seconds)) p90" }
        return out + "\n"
    }

    /// One row per service (and `all`), for a spreadsheet.
    public func csv() -> String {
        var out = "service,deployments,promoted,rolled_back,aborted,in_progress,deployments_per_day,change_failure_rate,"
        out += "time_to_detect_median_s,time_to_detect_p90_s,time_to_restore_median_s,time_to_restore_p90_s,caught_before_traffic,flags_turned_off,migrations_undone\n"
        for row in [overall] + services {
            let fields: [String] = [
                Self.csvField(row.service), String(row.deployments), String(row.promoted), String(row.rolledBack), String(row.aborted),
                String(row.inProgress), formatDecimal(row.deploymentsPerDay, digits: 4), row.changeFailureRate.map { formatDecimal($0, digits: 4) } ?? "",
                row.timeToDetect.map { formatDecimal($0.medianSeconds, digits: 3) } ?? "", row.timeToDetect.map { formatDecimal($0.p90Seconds, digits: 3) } ?? "",
                row.timeToRestore.map { formatDecimal($0.medianSeconds, digits: 3) } ?? "", row.timeToRestore.map { formatDecimal($0.p90Seconds, digits: 3) } ?? "",
                String(row.caughtBeforeTraffic), String(row.flagsTurnedOff), String(row.migrationsUndone),
            ]
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }

    private static func pair(_ percentiles: Percentiles?) -> String {
        percentiles.map { "\(Format.seconds($0.medianSeconds)) / \(Format.seconds($0.p90Seconds))" } ?? "–"
    }

    private static func counts(_ counts: [String: Int]) -> String {
        counts.isEmpty ? "none" : counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    /// A service name is plain (letters, digits, `-_.`), but quoting costs nothing.
    private static func csvField(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}

extension Postmortem {
    /// Ready to paste into an incident document.
    public func markdown() -> String {
        var out = "# Post-mortem: \(subject)\n\n## Summary\n\n\(summary)\n\n## Impact\n\n"
        for member in members {
            out += "- **\(member.service)** \(member.version ?? "?") (from \(member.previousVersion ?? "nothing")): \(member.outcome.rawValue)"
            if let answered = member.requestsAnswered { out += "; answered \(answered) requests, \(member.requestsFailed ?? 0) failed" }
            if let restore = member.timeToRestoreSeconds { out += "; users had it for \(Format.seconds(restore))" }
            out += "\n"
        }
        out += "\n## Detection\n\n"
        for member in members where member.outcome == .rolledBack {
            out += "- **\(member.service)**: \(member.reason ?? member.trigger ?? "rolled back")"
            if let detect = member.timeToDetectSeconds { out += " — \(Format.seconds(detect)) after the first request" }
            out += "\n"
            for key in member.evidence.keys.sorted() { out += "  - `\(key)` = \(member.evidence[key]!)\n" }
        }
        out += "\n## What was undone\n\n"
        for member in members {
            for line in member.undone { out += "- \(member.service) — \(line)\n" }
        }
        out += "\n## Timeline (UTC)\n\n| time | service | event | what happened | by |\n|---|---|---|---|---|\n"
        for entry in timeline {
            out += "| \(entry.at) | \(entry.service) | \(entry.kind) | \(entry.message.replacingOccurrences(of: "|", with: "\\|")) | \(entry.actor ?? "ripcord") |\n"
        }
        out += "\n## Who acted\n\n\(actors.isEmpty ? "Ripcord alone: no command was given." : actors.joined(separator: ", "))\n"
        out += "\n## Root cause\n\n_To be written by the team._\n\n## Follow-ups\n\n- [ ] _To be written by the team._\n"
        return out
    }
}
