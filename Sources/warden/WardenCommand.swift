import ArgumentParser

@main
struct WardenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warden",
        abstract: "The authorization layer for AI agents: Envoy ext_authz with Rego policies.",
        subcommands: [ServeCommand.self, EvalCommand.self, TestCommand.self, CheckCommand.self,
                      AgentCommand.self, KeysCommand.self, TokenCommand.self, DatabaseCommand.self, AuditCommand.self, ReportCommand.self])
}
