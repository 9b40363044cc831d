/// A policy compiled once and evaluated many times: the rule tree, the base data and the
/// builtins it was compiled against. Immutable, so any thread may evaluate it at once.
public final class CompiledPolicy: Sendable {
    let root: RuleNode
    let nodeCount: Int
    public let modules: [Module]
    public let data: Value
    public let builtins: BuiltinRegistry
    /// Per-node tables that evaluations borrow instead of allocating.
    let evalTables = EvalTablesPool()

    init(root: RuleNode, nodeCount: Int, modules: [Module], data: Value, builtins: BuiltinRegistry) {
        self.root = root
        self.nodeCount = nodeCount
        self.modules = modules
        self.data = data
        self.builtins = builtins
    }

    /// Paths of every rule whose name starts with `test_`, for `warden test`.
    public func testRules() -> [(path: [String], rule: Rule)] {
        var out: [(path: [String], rule: Rule)] = []
        func visit(_ n: RuleNode) {
            if let last = n.path.last, last.hasPrefix("test_") || last.hasPrefix("todo_test_"), let r = n.rules.first, !r.isFunction {
                out.append((n.path, r))
            }
            for name in n.sortedChildNames { visit(n.children[name]!) }
        }
        visit(root)
        return out
    }

    /// Whether a document path names a rule or package, or base data.
    public func hasDocument(_ path: [String]) -> Bool {
        if root.lookup(path[...]) != nil { return true }
        var v: Value? = data
        for p in path { v = v?[p] }
        return v != nil
    }
}
