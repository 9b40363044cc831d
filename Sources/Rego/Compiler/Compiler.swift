/// Turns parsed modules and base data into a `CompiledPolicy`: an immutable, `Sendable`
/// value that any number of evaluations can share.
///
/// Stages, in order (each appends to `errors`, as OPA's compiler does):
/// 1. `buildRuleTree`: place every rule at its document path; check kinds agree.
/// 2. `resolveRules`: names become frame slots or absolute `data` references, calls get
///    their targets, `with` gets its kind.
/// 3. Bodies are reordered for safety while resolving (generators before consumers) and
///    unsafe variables reported.
public struct Compiler {
    var errors: [RegoError] = []
    let builtins: BuiltinRegistry
    let tree = RuleTreeBuilder()
    /// Base data, for resolving references into the rule tree.
    var data: Value = .emptyObject
    /// The tree names resolve against: the one being built, or a compiled policy's for queries.
    var root: RuleNode
    /// Root names of rules per package (joined path), across all modules of the package.
    var ruleRoots: [String: Set<String>] = [:]

    public init(builtins: BuiltinRegistry) {
        self.builtins = builtins
        self.root = tree.root
    }

    public static func compile(modules: [Module], data: Value = .emptyObject, builtins: BuiltinRegistry) throws(RegoErrors) -> CompiledPolicy {
        var c = Compiler(builtins: builtins)
        return try c.run(modules: modules, data: data)
    }

    mutating func run(modules: [Module], data: Value) throws(RegoErrors) -> CompiledPolicy {
        self.data = data
        for m in modules { buildRuleTree(m) }
        checkRuleKinds(tree.root)
        for m in modules { resolveModule(m) }
        if !errors.isEmpty {
            throw RegoErrors(errors.sorted { ($0.location?.file ?? "", $0.location?.row ?? 0, $0.location?.col ?? 0) < ($1.location?.file ?? "", $1.location?.row ?? 0, $1.location?.col ?? 0) })
        }
        tree.root.freeze()
        return CompiledPolicy(root: tree.root, nodeCount: tree.nodes.count, modules: modules, data: data, builtins: builtins)
    }

    /// Compiles a query against a policy, with its own frame.
    public static func compileQuery(_ body: [Expr], policy: CompiledPolicy, package: [String] = [], imports: [Import] = []) throws(RegoErrors) -> CompiledQuery {
        var c = Compiler(builtins: policy.builtins)
        c.root = policy.root
        c.data = policy.data
        c.collectRuleRoots(policy.root, prefix: [])
        let ctx = ModuleContext(package: package, imports: imports, ruleRoots: c.ruleRoots[package.joined(separator: ".")] ?? [], file: "")
        let alloc = SlotAllocator()
        let scope = Scope(parent: nil, allocator: alloc)
        let resolved = c.resolveBody(body, scope: scope, ctx: ctx, initiallyBound: [])
        if !c.errors.isEmpty { throw RegoErrors(c.errors) }
        var names: [(String, Int)] = []
        for (name, slot) in scope.names where !name.hasPrefix("__") && !name.hasPrefix("$") {
            names.append((name, slot))
        }
        names.sort { $0.1 < $1.1 }
        return CompiledQuery(body: resolved, frameSize: alloc.count, variables: names)
    }

    mutating func collectRuleRoots(_ node: RuleNode, prefix: [String]) {
        for (name, child) in node.children {
            if child.hasRules {
                ruleRoots[prefix.joined(separator: "."), default: []].insert(name)
            }
            collectRuleRoots(child, prefix: prefix + [name])
        }
        // Packages themselves: any child path is reachable as data.
    }

    // MARK: - Stage 1: the rule tree

