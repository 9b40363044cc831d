/// The virtual document tree: one node per path segment of every package and rule head,
/// holding the rules that define the document at that path.
public final class RuleNode: @unchecked Sendable {
    // @unchecked: built by the compiler, then only read; the policy is immutable once shared.
    public let path: [String]
    var children: [String: RuleNode] = [:]
    var rules: [Rule] = []
    var defaultRule: Rule?
    /// Dense index for per-evaluation caches.
    let id: Int

    init(path: [String], id: Int) {
        self.path = path
        self.id = id
    }

    enum Kind { case complete, multiValue, partialObject, function }

    var kind: Kind? { frozen?.kind ?? computeKind() }

    private func computeKind() -> Kind? {
        guard let r = rules.first ?? defaultRule else { return nil }
        if r.isFunction { return .function }
        if r.isMultiValue { return .multiValue }
        if !r.dynamicSuffix.isEmpty { return .partialObject }
        return .complete
    }

    var hasRules: Bool { frozen?.hasRules ?? (!rules.isEmpty || defaultRule != nil) }
    var isFunction: Bool { kind == .function }

    /// `data.…` paths of the nodes with rules at or below this one, in order.
    func rulePaths() -> [String] {
        (hasRules ? ["data." + path.joined(separator: ".")] : []) + sortedChildNames.flatMap { children[$0]!.rulePaths() }
    }

    /// Children sorted by name, for deterministic iteration.
    var sortedChildNames: [String] { frozen?.sortedChildNames ?? children.keys.sorted(by: Value.utf8Precedes) }

    /// Whether the first definition that succeeds decides the value, as in OPA's rule
    /// index (`EarlyExit`): a complete rule or function whose definitions, the default
    /// aside, all have the same ground value and no `else`. `allow if A` / `allow if B`:
    /// once A holds, B is not evaluated, nor are its errors or conflicts raised.
    var firstSuccessDecides: Bool { frozen?.firstSuccessDecides ?? computeFirstSuccessDecides() }

    private func computeFirstSuccessDecides() -> Bool {
        let kind = computeKind()
        guard kind == .complete || kind == .function,
              let value = rules.first?.valueOrTrue.constantValue else { return false }
        return rules.allSatisfy { $0.elseRule == nil && $0.valueOrTrue.constantValue == value }
    }

    /// What evaluation asks of a node on every visit, computed once the tree is complete.
    private var frozen: (kind: Kind?, hasRules: Bool, sortedChildNames: [String], firstSuccessDecides: Bool)?

    /// Fixes the derived facts of this node and those below it; the compiler calls it when
    /// the tree is complete (rules resolved), before the policy is shared.
    func freeze() {
        for child in children.values { child.freeze() }
        frozen = (computeKind(), !rules.isEmpty || defaultRule != nil, children.keys.sorted(by: Value.utf8Precedes),
                  computeFirstSuccessDecides())
    }
}

final class RuleTreeBuilder {
    var nodes: [RuleNode] = []
    let root: RuleNode

    init() {
        root = RuleNode(path: [], id: 0)
        nodes.append(root)
    }

    func node(at path: [String]) -> RuleNode {
        var n = root
        for (i, seg) in path.enumerated() {
            if let c = n.children[seg] {
                n = c
            } else {
                let c = RuleNode(path: Array(path[...i]), id: nodes.count)
                nodes.append(c)
                n.children[seg] = c
                n = c
            }
        }
        return n
    }
}

extension RuleNode {
    func lookup(_ path: ArraySlice<String>) -> RuleNode? {
        var n = self
        for seg in path {
            guard let c = n.children[seg] else { return nil }
            n = c
        }
        return n
    }
}
