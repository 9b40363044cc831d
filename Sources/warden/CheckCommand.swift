import ArgumentParser
import Rego

/// `warden check`: parse and compile, print every error with its source line.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Parse and compile policies; print every error with file:line:col.")

    @Argument(help: "Policy files or directories.")
    var paths: [String]

    func run() throws {
        do {
            _ = try loadPolicy(data: paths, bundles: [])
        } catch {
            for err in error.errors { printStderr(err.rendered(sources: error.sources)) }
            printStderr("\(error.errors.count) error\(error.errors.count == 1 ? "" : "s") found")
            throw ExitCode(1)
        }
    }
}