    mutating func buildRuleTree(_ m: Module) {
        let pkgKey = m.package.joined(separator: ".")
        _ = tree.node(at: m.package)  // an empty package is still a document ({})
        for rule in m.rules {
            var path = m.package
            var suffix: [Term] = []
            for t in rule.headRef {
                if suffix.isEmpty, case .value(.string(let s)) = t.kind {
                    path.append(s)
                } else {
                    suffix.append(t)
                }
            }
            if rule.isMultiValue && !suffix.isEmpty {
                errors.append(RegoError(.parse, "multi-value rules need a ground reference head", at: rule.location))
                continue
            }
            if rule.isFunction && !suffix.isEmpty {
                errors.append(RegoError(.parse, "function names must be ground references", at: rule.location))
                continue
            }
            if rule.isDefault && !suffix.isEmpty {
                errors.append(RegoError(.compile, "default rules must not have variables in their head", at: rule.location))
                continue
            }
            var r: Rule? = rule
            while let cur = r {
                cur.path = path
                cur.dynamicSuffix = suffix
                r = cur.elseRule
            }
            let node = tree.node(at: path)
            if rule.isDefault {
                if node.defaultRule != nil {
                    errors.append(RegoError(.type, "multiple default rules \(("data." + path.joined(separator: "."))) found", at: rule.location))
                }
                node.defaultRule = rule
            } else {
                node.rules.append(rule)
            }
            ruleRoots[pkgKey, default: []].insert(rule.name)
        }
    }

    mutating func checkRuleKinds(_ node: RuleNode) {
        let all = node.rules + (node.defaultRule.map { [$0] } ?? [])
        if let first = all.first {
            let isFn = first.isFunction
            // As OPA: functions and rules, sets and objects, and rules that give the whole
            // value at this path (`q := …`, a default) and rules that give it a member at a time
            // (`q contains x`, `q[k] := …`) do not mix. The error is at the first whole-value
            // rule (the default first: it usually opens the group), where OPA reports it.
            let givesMembers = all.contains { $0.isMultiValue || !$0.dynamicSuffix.isEmpty }
            let firstWholeValue = ([node.defaultRule].compactMap { $0 } + node.rules).first { !$0.isMultiValue && $0.dynamicSuffix.isEmpty }
            if let r = all.dropFirst().first(where: { $0.isFunction != isFn || $0.isMultiValue != first.isMultiValue }) {
                errors.append(RegoError(.type, "conflicting rules data.\(node.path.joined(separator: ".")) found", at: r.location))
            } else if !isFn, givesMembers, let r = firstWholeValue {
                errors.append(RegoError(.type, "conflicting rules data.\(node.path.joined(separator: ".")) found", at: r.location))
            }
            if isFn {
                let arity = first.args?.count ?? 0
                for r in all where (r.args?.count ?? 0) != arity {
                    errors.append(RegoError(.type, "conflicting rules data.\(node.path.joined(separator: ".")) found", at: r.location))
                    break
                }
            }
        }
        // As OPA: a rule whose whole head is ground (`q := …`, `q contains x`, `f(x) := …`)
        // defines the entire document at its path, so no other rule may define a part of it
        // (`q.b := …`). A rule with a variable in its path (`q[k] := …`) may have rules beside
        // it below, and evaluation merges them.
        if let ground = all.first(where: { $0.dynamicSuffix.isEmpty }) {
            let below = node.sortedChildNames.flatMap { node.children[$0]!.rulePaths() }
            if !below.isEmpty {
                let name = "data." + node.path.joined(separator: ".")
                errors.append(RegoError(.type, "rule \(name) conflicts with [\(below.joined(separator: ", "))]", at: ground.location))
            }
        }
        for (_, child) in node.children { checkRuleKinds(child) }
    }

    // MARK: - Stage 2: resolution

    struct ModuleContext {
        let package: [String]
        var imports: [String: Term] = [:]
        let ruleRoots: Set<String>
        let file: String

        init(package: [String], imports: [Import], ruleRoots: Set<String>, file: String) {
            self.package = package
            self.ruleRoots = ruleRoots
            self.file = file
            for imp in imports {
                guard let name = Parser.dottedName(imp.path) else { continue }
                guard name.first == "data" || name.first == "input" else { continue }
                let alias = imp.alias ?? name.last!
                if name.count == 1 && imp.alias == nil { continue }
                let root = Term(name[0] == "data" ? .dataRoot : .inputRoot, imp.location)
                let path = name.dropFirst().map { Term.string($0, imp.location) }
                self.imports[alias] = path.isEmpty ? root : Term(.ref(root, Array(path)), imp.location)
            }
        }
    }

