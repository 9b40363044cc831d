/// The parts of `input` that evaluating a document can read: either the whole input, or
/// some of its members, each with what is read below it. A host that builds the input for
/// every evaluation (Warden's Check path) builds only these parts; whatever a policy never
/// reads cannot change its result.
public indirect enum InputReads: Sendable, Equatable {
    /// Everything at and below this point.
    case whole
    /// Only these members (an empty map: nothing).
    case members([String: InputReads])

    public static let nothing = InputReads.members([:])

    /// What is read below member `name`, or nil when it is not read at all.
    @inline(__always)
    public func member(_ name: String) -> InputReads? {
        switch self {
        case .whole: return .whole
        case .members(let m): return m[name]
        }
    }

    /// Whether member `name` is read at all.
    @inline(__always)
    public func reads(_ name: String) -> Bool { member(name) != nil }

    /// Adds a path whose whole value is read.
    public mutating func add<C: Collection>(_ path: C) where C.Element == String {
        guard case .members(var m) = self else { return }
        guard let first = path.first else { self = .whole; return }
        var child = m[first] ?? .nothing
        child.add(path.dropFirst())
        m[first] = child
        self = .members(m)
    }

    public func union(_ other: InputReads) -> InputReads {
        guard case .members(var m) = self else { return .whole }
        guard case .members(let o) = other else { return .whole }
        for (k, v) in o { m[k] = m[k].map { $0.union(v) } ?? v }
        return .members(m)
    }
}

extension CompiledPolicy {
    /// The parts of `input` that evaluating the document at `path` (a decision path such as
    /// `envoy/authz/allow`) can read, following the rules and functions it reaches.
    ///
    /// A reference `input.a.b[x]` reads `input.a.b` whole (the key is not known before
    /// evaluation); `input` on its own reads everything. A rule whose value is an input
    /// reference with constant keys (`http := input.attributes.request.http`, OPA-Envoy's
    /// usual first line) reads only what its users read of it: `http.method` reads
    /// `input.attributes.request.http.method`. A `data` reference that the compiler could
    /// not resolve to a rule (`data[x]`) or that reaches a whole package counts as reaching
    /// every rule below it. `with` targets are not reads; `with` values are.
    public func inputReads(forDocument path: [String]) -> InputReads {
        var analysis = InputReadAnalysis(root: root)
        var node = root
        var i = 0
        while i < path.count, !node.hasRules, let child = node.children[path[i]] {
            node = child
            i += 1
        }
        let loc = Location(file: "", row: 1, col: 1)
        analysis.use(node, rest: path[i...].map { Term.string($0, loc) })
        return analysis.finish()
    }
}

/// A walk over the rules a document reaches, collecting the input references in them.
struct InputReadAnalysis {
    let root: RuleNode
    private(set) var reads = InputReads.nothing
    private var reached = Set<Int>()
    private var pending: [RuleNode] = []
    /// Set by a `data` reference that may reach any rule.
    private var reachesEverything = false
    private var aliasCache: [Int: [[String]]?] = [:]

    init(root: RuleNode) { self.root = root }

    mutating func finish() -> InputReads {
        drain()
        if reachesEverything {
            use(root, rest: [])
            drain()
        }
        return reads
    }

    private mutating func drain() {
        while let node = pending.popLast() {
            let aliased = alias(node) != nil
            for rule in node.rules { walk(rule, skippingValue: aliased) }
            if let d = node.defaultRule { walk(d, skippingValue: aliased) }
        }
    }

    /// A use of `node` followed by `rest`: its rules are reached; for a rule that aliases an
    /// input reference, the use reads that reference extended by `rest`'s constant keys. A
    /// node's value includes the documents below it (a package is only those), so every
    /// rule below is reached too, each used whole.
    mutating func use(_ node: RuleNode, rest: [Term]) {
        for name in node.sortedChildNames { use(node.children[name]!, rest: []) }
        guard node.hasRules else { return }
        if reached.insert(node.id).inserted { pending.append(node) }
        if let paths = alias(node) {
            let suffix = InputReadAnalysis.constantKeys(rest)
            for p in paths { reads.add(p + suffix) }
        }
    }

