/// Safety: every variable must be bound by something before it is used. Like OPA, the
/// compiler reorders a body so that generators come before their consumers (keeping the
/// written order where it can) and reports the variables nothing binds.
extension Compiler {
    struct VarUse {
        /// Variables that must be bound before the term is evaluated.
        var inputs: Set<Int> = []
        /// Variables bound by iterating a reference (`x[i]` binds `i`).
        var outputs: Set<Int> = []
    }

    /// Every local slot in a term, nested bodies included.
    func allSlots(_ t: Term) -> Set<Int> {
        var out: Set<Int> = []
        collectSlots(t, into: &out)
        return out
    }

    func collectSlots(_ t: Term, into out: inout Set<Int>) {
        switch t.kind {
        case .local(let s, _): out.insert(s)
        case .value, .variable, .dataRoot, .inputRoot: break
        case .ref(let h, let p): collectSlots(h, into: &out); for x in p { collectSlots(x, into: &out) }
        case .nodeRef(let r): for x in r.rest { collectSlots(x, into: &out) }
        case .array(let a), .set(let a): for x in a { collectSlots(x, into: &out) }
        case .object(let pairs): for (k, v) in pairs { collectSlots(k, into: &out); collectSlots(v, into: &out) }
        case .call(_, let args): for x in args { collectSlots(x, into: &out) }
        case .arrayComprehension(let h, let b), .setComprehension(let h, let b):
            collectSlots(h, into: &out); for e in b { collectSlots(e, into: &out) }
        case .objectComprehension(let k, let v, let b):
            collectSlots(k, into: &out); collectSlots(v, into: &out); for e in b { collectSlots(e, into: &out) }
        case .template(let pieces):
            for p in pieces { if case .expression(let e) = p { collectSlots(e, into: &out) } }
        }
    }

    func collectSlots(_ e: Expr, into out: inout Set<Int>) {
        switch e.kind {
        case .term(let t): collectSlots(t, into: &out)
        case .unify(let a, let b), .assign(let a, let b): collectSlots(a, into: &out); collectSlots(b, into: &out)
        case .someDecl(let vs): for v in vs { collectSlots(v, into: &out) }
        case .someIn(let k, let v, let c):
            if let k { collectSlots(k, into: &out) }
            collectSlots(v, into: &out); collectSlots(c, into: &out)
        case .every(let k, let v, let c, let b):
            if let k { collectSlots(k, into: &out) }
            collectSlots(v, into: &out); collectSlots(c, into: &out)
            for x in b { collectSlots(x, into: &out) }
        }
        for w in e.withs { collectSlots(w.value, into: &out) }
    }

    /// Variables of a term visible at this body's level, split into inputs and outputs.
    func classify(_ t: Term, scope: Scope) -> VarUse {
        classify(t, chain: scope.chainSlots())
    }

    func classify(_ t: Term, chain: Set<Int>) -> VarUse {
        var use = VarUse()
        func walk(_ t: Term, keyPosition: Bool) {
            switch t.kind {
            case .local(let s, _):
                guard chain.contains(s) else { return }
                if keyPosition { use.outputs.insert(s) } else { use.inputs.insert(s) }
            case .value, .variable, .dataRoot, .inputRoot: break
            case .ref(let h, let p):
                walk(h, keyPosition: false)
                for x in p { walk(x, keyPosition: true) }
            case .nodeRef(let r):
                for x in r.rest { walk(x, keyPosition: true) }
            case .array(let a), .set(let a): for x in a { walk(x, keyPosition: keyPosition) }
            case .object(let pairs): for (k, v) in pairs { walk(k, keyPosition: keyPosition); walk(v, keyPosition: keyPosition) }
            case .call(_, let args): for x in args { walk(x, keyPosition: false) }
            case .arrayComprehension, .setComprehension, .objectComprehension, .template:
                use.inputs.formUnion(allSlots(t).intersection(chain))
            }
        }
        walk(t, keyPosition: false)
        use.inputs.subtract(use.outputs)
        return use
    }

