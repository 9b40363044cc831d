import AgentIdentity
import ArgumentParser
import Foundation
import Rego
import Store
import Warden

/// `warden audit verify`: walks the decision log's hash chain and signed checkpoints.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Check the decision log for tampering.", subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the hash chain and the signed checkpoints; report the first row altered, removed or inserted (exit 1), or that all is intact.")

        @Option(help: "Start at the last checkpoint before this time: 24h, 7d (ago) or an RFC 3339 time.")
        var since: String?

        @Option(help: "JWKS file of the audit keys to trust (default: the keys registered in the database).")
        var jwks: String?

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                let sinceSeconds = try since.map(parseSince)
                var trusted: [String: PublicKey]?
                if let jwks {
                    guard let data = FileManager.default.contents(atPath: jwks) else { throw CLIError("\(jwks): cannot read") }
                    trusted = [:]
                    for k in try SigningKey.parseJWKS(String(decoding: data, as: UTF8.self), source: jwks) {
                        if case .publicKey(let pk) = k.material { trusted?[k.kid] = pk }
                    }
                }
                let audit = PostgresAuditLog(try database.connect())
                do {
                    let r = try audit.verify(since: sinceSeconds, trustedKeys: trusted)
                    print("intact: \(r.rows) rows (seq \(r.firstSeq)–\(r.lastSeq)) chain correctly; \(r.checkpoints) signed checkpoints verify"
                          + (r.unsigned > 0 ? "; the last \(r.unsigned) rows are not yet covered by a checkpoint" : ""))
                } catch let problem as AuditChain.Problem {
                    print("TAMPERED: \(problem.description)")
                    throw ExitCode(1)
                }
            }
        }
    }
}

/// `24h`, `7d`, `30m` ago, or an RFC 3339 time / date → Unix seconds.
func parseSince(_ text: String) throws -> Int64 {
    if let d = parseDuration(text) { return Int64(Date().timeIntervalSince1970) - d }
    if let t = RFC3339.parse(text) ?? RFC3339.parseDate(text) { return t }
    throw CLIError("--since \(text): use a duration (24h, 7d) or an RFC 3339 time")
}

/// `warden report`: the report views, filtered.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Activity, denials, would-block ratios, policy coverage and evaluation latency from the decision log.",
        discussion: "The same data is in the SQL views warden_report_activity, warden_report_denials, warden_report_shadow, "
            + "warden_report_would_block_ratio, warden_report_coverage and warden_report_latency.")

    @Option(help: "How far back: 24h (default), 7d, or an RFC 3339 time.")
    var since: String = "24h"

    @Option(help: "Only this agent.")
    var agent: String?

    @Option(help: "table, json or csv.")
    var format: ReportFormat = .table

    @OptionGroup var database: DatabaseOptions

    enum ReportFormat: String, ExpressibleByArgument { case table, json, csv }

    func run() throws {
        try reportingErrors {
            let from = try parseSince(since)
            let db = try database.connect()
            let agent = self.agent
            let sections: [(String, SQL)] = [
                ("activity per agent and owner", """
                    SELECT agent_id, owner, sum(calls) AS calls, sum(allowed) AS allowed, sum(denied) AS denied, sum(would_block) AS would_block
                    FROM warden_report_activity WHERE hour >= date_trunc('hour', to_timestamp(\(from))) AND (\(agent)::text IS NULL OR agent_id = \(agent))
                    GROUP BY 1, 2 ORDER BY 3 DESC, 1
                    """),
                ("denials and would-block by reason", """
                    SELECT decision, reason, rule, policy_path, sum(n) AS n
                    FROM warden_report_denials WHERE hour >= date_trunc('hour', to_timestamp(\(from))) AND (\(agent)::text IS NULL OR agent_id = \(agent))
                    GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 2 LIMIT 50
                    """),
                ("would-block ratio per policy", """
                    SELECT coalesce(policy_path, '') AS policy_path, coalesce(bundle_revision, '') AS bundle_revision, count(*) AS calls,
                           count(*) FILTER (WHERE decision = 'would_block' OR shadow @> '[{"decision": "would_block"}]') AS would_block,
                           round(count(*) FILTER (WHERE decision = 'would_block' OR shadow @> '[{"decision": "would_block"}]')::numeric
                                 / greatest(count(*), 1), 4) AS ratio
                    FROM warden_decision_log WHERE time >= to_timestamp(\(from)) AND (\(agent)::text IS NULL OR agent_id = \(agent))
                    GROUP BY 1, 2 ORDER BY 3 DESC
                    """),
                ("policy coverage (calls and agents decided by an enforcing policy)", """
                    SELECT count(*) AS calls,
                           round(count(*) FILTER (WHERE enforced AND decision <> 'error')::numeric / greatest(count(*), 1), 4) AS enforced_call_share,
                           count(DISTINCT agent_id) FILTER (WHERE enforced AND decision <> 'error') AS enforced_agents,
                           (SELECT count(*) FROM warden_agents WHERE status = 'active') AS active_agents
                    FROM warden_decision_log WHERE time >= to_timestamp(\(from)) AND (\(agent)::text IS NULL OR agent_id = \(agent))
                    """),
                ("evaluation latency (µs)", """
                    SELECT coalesce(policy_path, '') AS policy_path, count(*) AS calls,
                           percentile_cont(0.5) WITHIN GROUP (ORDER BY eval_us) AS eval_p50,
                           percentile_cont(0.99) WITHIN GROUP (ORDER BY eval_us) AS eval_p99,
                           percentile_cont(0.99) WITHIN GROUP (ORDER BY total_us) AS total_p99
                    FROM warden_decision_log WHERE time >= to_timestamp(\(from)) AND (\(agent)::text IS NULL OR agent_id = \(agent))
                    GROUP BY 1 ORDER BY 2 DESC
                    """),
            ]
            var json: [String: Value] = [:]
            for (title, query) in sections {
                let result = try db.execute(query)
                switch format {
                case .table:
                    print("== \(title)")
                    printTable(result.columns, result.rows.map { row in result.columns.map { row[$0] ?? "" } })
                    print()
                case .csv:
                    print("# \(title)")
                    print(result.columns.joined(separator: ","))
                    for row in result.rows { print(result.columns.map { csvField(row[$0] ?? "") }.joined(separator: ",")) }
                case .json:
                    json[title] = .array(result.rows.map { row in
                        .object(RegoObject(fields: Dictionary(uniqueKeysWithValues: result.columns.map { c in
                            (c, row[c].map { Value.string($0) } ?? .null)
                        })))
                    })
                }
            }
            if format == .json { print(Value.object(RegoObject(fields: json)).jsonString()) }
        }
    }

    func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
