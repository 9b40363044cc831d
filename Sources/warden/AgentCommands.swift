import AgentIdentity
import ArgumentParser
import Foundation
import Rego
import RegoYAML
import Store

/// `warden agent …`: the agent registry and the kill switch.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Register, inspect, renew, retire, kill and revive agents.",
        subcommands: [Register.self, List.self, Show.self, Renew.self, Retire.self, Kill.self, Revive.self])

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate an agent manifest (YAML) and store it; an existing agent with that id is updated.")

        @Option(name: .shortAndLong, help: "The agent manifest (YAML).")
        var file: String

        @Option(help: "Who is registering (default: $USER).")
        var actor: String?

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("\(file): cannot read the manifest") }
                let value: Value
                do { value = try RegoYAML.parse(String(decoding: data, as: UTF8.self)) } catch {
                    throw CLIError("\(file): not valid YAML: \(error)")
                }
                let record: AgentRecord
                do { record = try AgentManifest.parse(value, now: Int64(Date().timeIntervalSince1970)) } catch {
                    throw CLIError("\(file): \(error)")
                }
                let db = try database.connect()
                let created = try PostgresAgentRegistry(db).register(record, manifestJSON: value.jsonString(), actor: currentActor(actor))
                print("\(created ? "registered" : "updated") agent \(record.id): owner \(record.owner!.name) <\(record.owner!.contact)>, "
                      + "tier \(record.tier) (\(AgentRecord.tierNames[record.tier]!)), expires \(day(record.expiresAt))")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered agents.")

        @Option(help: "table or json.")
        var format: OutputFormat = .table

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                let agents = try PostgresAgentRegistry(try database.connect()).agents()
                if format == .json {
                    print(Value.array(agents.map(\.regoValue)).jsonString())
                    return
                }
                let now = Int64(Date().timeIntervalSince1970)
                printTable(["ID", "OWNER", "TEAM", "TIER", "STATUS", "EXPIRES"], agents.map { a in
                    [a.id, a.owner?.contact ?? "(none)", a.team, String(a.tier),
                     a.status == .active && a.expiresAt < now ? "expired" : a.status.rawValue, day(a.expiresAt)]
                })
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one agent and its history.")

        @Argument(help: "The agent id.")
        var id: String

        @Option(help: "table or json.")
        var format: OutputFormat = .table

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                let registry = PostgresAgentRegistry(try database.connect())
                guard let a = try registry.agent(id) else { throw CLIError("no agent \(id) is registered (`warden agent list` shows them)") }
                let events = try registry.events(id)
                if format == .json {
                    guard case .object(var o) = a.regoValue else { return }
                    if let reason = a.killedReason { o["killed_reason"] = .string(reason) }
                    o["history"] = .array(events.map { e in
                        var f: [String: Value] = ["action": .string(e.action), "actor": .string(e.actor), "at": .string(e.at)]
                        if let r = e.reason { f["reason"] = .string(r) }
                        return .object(RegoObject(fields: f))
                    })
                    print(Value.object(o).jsonString())
                    return
                }
                print("agent        \(a.id)")
                print("owner        \(a.owner.map { "\($0.name) <\($0.contact)>" } ?? "(none: the agent is refused)")")
                print("team         \(a.team)")
                print("purpose      \(a.purpose)")
                print("tier         \(a.tier) (\(AgentRecord.tierNames[a.tier] ?? "?"))")
                if let t = a.tenant { print("tenant       \(t)") }
                print("environments \(a.environments.joined(separator: ", "))")
                print("tools        \(a.tools.joined(separator: ", "))")
                print("expires      \(RFC3339.format(seconds: Int(a.expiresAt), nanos: 0))")
                print("status       \(a.status.rawValue)\(a.killedReason.map { " (\($0))" } ?? "")")
                if let after = a.tokensValidAfter { print("tokens       issued after \(RFC3339.format(seconds: Int(after), nanos: 0)) only") }
                print("history")
                for e in events { print("  \(e.at)  \(e.action)  by \(e.actor)\(e.reason.map { ": \($0)" } ?? "")") }
            }
        }
    }

    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Extend an agent's access to a new expiry.")

        @Argument(help: "The agent id.")
        var id: String

        @Option(help: "The new expiry: a date (YYYY-MM-DD, end of day UTC) or an RFC 3339 time.")
        var until: String

        @Option(help: "Who is renewing (default: $USER).")
        var actor: String?

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                guard let t = AgentManifest.parseExpiry(until) else { throw CLIError("--until \(until): not a date (YYYY-MM-DD) or an RFC 3339 time") }
                guard t > Int64(Date().timeIntervalSince1970) else { throw CLIError("--until \(until) is in the past") }
                try PostgresAgentRegistry(try database.connect()).renew(id, until: t, actor: currentActor(actor))
                print("renewed agent \(id) until \(RFC3339.format(seconds: Int(t), nanos: 0))")
            }
        }
    }

    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retire an agent for good; its id cannot act again.")

        @Argument(help: "The agent id.")
        var id: String

        @Option(help: "Why.")
        var reason: String?

        @Option(help: "Who is retiring it (default: $USER).")
        var actor: String?

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                try PostgresAgentRegistry(try database.connect()).retire(id, reason: reason, actor: currentActor(actor))
                print("retired agent \(id)")
            }
        }
    }

    struct Kill: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop an agent on every running Warden within a second; its tokens issued so far stay refused.")

        @Argument(help: "The agent id.")
        var id: String

        @Option(help: "Why (recorded and shown to the agent's developer).")
        var reason: String

        @Option(help: "Who is killing it (default: $USER).")
        var actor: String?

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                try PostgresAgentRegistry(try database.connect()).kill(id, reason: reason, actor: currentActor(actor))
                print("killed agent \(id): every Warden refuses it from now on; `warden agent revive \(id)` undoes it (old tokens stay refused)")
            }
        }
    }

    struct Revive: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a killed agent act again, with newly minted tokens only.")

        @Argument(help: "The agent id.")
        var id: String

        @Option(help: "Why.")
        var reason: String?

        @Option(help: "Who is reviving it (default: $USER).")
        var actor: String?

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                try PostgresAgentRegistry(try database.connect()).revive(id, reason: reason, actor: currentActor(actor))
                print("revived agent \(id); tokens issued before its kill stay refused: mint a new one")
            }
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument {
    case table, json
}

func day(_ seconds: Int64) -> String { String(RFC3339.format(seconds: Int(seconds), nanos: 0).prefix(10)) }

/// Columns padded to the widest cell.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    print(line(header))
    for r in rows { print(line(r)) }
}
