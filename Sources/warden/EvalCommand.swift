import ArgumentParser
import Foundation
import Rego
import RegoLoader
import RegoYAML

/// `warden eval`: `opa eval`, flag for flag where Warden has the feature.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a Rego query (like `opa eval`).")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case json, values, bindings, pretty, raw
    }

    @Option(name: [.short, .customLong("data")], help: "Policy or data file or directory (repeatable).")
    var data: [String] = []

    @Option(name: [.short, .customLong("bundle")], help: "Bundle directory or .tar.gz (repeatable).")
    var bundle: [String] = []

    @Option(name: [.short, .customLong("input")], help: "Input document (JSON or YAML file).")
    var input: String?

    @Flag(name: [.customShort("I"), .customLong("stdin-input")], help: "Read the input document from standard input.")
    var stdinInput = false

    @Option(name: [.short, .customLong("format")], help: "Output format: json, values, bindings, pretty, raw.")
    var format: Format = .json

    @Flag(name: .customLong("strict-builtin-errors"), help: "Treat builtin errors as fatal.")
    var strictBuiltinErrors = false

    @Flag(help: "Exit 1 when the result is undefined.")
    var fail = false

    @Flag(name: .customLong("fail-defined"), help: "Exit 1 when the result is defined.")
    var failDefined = false

    @Flag(name: .customLong("v0-compatible"), help: "Accepted for compatibility; Warden parses Rego v1.")
    var v0Compatible = false

    @Argument(help: "The query.")
    var query: String

    func run() throws {
        let result = execute()
        print(result.output)
        throw ExitCode(result.code)
    }

    func execute() -> (output: String, code: Int32) {
        let policy: CompiledPolicy
        var sources: [String: Source] = [:]
        do {
            (policy, sources) = try loadPolicy(data: data, bundles: bundle)
        } catch {
            return report(error.errors, sources: error.sources)
        }
        var inputValue: Value?
        do {
            if let input {
                guard let d = FileManager.default.contents(atPath: input) else {
                    return report([RegoError(.compile, "\(input): cannot read input file")], sources: sources)
                }
                let text = String(decoding: d, as: UTF8.self)
                inputValue = input.hasSuffix(".yaml") || input.hasSuffix(".yml") ? try RegoYAML.parse(text) : try Value.parseJSON(text)
            } else if stdinInput {
                let d = FileHandle.standardInput.readDataToEndOfFile()
                inputValue = try Value.parseJSON(String(decoding: d, as: UTF8.self))
            }
        } catch {
            return report([RegoError(.compile, "invalid input document: \(error)")], sources: sources)
        }
        let prepared: PreparedQuery
        do {
            prepared = try Rego.prepare(query: query, policy: policy)
        } catch {
            return report(error.errors, sources: sources)
        }
        var options = EvalOptions()
        options.strictBuiltinErrors = strictBuiltinErrors
        options.printSink = { line in printStderr(line) }
        let results: [QueryResult]
        do {
            results = try prepared.evaluate(input: inputValue, options: options)
        } catch {
            return report([error], sources: sources)
        }
        var code: Int32 = 0
        if fail && results.isEmpty { code = 1 }
        if failDefined && !results.isEmpty { code = 1 }
        return (render(results), code)
    }

    func report(_ errors: [RegoError], sources: [String: Source]) -> (output: String, code: Int32) {
        for e in errors { printStderr(e.rendered(sources: sources)) }
        if format == .json { return (errorJSON(errors).prettyJSON(), 1) }
        return (errors.map(\.description).joined(separator: "\n"), 1)
    }

    func render(_ results: [QueryResult]) -> String {
        switch format {
        case .json, .pretty:
            if results.isEmpty { return "{}" }
            let rows: [Value] = results.map { r in
                var fields: [String: Value] = [
                    "expressions": .array(r.expressions.map { e in
                        .object(RegoObject(fields: [
                            "value": e.value, "text": .string(e.text),
                            "location": .object(RegoObject(fields: ["row": .int(e.location.row), "col": .int(e.location.col)])),
                        ]))
                    })
                ]
                if !r.bindings.isEmpty {
                    fields["bindings"] = .object(RegoObject(r.bindings.map { (.string($0.name), $0.value) }))
                }
                return .object(RegoObject(fields: fields))
            }
            return Value.object(RegoObject(fields: ["result": .array(rows)])).prettyJSON()
        case .values:
            return Value.array(results.map { r in .array(r.expressions.map(\.value)) }).prettyJSON()
        case .bindings:
            return Value.array(results.map { r in .object(RegoObject(r.bindings.map { (.string($0.name), $0.value) })) }).prettyJSON()
        case .raw:
            return results.compactMap { r -> String? in
                guard let v = r.expressions.last?.value else { return nil }
                if case .string(let s) = v { return s }
                return v.prettyJSON()
            }.joined(separator: "\n")
        }
    }
}
