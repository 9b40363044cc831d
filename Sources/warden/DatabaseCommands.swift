import ArgumentParser
import Foundation
import Store
import Warden

#if canImport(Glibc)
import Glibc
#endif

/// `--config` and `--database-url`, for every command that talks to PostgreSQL. The URL
/// comes from the flag, then `WARDEN_DATABASE_URL`, then the config file's `database.url`.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "Configuration file (warden.yaml), for database.url and identity settings.")
    var config: String?

    @Option(name: .customLong("database-url"), help: "PostgreSQL connection URL (default: WARDEN_DATABASE_URL, then the config file).")
    var databaseURL: String?

    func loadConfig() throws -> WardenConfig {
        do {
            var cfg = try config.map { try WardenConfig.load(file: $0) } ?? WardenConfig()
            try cfg.applyEnvironment(ProcessInfo.processInfo.environment)
            if let databaseURL { cfg.databaseURL = databaseURL }
            return cfg
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// A connection with the schema brought up to date.
    func connect() throws -> PostgresConnection {
        let cfg = try loadConfig()
        guard !cfg.databaseURL.isEmpty else {
            throw CLIError("no database: pass --database-url, set WARDEN_DATABASE_URL, or database.url in --config")
        }
        do {
            let db = try PostgresConnection(url: cfg.databaseURL)
            try Migrations.migrate(db)
            return db
        } catch {
            throw CLIError("\(error)")
        }
    }
}

/// A command-line failure: printed as `warden: message`, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension ParsableCommand {
    /// Runs `body`, printing a CLIError or StoreError as one line and exiting 1.
    func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as ExitCode {
            throw e
        } catch {
            printStderr("warden: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Who ran the command, for the registry's event history.
func currentActor(_ flag: String?) -> String {
    if let flag { return flag }
    let env = ProcessInfo.processInfo.environment
    if let name = env["SUDO_USER"] ?? env["USER"] ?? env["LOGNAME"] { return name }
    if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
    return "uid \(getuid())"
}

struct DatabaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Manage Warden's PostgreSQL schema.", subcommands: [Migrate.self])

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate", abstract: "Apply the schema migrations not yet applied (also done by `warden serve` at start).")

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            try reportingErrors {
                let cfg = try database.loadConfig()
                guard !cfg.databaseURL.isEmpty else { throw CLIError("no database: pass --database-url or set WARDEN_DATABASE_URL") }
                do {
                    let db = try PostgresConnection(url: cfg.databaseURL)
                    let applied = try Migrations.migrate(db)
                    if applied.isEmpty {
                        print("the schema is up to date (version \(Migrations.all.last?.version ?? 0))")
                    }
                    for step in applied { print("applied migration \(step.version): \(step.name)") }
                } catch {
                    throw CLIError("\(error)")
                }
            }
        }
    }
}
