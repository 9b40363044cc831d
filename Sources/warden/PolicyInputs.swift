import ArgumentParser
import Foundation
import Rego
import RegoLoader
import Warden

/// The builtins the command line offers: the same as the server's.
var commandLineBuiltins: BuiltinRegistry { WardenBuiltins.registry }

/// Why policies could not be loaded: the errors, and the sources to quote them from.
struct PolicyLoadFailure: Error {
    let errors: [RegoError]
    let sources: [String: Source]
}

/// Loads `-d` paths and `-b` bundles and compiles them, or reports why not.
func loadPolicy(data: [String], bundles: [String]) throws(PolicyLoadFailure) -> (CompiledPolicy, [String: Source]) {
    var loader = PolicyLoader()
    do {
        for d in data { try loader.add(path: d) }
        for b in bundles { try loader.add(bundle: b) }
    } catch {
        throw PolicyLoadFailure(errors: [RegoError(.compile, "\(error)")], sources: [:])
    }
    let sources = Dictionary(loader.sources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    do {
        let policy = try Rego.compile(sources: loader.sources, data: loader.data, builtins: commandLineBuiltins)
        return (policy, sources)
    } catch {
        throw PolicyLoadFailure(errors: error.errors, sources: sources)
    }
}

func errorJSON(_ errors: [RegoError]) -> Value {
    .object(RegoObject(fields: ["errors": .array(errors.map { e in
        var fields: [String: Value] = ["code": .string(e.code.rawValue), "message": .string(e.message)]
        if let l = e.location {
            fields["location"] = .object(RegoObject(fields: ["file": .string(l.file), "row": .int(l.row), "col": .int(l.col)]))
        }
        return .object(RegoObject(fields: fields))
    })]))
}

func printStderr(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}