    /// The input paths a rule node stands for, when every definition's value is an input
    /// reference with constant keys (a default's value is a constant): nil otherwise.
    private mutating func alias(_ node: RuleNode) -> [[String]]? {
        if let cached = aliasCache[node.id] { return cached }
        var paths: [[String]]? = []
        if node.kind != .complete || !node.children.isEmpty { paths = nil }
        var rules: [Rule] = []
        for r in node.rules {
            var next: Rule? = r
            while let rule = next { rules.append(rule); next = rule.elseRule }
        }
        for rule in rules where paths != nil {
            guard let value = rule.value, let p = InputReadAnalysis.inputPath(value) else { paths = nil; break }
            paths!.append(p)
        }
        if let d = node.defaultRule, d.value?.constantValue == nil { paths = nil }
        aliasCache[node.id] = .some(paths)
        return paths
    }

    /// `input` or `input.a.b` with constant keys: the path.
    static func inputPath(_ t: Term) -> [String]? {
        switch t.kind {
        case .inputRoot: return []
        case .ref(let base, let path):
            guard case .inputRoot = base.kind else { return nil }
            let keys = constantKeys(path)
            return keys.count == path.count ? keys : nil
        default: return nil
        }
    }

    /// The leading keys that are constant strings.
    static func constantKeys(_ path: [Term]) -> [String] {
        var out: [String] = []
        for t in path {
            guard case .value(.string(let s)) = t.kind else { break }
            out.append(s)
        }
        return out
    }

    private mutating func walk(_ rule: Rule, skippingValue: Bool) {
        var next: Rule? = rule
        while let r = next {
            for t in r.headRef { walk(t) }
            for t in r.args ?? [] { walk(t) }
            if let k = r.key { walk(k) }
            if !skippingValue, let v = r.value { walk(v) }
            walk(r.body)
            next = r.elseRule
        }
    }

    private mutating func walk(_ body: [Expr]) {
        for e in body {
            switch e.kind {
            case .term(let t): walk(t)
            case .unify(let a, let b), .assign(let a, let b): walk(a); walk(b)
            case .someDecl(let ts): for t in ts { walk(t) }
            case .someIn(let k, let v, let c):
                if let k { walk(k) }
                walk(v)
                walk(c)
            case .every(let k, let v, let c, let b):
                if let k { walk(k) }
                walk(v)
                walk(c)
                walk(b)
            }
            // A `with` target is replaced, not read.
            for w in e.withs { walk(w.value) }
        }
    }

    private mutating func walk(_ t: Term) {
        switch t.kind {
        case .value, .variable, .local:
            break
        case .inputRoot:
            reads = .whole
        case .dataRoot:
            reachesEverything = true
        case .ref(let base, let path):
            switch base.kind {
            case .inputRoot: reads.add(InputReadAnalysis.constantKeys(path))
            case .nodeRef(let n): useRef(n, then: path)
            default: walk(base)
            }
            for p in path { walk(p) }
        case .nodeRef(let n):
            useRef(n, then: [])
        case .array(let ts), .set(let ts):
            for x in ts { walk(x) }
        case .object(let pairs):
            for (k, v) in pairs { walk(k); walk(v) }
        case .arrayComprehension(let h, let b), .setComprehension(let h, let b):
            walk(h)
            walk(b)
        case .objectComprehension(let k, let v, let b):
            walk(k)
            walk(v)
            walk(b)
        case .call(let target, let args):
            if case .function(let path) = target, let node = root.lookup(path[...]) { use(node, rest: []) }
            for a in args { walk(a) }
        case .template(let pieces):
            for case .expression(let e) in pieces { walk([e]) }
        }
    }

    private mutating func useRef(_ ref: NodeRef, then path: [Term]) {
        for t in ref.rest { walk(t) }
        guard let node = ref.node else { return }  // base data only
        use(node, rest: ref.rest + path)
    }
}