    mutating func resolveModule(_ m: Module) {
        for imp in m.imports {
            guard let name = Parser.dottedName(imp.path) else {
                errors.append(RegoError(.parse, "invalid import path", at: imp.location))
                continue
            }
            let root = name[0]
            if root == "rego" || root == "future" { continue }
            if root != "data" && root != "input" {
                errors.append(RegoError(.parse, "unexpected import path, must begin with one of: {data, future, input, rego}, got: \(root)", at: imp.location))
            }
        }
        let ctx = ModuleContext(package: m.package, imports: m.imports, ruleRoots: ruleRoots[m.package.joined(separator: ".")] ?? [], file: m.source.name)
        for rule in m.rules {
            var r: Rule? = rule
            while let cur = r {
                resolveRule(cur, ctx: ctx)
                r = cur.elseRule
            }
        }
    }

    mutating func resolveRule(_ rule: Rule, ctx: ModuleContext) {
        let alloc = SlotAllocator()
        let scope = Scope(parent: nil, allocator: alloc)
        var bound: Set<Int> = []
        if let args = rule.args {
            var names: [String] = []
            for a in args { collectVarNames(a, into: &names) }
            for n in names where n != "_" { _ = scope.declare(n) }
            rule.args = args.map { resolveTerm($0, scope: scope, ctx: ctx) }
            for a in rule.args! { bound.formUnion(allSlots(a)) }
        }
        // Variables named in the head but bound by the body.
        var headNames: [String] = []
        for t in rule.dynamicSuffix { collectVarNames(t, into: &headNames) }
        if let k = rule.key { collectVarNames(k, into: &headNames) }
        if let v = rule.value { collectVarNames(v, into: &headNames) }
        let (body, finalBound) = resolveBodyWithBound(rule.body, scope: scope, ctx: ctx, initiallyBound: bound, extraNames: headNames)
        rule.body = body
        rule.dynamicSuffix = rule.dynamicSuffix.map { resolveTerm($0, scope: scope, ctx: ctx) }
        if let k = rule.key { rule.key = resolveTerm(k, scope: scope, ctx: ctx) }
        if let v = rule.value { rule.value = resolveTerm(v, scope: scope, ctx: ctx) }
        rule.headRef = rule.headRef.map { resolveTerm($0, scope: scope, ctx: ctx) }
        // Head safety: every variable in the head must be bound by the body or the args.
        var headTerms = rule.dynamicSuffix
        if let k = rule.key { headTerms.append(k) }
        if let v = rule.value { headTerms.append(v) }
        for t in headTerms {
            let c = classify(t, scope: scope)
            let missing = c.inputs.subtracting(finalBound)
            if let slot = missing.min() {
                errors.append(RegoError(.unsafeVar, "var \(alloc.names[slot] ?? "?") is unsafe", at: t.location))
            }
        }
        rule.frameSize = alloc.count
        rule.valueOrTrue = rule.value ?? Term(.value(.true), rule.location)
        rule.valueIsConstant = rule.valueOrTrue.constantValue != nil
    }

    /// Names of variables as written in a term (before resolution).
    func collectVarNames(_ t: Term, into out: inout [String]) {
        switch t.kind {
        case .variable(let n): out.append(n)
        case .ref(let h, let p): collectVarNames(h, into: &out); for x in p { collectVarNames(x, into: &out) }
        case .array(let a), .set(let a): for x in a { collectVarNames(x, into: &out) }
        case .object(let pairs): for (k, v) in pairs { collectVarNames(k, into: &out); collectVarNames(v, into: &out) }
        case .call(_, let args): for x in args { collectVarNames(x, into: &out) }
        default: break
        }
    }

