public import Rego
import Yams

/// YAML for Rego: data files and the `yaml.*` builtins, over Yams (which carries libyaml's
/// C code, so it lives outside the pure core).
public enum RegoYAML {
    public struct YAMLError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses one YAML document into a Rego value, as OPA does (via JSON semantics).
    public static func parse(_ text: String) throws -> Value {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw YAMLError(description: "\(error)")
        }
        guard let node else { return .null }
        return try value(node)
    }

    static func value(_ node: Node) throws -> Value {
        switch node {
        case .scalar(let s):
            return scalar(s)
        case .sequence(let seq):
            return .array(try seq.map { try value($0) })
        case .mapping(let map):
            var pairs: [(Value, Value)] = []
            for (k, v) in map {
                let key: Value
                if case .scalar(let ks) = k { key = .string(ks.string) } else { key = .string(try value(k).jsonString()) }
                pairs.append((key, try value(v)))
            }
            return .object(RegoObject(pairs))
        case .alias:
            throw YAMLError(description: "YAML aliases are not supported")
        }
    }

    static func scalar(_ s: Node.Scalar) -> Value {
        if s.style == .singleQuoted || s.style == .doubleQuoted || s.style == .literal || s.style == .folded {
            return .string(s.string)
        }
        let t = s.string
        switch t {
        case "", "~", "null", "Null", "NULL": return t.isEmpty && s.tag.description.hasSuffix("str") ? .string("") : .null
        case "true", "True", "TRUE": return .true
        case "false", "False", "FALSE": return .false
        default: break
        }
        if let n = Number(text: t), t.first != "+", !(t.count > 1 && t.hasPrefix("0") && !t.hasPrefix("0.")) { return .number(n) }
        return .string(t)
    }

    /// Renders a value as YAML, for `yaml.marshal`.
    public static func marshal(_ v: Value) throws -> String {
        func node(_ v: Value) -> Node {
            switch v {
            case .null: return Node("null", Tag(.null))
            case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
            case .number(let n): return Node(n.description, Tag(n.isInteger ? .int : .float))
            case .string(let s): return Node(s, Tag(.str))
            case .array(let a): return Node(a.map(node))
            case .set(let s): return Node(s.elements.map(node))
            case .object(let o):
                return Node(o.entries.map { e -> (Node, Node) in
                    let k: String
                    if case .string(let s) = e.key { k = s } else { k = e.key.jsonString() }
                    return (Node(k, Tag(.str)), node(e.value))
                })
            }
        }
        return try Yams.serialize(node: node(v))
    }

    /// The `yaml.*` builtins, registered into an engine from outside its core.
    public static var builtins: [Builtin] {
        [
            Builtin("yaml.marshal", arity: 1) { a, _ in
                do { return .string(try marshal(a[0])) } catch { throw BuiltinError.failure("\(error)") }
            },
            Builtin("yaml.unmarshal", arity: 1) { a, _ in
                guard case .string(let s) = a[0] else { throw BuiltinError.operand(1, "string", a[0]) }
                do { return try parse(s) } catch { throw BuiltinError.failure("yaml: \(error)") }
            },
            Builtin("yaml.is_valid", arity: 1) { a, _ in
                guard case .string(let s) = a[0] else { return .false }
                return .bool((try? parse(s)) != nil)
            },
        ]
    }
}
