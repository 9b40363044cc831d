import ArgumentParser
import Foundation
import Rego
import Warden

/// The builtins the command line offers: the same as the server's.
var commandLineBuiltins: BuiltinRegistry { WardenBuiltins.registry }

/// Loads `-d` paths and `-b` bundles and compiles them, as the server does.
func loadPolicy(data: [String], bundles: [String]) throws(PolicyLoadError) -> (CompiledPolicy, [String: Source]) {
    let loaded = try PolicyStore.load(bundles: bundles, paths: data, requirePolicies: false)
    return (loaded.policy, loaded.sources)
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