    func isGlobalName(_ n: String, ctx: ModuleContext, scope: Scope) -> Bool {
        if scope.lookup(n) != nil { return false }
        return n == "input" || n == "data" || ctx.imports[n] != nil || ctx.ruleRoots.contains(n)
    }

    /// Declares the names a body introduces at its own level: explicit ones (`some`, `:=`,
    /// `some … in`) always, implicit ones unless they name a global or an outer variable.
    func declareBodyNames(_ body: [Expr], scope: Scope, ctx: ModuleContext, extraNames: [String]) {
        var implicit: [String] = []
        for e in body {
            switch e.kind {
            case .someDecl(let vars):
                for v in vars { if case .variable(let n) = v.kind { _ = scope.declareLocal(n) } }
            case .assign(let lhs, let rhs):
                var names: [String] = []
                collectVarNames(lhs, into: &names)
                for n in names where n != "_" { _ = scope.declareLocal(n) }
                collectVarNames(rhs, into: &implicit)
            case .someIn(let k, let v, let coll):
                var names: [String] = []
                if let k { collectVarNames(k, into: &names) }
                collectVarNames(v, into: &names)
                for n in names where n != "_" { _ = scope.declareLocal(n) }
                collectVarNames(coll, into: &implicit)
            case .unify(let a, let b):
                collectVarNames(a, into: &implicit)
                collectVarNames(b, into: &implicit)
            case .term(let t):
                collectVarNames(t, into: &implicit)
            case .every(_, _, let coll, _):
                collectVarNames(coll, into: &implicit)
            }
            for w in e.withs where !namesFunction(w.value, ctx: ctx, scope: scope) {
                collectVarNames(w.value, into: &implicit)
            }
        }
        for n in implicit + extraNames where n != "_" && !isGlobalName(n, ctx: ctx, scope: scope) {
            if scope.lookup(n) == nil { _ = scope.declareLocal(n) }
        }
    }

    /// The names an expression declares: `:=`'s left side, `some`'s variables.
    func explicitlyDeclaredNames(_ e: Expr) -> Set<String> {
        var names: [String] = []
        switch e.kind {
        case .someDecl(let vars): for v in vars { collectVarNames(v, into: &names) }
        case .assign(let lhs, _): collectVarNames(lhs, into: &names)
        case .someIn(let k, let v, _):
            if let k { collectVarNames(k, into: &names) }
            collectVarNames(v, into: &names)
        default: break
        }
        return Set(names.filter { $0 != "_" })
    }

    /// A `with` value such as `count` or `data.lib.f` names a function to mock with.
    func namesFunction(_ t: Term, ctx: ModuleContext, scope: Scope) -> Bool {
        guard let name = Parser.dottedName(t), scope.lookup(name[0]) == nil else { return false }
        if builtins[name.joined(separator: ".")] != nil { return true }
        if name[0] == "data", let node = treeLookup(Array(name.dropFirst())), node.isFunction { return true }
        if ctx.ruleRoots.contains(name[0]), let node = treeLookup(ctx.package + name), node.isFunction { return true }
        return false
    }

    mutating func resolveBody(_ body: [Expr], scope: Scope, ctx: ModuleContext, initiallyBound: Set<Int>) -> [Expr] {
        resolveBodyWithBound(body, scope: scope, ctx: ctx, initiallyBound: initiallyBound, extraNames: []).0
    }

    mutating func resolveBodyWithBound(_ body: [Expr], scope: Scope, ctx: ModuleContext, initiallyBound: Set<Int>, extraNames: [String]) -> ([Expr], Set<Int>) {
        declareBodyNames(body, scope: scope, ctx: ctx, extraNames: extraNames)
        let declaredBy = body.map(explicitlyDeclaredNames)
        // A name is "declared later" until the expression declaring it has been resolved:
        // in `x := {x | xs[x]}` the comprehension's `x` is its own, as in OPA.
        scope.declaredLater = declaredBy.reduce(into: []) { $0.formUnion($1) }
        var resolved: [Expr] = []
        for (i, e) in body.enumerated() {
            resolved.append(resolveExpr(e, scope: scope, ctx: ctx))
            scope.declaredLater.subtract(declaredBy[i])
        }
        scope.declaredLater = []
        return reorderForSafety(resolved, scope: scope, bound: initiallyBound)
    }

