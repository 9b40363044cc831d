import ArgumentParser
import Foundation
import Rego

/// `warden test`: runs every `test_*` rule, like `opa test`.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run Rego policy tests (rules named test_*), like `opa test`.")

    enum Format: String, ExpressibleByArgument { case pretty, json }

    @Argument(help: "Policy and data files or directories.")
    var paths: [String] = ["."]

    @Flag(name: .shortAndLong, help: "Show every test, not only failures.")
    var verbose = false

    @Option(name: [.short, .customLong("run")], help: "Only run tests whose full name matches this regular expression.")
    var runPattern: String?

    @Option(name: .long, help: "Output format: pretty or json.")
    var format: Format = .pretty

    struct Outcome {
        let name: String
        let file: String
        let location: Location
        let status: String  // PASS, FAIL, ERROR, SKIPPED
        let error: RegoError?
        let micros: Int
    }

    func run() throws {
        let policy: CompiledPolicy
        do {
            (policy, _) = try loadPolicy(data: paths, bundles: [])
        } catch {
            for err in error.errors { printStderr(err.rendered(sources: error.sources)) }
            throw ExitCode(1)
        }
        let filter = try runPattern.map { try Regex($0) }
        var outcomes: [Outcome] = []
        var skipped = 0
        for (path, rule) in allTests(policy) {
            let name = "data." + path.joined(separator: ".")
            if let filter, (try? filter.firstMatch(in: name)) == nil { continue }
            if path.last!.hasPrefix("todo_test_") {
                skipped += 1
                outcomes.append(Outcome(name: name, file: rule.location.file, location: rule.location, status: "SKIPPED", error: nil, micros: 0))
                continue
            }
            var options = EvalOptions()
            options.printSink = { line in printStderr(line) }
            let start = DispatchTime.now().uptimeNanoseconds
            var status = "FAIL"
            var err: RegoError?
            do {
                if try policy.evaluate(path: path, input: nil, options: options) == .true { status = "PASS" }
            } catch {
                status = "ERROR"
                err = error
            }
            let micros = Int((DispatchTime.now().uptimeNanoseconds - start) / 1000)
            outcomes.append(Outcome(name: name, file: rule.location.file, location: rule.location, status: status, error: err, micros: micros))
        }
        let passed = outcomes.filter { $0.status == "PASS" }.count
        let failed = outcomes.filter { $0.status == "FAIL" }.count
        let errored = outcomes.filter { $0.status == "ERROR" }.count
        switch format {
        case .json:
            let rows: [Value] = outcomes.map { o in
                var f: [String: Value] = [
                    "package": .string(o.name.split(separator: ".").dropLast().joined(separator: ".")),
                    "name": .string(String(o.name.split(separator: ".").last!)),
                    "location": .object(RegoObject(fields: ["file": .string(o.file), "row": .int(o.location.row), "col": .int(o.location.col)])),
                    "duration": .int(o.micros * 1000),
                ]
                if o.status == "FAIL" { f["fail"] = .true }
                if o.status == "SKIPPED" { f["skip"] = .true }
                if let e = o.error { f["error"] = .object(RegoObject(fields: ["code": .string(e.code.rawValue), "message": .string(e.message)])) }
                return .object(RegoObject(fields: f))
            }
            print(Value.array(rows).prettyJSON())
        case .pretty:
            let bad = outcomes.filter { $0.status == "FAIL" || $0.status == "ERROR" }
            if !bad.isEmpty {
                print("FAILURES")
                print(String(repeating: "-", count: 80))
                for o in bad {
                    print("\(o.name): \(o.status) (\(o.location))")
                    if let e = o.error { print("  \(e)") }
                }
                print("")
            }
            print("SUMMARY")
            print(String(repeating: "-", count: 80))
            var lastFile = ""
            for o in outcomes where verbose || o.status != "PASS" {
                if o.file != lastFile { print("\(o.file):"); lastFile = o.file }
                print("\(o.name): \(o.status) (\(o.micros)µs)")
            }
            print(String(repeating: "-", count: 80))
            if passed > 0 { print("PASS: \(passed)/\(outcomes.count)") }
            if failed > 0 { print("FAIL: \(failed)/\(outcomes.count)") }
            if errored > 0 { print("ERROR: \(errored)/\(outcomes.count)") }
            if skipped > 0 { print("SKIPPED: \(skipped)/\(outcomes.count)") }
        }
        if failed + errored > 0 { throw ExitCode(2) }
        if outcomes.isEmpty {
            printStderr("no tests found")
            throw ExitCode(2)
        }
    }

    /// Test rules, `todo_test_` ones included so they can be reported as skipped.
    func allTests(_ policy: CompiledPolicy) -> [(path: [String], rule: Rule)] {
        policy.testRules()
    }
}