    /// Bare variables in pattern position (what unification with a value can bind).
    func patternVars(_ t: Term, chain: Set<Int>) -> Set<Int> {
        switch t.kind {
        case .local(let s, _): return chain.contains(s) ? [s] : []
        case .array(let a), .set(let a): return a.reduce(into: Set<Int>()) { $0.formUnion(patternVars($1, chain: chain)) }
        case .object(let pairs): return pairs.reduce(into: Set<Int>()) { $0.formUnion(patternVars($1.1, chain: chain)); $0.formUnion(patternVars($1.0, chain: chain)) }
        default: return []
        }
    }

    func callArity(_ target: CallTarget) -> Int? {
        switch target {
        case .builtin(let b): return builtins[b.name]?.arity
        case .function(let path):
            guard let node = treeLookup(path), let r = node.rules.first ?? node.defaultRule else { return nil }
            return r.args?.count
        case .name: return nil
        }
    }

    /// What an expression needs bound before it runs, and what it binds.
    func exprUse(_ e: Expr, bound: Set<Int>, chain: Set<Int>) -> VarUse {
        var use = VarUse()
        var refOutputs: Set<Int> = []
        switch e.kind {
        case .term(let t):
            if case .call(let target, let args) = t.kind, let arity = callArity(target), args.count == arity + 1 {
                var c = VarUse()
                for a in args.dropLast() {
                    let x = classify(a, chain: chain)
                    c.inputs.formUnion(x.inputs); c.outputs.formUnion(x.outputs)
                }
                let last = args[args.count - 1]
                let pv = patternVars(last, chain: chain)
                let lc = classify(last, chain: chain)
                use.inputs = c.inputs.union(lc.inputs.subtracting(pv)).subtracting(c.outputs)
                use.outputs = c.outputs.union(pv).union(lc.outputs)
                refOutputs = c.outputs.union(lc.outputs)
            } else {
                let c = classify(t, chain: chain)
                use = c
                refOutputs = c.outputs
            }
        case .unify(let a, let b):
            let ca = classify(a, chain: chain), cb = classify(b, chain: chain)
            refOutputs = ca.outputs.union(cb.outputs)
            var pairs: [(Term, Term)] = [(a, b)]
            // Element-wise for literal arrays of equal length: `[x, 1] = [2, y]`.
            var expanded: [(Term, Term)] = []
            while let (x, y) = pairs.popLast() {
                if case .array(let xs) = x.kind, case .array(let ys) = y.kind, xs.count == ys.count {
                    for i in 0..<xs.count { pairs.append((xs[i], ys[i])) }
                } else if case .object(let xs) = x.kind, case .object(let ys) = y.kind, xs.count == ys.count {
                    for i in 0..<xs.count { pairs.append((xs[i].1, ys[i].1)) }
                } else {
                    expanded.append((x, y))
                }
            }
            var avail = bound.union(refOutputs)
            var outs = refOutputs
            var changed = true
            while changed {
                changed = false
                for (x, y) in expanded {
                    let px = patternVars(x, chain: chain), py = patternVars(y, chain: chain)
                    let vx = classify(x, chain: chain).inputs.union(px), vy = classify(y, chain: chain).inputs.union(py)
                    if vy.isSubset(of: avail) && !px.isSubset(of: avail) { avail.formUnion(px); outs.formUnion(px); changed = true }
                    if vx.isSubset(of: avail) && !py.isSubset(of: avail) { avail.formUnion(py); outs.formUnion(py); changed = true }
                }
            }
            let allPattern = patternVars(a, chain: chain).union(patternVars(b, chain: chain))
            use.inputs = ca.inputs.union(cb.inputs).subtracting(allPattern).subtracting(refOutputs)
                .union(allPattern.subtracting(avail))
            use.outputs = outs
        case .assign(let a, let b):
            let cb = classify(b, chain: chain)
            refOutputs = cb.outputs
            let pa = patternVars(a, chain: chain)
            use.inputs = cb.inputs.subtracting(cb.outputs).union(classify(a, chain: chain).inputs.subtracting(pa))
            use.outputs = cb.outputs.union(pa)
        case .someDecl:
            break
        case .someIn(let k, let v, let coll):
            let cc = classify(coll, chain: chain)
            refOutputs = cc.outputs
            use.inputs = cc.inputs
            use.outputs = cc.outputs.union(patternVars(v, chain: chain))
            if let k { use.outputs.formUnion(patternVars(k, chain: chain)) }
        case .every(_, _, let coll, let body):
            let cc = classify(coll, chain: chain)
            use.inputs = cc.inputs
            var inner: Set<Int> = []
            for x in body { collectSlots(x, into: &inner) }
            use.inputs.formUnion(inner.intersection(chain))
            use.outputs = cc.outputs
            refOutputs = cc.outputs
        }
        if e.negated {
            use.inputs.formUnion(use.outputs.subtracting(refOutputs))
            use.outputs = []
        }
        for w in e.withs {
            use.inputs.formUnion(allSlots(w.value).intersection(chain))
        }
        use.inputs.subtract(bound.intersection(use.outputs))
        return use
    }