    mutating func resolveExpr(_ e: Expr, scope: Scope, ctx: ModuleContext) -> Expr {
        var out = e
        switch e.kind {
        case .term(let t):
            out.kind = .term(resolveTerm(t, scope: scope, ctx: ctx))
        case .unify(let a, let b):
            out.kind = .unify(resolveTerm(a, scope: scope, ctx: ctx), resolveTerm(b, scope: scope, ctx: ctx))
        case .assign(let a, let b):
            if case .ref = a.kind {
                errors.append(RegoError(.parse, "cannot assign to ref", at: a.location))
            }
            out.kind = .assign(resolveTerm(a, scope: scope, ctx: ctx), resolveTerm(b, scope: scope, ctx: ctx))
        case .someDecl(let vars):
            out.kind = .someDecl(vars.map { resolveTerm($0, scope: scope, ctx: ctx) })
        case .someIn(let k, let v, let coll):
            out.kind = .someIn(key: k.map { resolveTerm($0, scope: scope, ctx: ctx) }, value: resolveTerm(v, scope: scope, ctx: ctx), collection: resolveTerm(coll, scope: scope, ctx: ctx))
        case .every(let k, let v, let coll, let body):
            let c = resolveTerm(coll, scope: scope, ctx: ctx)
            let child = Scope(parent: scope, allocator: scope.allocator)
            var names: [String] = []
            if let k { collectVarNames(k, into: &names) }
            collectVarNames(v, into: &names)
            for n in names where n != "_" { _ = child.declareLocal(n) }
            let rk = k.map { resolveTerm($0, scope: child, ctx: ctx) }
            let rv = resolveTerm(v, scope: child, ctx: ctx)
            var bound = scope.chainSlots()
            if let rk { bound.formUnion(allSlots(rk)) }
            bound.formUnion(allSlots(rv))
            let rb = resolveBody(body, scope: child, ctx: ctx, initiallyBound: bound)
            out.kind = .every(key: rk, value: rv, collection: c, body: rb)
        }
        out.withs = e.withs.map { w in
            var rw = w
            rw.target = resolveWithTarget(w.target, ctx: ctx)
            rw.value = resolveWithValue(w.value, scope: scope, ctx: ctx)
            return rw
        }
        return out
    }

    /// `with` targets stay as absolute references: `input…`, `data…`, or a function name.
    mutating func resolveWithTarget(_ t: Term, ctx: ModuleContext) -> Term {
        guard let name = Parser.dottedName(t) else {
            errors.append(RegoError(.type, "with keyword target must reference existing input, data, or a function", at: t.location))
            return t
        }
        if name[0] == "input" {
            return Term(.ref(Term(.inputRoot, t.location), name.dropFirst().map { Term.string($0, t.location) }), t.location)
        }
        if name[0] == "data" {
            return Term(.ref(Term(.dataRoot, t.location), name.dropFirst().map { Term.string($0, t.location) }), t.location)
        }
        if let target = resolveCallTarget(name, ctx: ctx, location: t.location, report: false) {
            return Term(.call(target, []), t.location)
        }
        if let imp = ctx.imports[name[0]], let base = refPath(imp) {
            let full = base + name.dropFirst()
            let rebuilt = Term(.ref(Term(.variable(full[0]), t.location), full.dropFirst().map { Term.string($0, t.location) }), t.location)
            return resolveWithTarget(rebuilt, ctx: ctx)
        }
        if ctx.ruleRoots.contains(name[0]) {
            return Term(.ref(Term(.dataRoot, t.location), (ctx.package + name).map { Term.string($0, t.location) }), t.location)
        }
        errors.append(RegoError(.type, "with keyword target must reference existing input, data, or a function", at: t.location))
        return t
    }

