/// The engine's front door: compile policies once, prepare queries once, evaluate many
/// times from any thread.
public enum Rego {
    /// Parses and compiles policy sources with base data. Parse errors of every file are
    /// collected before giving up, so an author sees them all at once.
    public static func compile(sources: [Source], data: Value = .emptyObject, builtins: BuiltinRegistry = .core) throws(RegoErrors) -> CompiledPolicy {
        var modules: [Module] = []
        var errors: [RegoError] = []
        for s in sources {
            do {
                modules.append(try Parser.parseModule(s))
            } catch {
                errors.append(error)
            }
        }
        if !errors.isEmpty { throw RegoErrors(errors) }
        return try Compiler.compile(modules: modules, data: data, builtins: builtins)
    }

    public static func prepare(query: String, policy: CompiledPolicy) throws(RegoErrors) -> PreparedQuery {
        let body: [Expr]
        do {
            body = try Parser.parseQuery(query)
        } catch {
            throw RegoErrors([error])
        }
        return PreparedQuery(policy: policy, query: try Compiler.compileQuery(body, policy: policy))
    }
}

public struct ExpressionResult: Sendable {
    public let value: Value
    public let text: String
    public let location: Location
}

public struct QueryResult: Sendable {
    public let expressions: [ExpressionResult]
    /// Query variables and their values, in the order the query names them.
    public let bindings: [(name: String, value: Value)]
}

public struct PreparedQuery: Sendable {
    public let policy: CompiledPolicy
    let query: CompiledQuery

    /// Every solution of the query. An empty array means undefined.
    public func evaluate(input: Value?, options: EvalOptions = EvalOptions()) throws(RegoError) -> [QueryResult] {
        let ev = Evaluator(policy: policy, input: input, options: options)
        defer { ev.recycle() }
        let f = Evaluator.Frame(size: query.frameSize)
        var results: [QueryResult] = []
        let body = query.body
        let variables = query.variables
        func run(_ i: Int, _ values: [ExpressionResult]) throws {
            if i == body.count {
                var bindings: [(name: String, value: Value)] = []
                for (name, slot) in variables {
                    if let v = f.slots[slot] { bindings.append((name, v)) }
                }
                results.append(QueryResult(expressions: values, bindings: bindings))
                return
            }
            let e = body[i]
            if case .term(let t) = e.kind, !e.negated, !isCallWithOutput(t, ev) {
                // A term's value is reported, as `opa eval` does, with or without `with`.
                let next = { (v: Value) throws in
                    try run(i + 1, values + [ExpressionResult(value: v, text: e.text, location: e.location)])
                }
                if e.withs.isEmpty {
                    try ev.evalTerm(t, f) { v in if !v.isFalse { try next(v) } }
                } else {
                    try ev.withModifiers(e.withs, f) { restore in
                        try ev.evalTerm(t, f) { v in if !v.isFalse { try restore { try next(v) } } }
                    }
                }
            } else {
                try ev.evalExpr(in: body, at: i, f) {
                    try run(i + 1, values + [ExpressionResult(value: .true, text: e.text, location: e.location)])
                }
            }
        }
        do {
            try run(0, [])
        } catch let e as RegoError {
            throw e
        } catch {
            throw RegoError(.internalError, "\(error)")
        }
        return results
    }

    func isCallWithOutput(_ t: Term, _ ev: Evaluator) -> Bool {
        guard case .call(let target, let args) = t.kind else { return false }
        if case .builtin(let b) = target, b.name == "print" { return true }
        guard let arity = ev.arity(target) else { return false }
        return args.count == arity + 1
    }
}

extension CompiledPolicy {
    /// A document path resolved against one policy's rule tree, once: a host that evaluates
    /// the same document for every request (Warden's decision path) skips looking its
    /// packages up by name each time.
    public final class Document: Sendable {
        public let path: [String]
        /// The policy whose tree `node` is in: a document is evaluated only against it.
        let owner: CompiledPolicy
        let node: RuleNode
        let base: Value?
        let rest: [Term]

        init(path: [String], owner: CompiledPolicy, node: RuleNode, base: Value?, rest: [Term]) {
            self.path = path
            self.owner = owner
            self.node = node
            self.base = base
            self.rest = rest
        }
    }

    /// Resolves `path` (for example `["envoy", "authz", "allow"]`): down the rule tree by
    /// name while the path names packages, as evaluation would; what is left (a path into a
    /// rule's value or base data) is walked as terms.
    public func document(at path: [String]) -> Document {
        var node = root
        var base: Value? = data
        var i = 0
        while i < path.count, !node.hasRules, !node.isFunction, let child = node.children[path[i]] {
            node = child
            base = base?[path[i]]
            i += 1
        }
        let loc = Location(file: "", row: 1, col: 1)
        let rest = i == path.count ? [] : path[i...].map { Term.string($0, loc) }
        return Document(path: path, owner: self, node: node, base: base, rest: rest)
    }

    /// Evaluates the document at `path` with an input: with no query to parse or compile.
    public func evaluate(path: [String], input: Value?, options: EvalOptions = EvalOptions()) throws(RegoError) -> Value? {
        try evaluate(document(at: path), input: input, options: options)
    }

    /// Evaluates a document resolved by `document(at:)`: the server's hot path.
    public func evaluate(_ document: Document, input: Value?, options: EvalOptions = EvalOptions()) throws(RegoError) -> Value? {
        // Resolved against another policy (a reload swapped it): resolve again here.
        guard document.owner === self else {
            return try evaluate(self.document(at: document.path), input: input, options: options)
        }
        let ev = Evaluator(policy: self, input: input, options: options)
        defer { ev.recycle() }
        var result: Value?
        do {
            try ev.walkData(document.node, base: document.base, path: document.rest, 0, Evaluator.Frame.empty) { v in result = v }
        } catch let e as RegoError {
            throw e
        } catch {
            throw RegoError(.internalError, "\(error)")
        }
        return result
    }
}