    /// Reorders a body for safety; returns the new order and what is bound after it.
    mutating func reorderForSafety(_ body: [Expr], scope: Scope, bound initial: Set<Int>) -> ([Expr], Set<Int>) {
        let chain = scope.chainSlots()
        // Variables declared in enclosing scopes are bound by the time this body runs.
        var bound = initial.union(chain.subtracting(scope.ownSlots))
        var remaining = body
        var ordered: [Expr] = []
        ordered.reserveCapacity(body.count)
        while !remaining.isEmpty {
            var picked: Int?
            for (i, e) in remaining.enumerated() where exprUse(e, bound: bound, chain: chain).inputs.isSubset(of: bound) {
                picked = i
                break
            }
            guard let i = picked else {
                var reported: Set<String> = []
                for e in remaining {
                    let missing = exprUse(e, bound: bound, chain: chain).inputs.subtracting(bound)
                    for s in missing.sorted() {
                        let name = scope.allocator.names[s] ?? "?"
                        if name == "_" || reported.contains(name) { continue }
                        reported.insert(name)
                        errors.append(RegoError(.unsafeVar, "var \(name) is unsafe", at: locationOf(slot: s, in: e) ?? e.location))
                    }
                }
                ordered.append(contentsOf: remaining)
                break
            }
            let e = remaining.remove(at: i)
            bound.formUnion(exprUse(e, bound: bound, chain: chain).outputs)
            ordered.append(e)
        }
        return (ordered, bound)
    }

    func locationOf(slot: Int, in e: Expr) -> Location? {
        func find(_ t: Term) -> Location? {
            switch t.kind {
            case .local(let s, _): return s == slot ? t.location : nil
            case .ref(let h, let p): return find(h) ?? p.lazy.compactMap(find).first
            case .nodeRef(let r): return r.rest.lazy.compactMap(find).first
            case .array(let a), .set(let a): return a.lazy.compactMap(find).first
            case .object(let pairs): return pairs.lazy.compactMap { find($0.0) ?? find($0.1) }.first
            case .call(_, let args): return args.lazy.compactMap(find).first
            default: return nil
            }
        }
        switch e.kind {
        case .term(let t): return find(t)
        case .unify(let a, let b), .assign(let a, let b): return find(a) ?? find(b)
        case .someIn(let k, let v, let c): return k.flatMap(find) ?? find(v) ?? find(c)
        case .every(_, _, let c, _): return find(c)
        case .someDecl(let vs): return vs.lazy.compactMap(find).first
        }
    }
}