    /// A `with` value that names a function (or builtin) mocks with that function.
    mutating func resolveWithValue(_ t: Term, scope: Scope, ctx: ModuleContext) -> Term {
        if let name = Parser.dottedName(t), scope.lookup(name[0]) == nil, name[0] != "input" {
            if name[0] == "data" {
                if let node = treeLookup(Array(name.dropFirst())), node.isFunction {
                    return Term(.call(.function(node.path), []), t.location)
                }
            } else if let target = resolveCallTarget(name, ctx: ctx, location: t.location, report: false) {
                if case .function(let path) = target, let node = treeLookup(path), !node.isFunction {
                    return resolveTerm(t, scope: scope, ctx: ctx)
                }
                return Term(.call(target, []), t.location)
            }
        }
        return resolveTerm(t, scope: scope, ctx: ctx)
    }

    func treeLookup(_ path: [String]) -> RuleNode? { root.lookup(path[...]) }

    /// Resolves the constant prefix of a `data` reference to the deepest rule-tree node it
    /// reaches (stopping at a node with rules, as evaluation does), so evaluation starts
    /// there instead of walking from the root each time.
    func resolveNodeRef(_ path: [Term], _ loc: Location) -> Term? {
        var node = root
        var base: Value? = data
        var i = 0
        while i < path.count, !node.hasRules {
            guard case .value(.string(let s)) = path[i].kind else { break }
            guard let child = node.children[s] else {
                // Past the rule tree: only base data lies below, so start there.
                guard let below = base?[.string(s)] else { break }
                return Term(.nodeRef(NodeRef(node: nil, base: below, rest: Array(path[(i + 1)...]), fullPath: path)), loc)
            }
            node = child
            base = base.flatMap { $0[.string(s)] }
            i += 1
        }
        if i == 0 { return nil }
        return Term(.nodeRef(NodeRef(node: node, base: base, rest: Array(path[i...]), fullPath: path)), loc)
    }

    mutating func resolveTerm(_ t: Term, scope: Scope, ctx: ModuleContext) -> Term {
        switch t.kind {
        case .value, .local, .dataRoot, .inputRoot, .nodeRef:
            return t
        case .variable(let name):
            // A rule named bare (`allow`, `tool`) starts at its node, like a `data` reference.
            let resolved = resolveName(name, t.location, scope: scope, ctx: ctx)
            if case .ref(let head, let path) = resolved.kind, case .dataRoot = head.kind, let node = resolveNodeRef(path, t.location) {
                return node
            }
            return resolved
        case .ref(let head, let path):
            // A bare name as the head stays a reference here, so the whole path resolves at once.
            var rhead: Term
            if case .variable(let name) = head.kind {
                rhead = resolveName(name, head.location, scope: scope, ctx: ctx)
            } else {
                rhead = resolveTerm(head, scope: scope, ctx: ctx)
            }
            var rpath = path.map { resolveTerm($0, scope: scope, ctx: ctx) }
            if case .ref(let h2, let p2) = rhead.kind {
                rhead = h2
                rpath = p2 + rpath
            }
            if case .dataRoot = rhead.kind, let resolved = resolveNodeRef(rpath, t.location) {
                return resolved
            }
            return foldConstants(Term(.ref(rhead, rpath), t.location))
        case .array(let items):
            return foldConstants(Term(.array(items.map { resolveTerm($0, scope: scope, ctx: ctx) }), t.location))
        case .set(let items):
            return foldConstants(Term(.set(items.map { resolveTerm($0, scope: scope, ctx: ctx) }), t.location))
        case .object(let pairs):
            return foldConstants(Term(.object(pairs.map { (resolveTerm($0.0, scope: scope, ctx: ctx), resolveTerm($0.1, scope: scope, ctx: ctx)) }), t.location))
        case .arrayComprehension(let head, let body):
            let child = Scope(parent: scope, allocator: scope.allocator)
            var names: [String] = []
            collectVarNames(head, into: &names)
            let rb = resolveBodyWithBound(body, scope: child, ctx: ctx, initiallyBound: scope.chainSlots(), extraNames: names).0
            return Term(.arrayComprehension(resolveTerm(head, scope: child, ctx: ctx), rb), t.location)
        case .setComprehension(let head, let body):
            let child = Scope(parent: scope, allocator: scope.allocator)
            var names: [String] = []
            collectVarNames(head, into: &names)
            let rb = resolveBodyWithBound(body, scope: child, ctx: ctx, initiallyBound: scope.chainSlots(), extraNames: names).0
            return Term(.setComprehension(resolveTerm(head, scope: child, ctx: ctx), rb), t.location)
        case .objectComprehension(let k, let v, let body):
            let child = Scope(parent: scope, allocator: scope.allocator)
            var names: [String] = []
            collectVarNames(k, into: &names)
            collectVarNames(v, into: &names)
            let rb = resolveBodyWithBound(body, scope: child, ctx: ctx, initiallyBound: scope.chainSlots(), extraNames: names).0
            return Term(.objectComprehension(resolveTerm(k, scope: child, ctx: ctx), resolveTerm(v, scope: child, ctx: ctx), rb), t.location)
        case .call(let target, let args):
            let rargs = args.map { resolveTerm($0, scope: scope, ctx: ctx) }
            switch target {
            case .name(let parts, let loc):
                guard let resolved = resolveCallTarget(parts, ctx: ctx, location: loc, report: true) else { return t }
                checkArity(resolved, args: rargs, location: loc)
                return Term(.call(resolved, rargs), t.location)
            case .builtin(let ref):
                // Operators come from the parser by name: give them their slot.
                let resolved = builtins.slot(of: ref.name).map { CallTarget.builtin(BuiltinRef(ref.name, slot: $0)) } ?? target
                checkArity(resolved, args: rargs, location: t.location)
                return Term(.call(resolved, rargs), t.location)
            case .function:
                checkArity(target, args: rargs, location: t.location)
                return Term(.call(target, rargs), t.location)
            }
        case .template(let pieces):
            let rp: [TemplatePiece] = pieces.map { p in
                switch p {
                case .text: return p
                case .expression(let e):
                    let child = Scope(parent: scope, allocator: scope.allocator)
                    let rb = resolveBody([e], scope: child, ctx: ctx, initiallyBound: scope.chainSlots())
                    return .expression(rb[0])
                }
            }
            return Term(.template(rp), t.location)
        }
    }

    mutating func checkArity(_ target: CallTarget, args: [Term], location: Location) {
        switch target {
        case .builtin(let ref):
            let name = ref.name
            guard let b = builtins[name], let arity = b.arity else { return }
            if args.count < arity || args.count > arity + 1 {
                let kind = args.count < arity ? "too few arguments" : "too many arguments"
                errors.append(RegoError(.type, "\(name): arity mismatch\n\thave: (\(args.count) args)\n\twant: (\(arity) args): \(kind)", at: location))
            }
        case .function(let path):
            guard let node = treeLookup(path), let first = node.rules.first ?? node.defaultRule, let arity = first.args?.count else { return }
            if args.count < arity || args.count > arity + 1 {
                errors.append(RegoError(.type, "function data.\(path.joined(separator: ".")) has arity \(arity), got \(args.count) arguments", at: location))
            }
        case .name: break
        }
    }

    func resolveName(_ name: String, _ loc: Location, scope: Scope, ctx: ModuleContext) -> Term {
        if name == "_" { return Term(.local(scope.fresh("_"), "_"), loc) }
        if let slot = scope.lookup(name) { return Term(.local(slot, name), loc) }
        if name == "input" { return Term(.inputRoot, loc) }
        if name == "data" { return Term(.dataRoot, loc) }
        if let imp = ctx.imports[name] { return imp.relocated(loc) }
        if ctx.ruleRoots.contains(name) {
            return Term(.ref(Term(.dataRoot, loc), (ctx.package + [name]).map { Term.string($0, loc) }), loc)
        }
        return Term(.local(scope.declareLocal(name), name), loc)
    }

    mutating func resolveCallTarget(_ parts: [String], ctx: ModuleContext, location: Location, report: Bool) -> CallTarget? {
        var path: [String]?
        if parts[0] == "data" {
            path = Array(parts.dropFirst())
        } else if let imp = ctx.imports[parts[0]], let impName = Parser.dottedName(imp.flattenedRef()) ?? refPath(imp) {
            if impName.first == "data" { path = Array(impName.dropFirst()) + parts.dropFirst() }
        } else if ctx.ruleRoots.contains(parts[0]) {
            path = ctx.package + parts
        }
        if let path {
            if let node = treeLookup(path), node.hasRules {
                return .function(path)
            }
            if builtins[parts.joined(separator: ".")] == nil {
                if report { errors.append(RegoError(.type, "undefined function data.\(path.joined(separator: "."))", at: location)) }
                return nil
            }
        }
        let name = parts.joined(separator: ".")
        if let slot = builtins.slot(of: name) { return .builtin(BuiltinRef(name, slot: slot)) }
        if report {
            errors.append(RegoError(.type, "undefined function \(name)", at: location))
        }
        return nil
    }

    func refPath(_ t: Term) -> [String]? {
        switch t.kind {
        case .dataRoot: return ["data"]
        case .inputRoot: return ["input"]
        case .ref(let h, let p):
            guard var out = refPath(h) else { return nil }
            for x in p {
                guard case .value(.string(let s)) = x.kind else { return nil }
                out.append(s)
            }
            return out
        default: return nil
        }
    }

    func foldConstants(_ t: Term) -> Term {
        switch t.kind {
        case .array, .object, .set:
            if let v = t.constantValue { return Term(.value(v), t.location) }
            return t
        default:
            return t
        }
    }
}

// MARK: - Scopes and slots

final class SlotAllocator {
    var count = 0
    var names: [Int: String] = [:]
    func next(_ name: String) -> Int {
        defer { count += 1 }
        names[count] = name
        return count
    }
}

final class Scope {
    let parent: Scope?
    let allocator: SlotAllocator
    var names: [String: Int] = [:]
    var ownSlots: Set<Int> = []
    /// Names that an expression of this body declares (`:=`, `some`) and that are not
    /// declared yet at the expression being resolved (or are declared by it): the scopes
    /// nested in it (comprehensions, `every`) do not see them, as in OPA, where a
    /// declaration reaches only the expressions after it.
    var declaredLater: Set<String> = []

    init(parent: Scope?, allocator: SlotAllocator) {
        self.parent = parent
        self.allocator = allocator
    }

    func lookup(_ name: String) -> Int? { names[name] ?? parent?.lookupFromNested(name) }

    /// `lookup` from a scope nested in this one.
    private func lookupFromNested(_ name: String) -> Int? {
        if declaredLater.contains(name) { return parent?.lookupFromNested(name) }
        return names[name] ?? parent?.lookupFromNested(name)
    }

    /// Declares a name in this scope, shadowing outer ones.
    func declareLocal(_ name: String) -> Int {
        if let s = names[name] { return s }
        let s = allocator.next(name)
        names[name] = s
        ownSlots.insert(s)
        return s
    }

    func declare(_ name: String) -> Int { declareLocal(name) }

    func fresh(_ name: String) -> Int {
        let s = allocator.next(name)
        ownSlots.insert(s)
        return s
    }

    func chainSlots() -> Set<Int> {
        var s = ownSlots
        var p = parent
        while let sc = p { s.formUnion(sc.ownSlots); p = sc.parent }
        return s
    }
}

extension Term {
    /// A resolved import term placed at the location where it is used.
    func relocated(_ loc: Location) -> Term { Term(kind, loc) }

    func flattenedRef() -> Term {
        if case .ref(let h, let p) = kind, case .ref(let h2, let p2) = h.kind {
            return Term(.ref(h2, p2 + p), location).flattenedRef()
        }
        return self
    }
}

/// A compiled query: its body, frame size and the names of its variables for bindings.
public struct CompiledQuery: Sendable {
    let body: [Expr]
    let frameSize: Int
    public let variables: [(String, Int)]
}
