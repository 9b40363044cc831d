/// Terms, unification and references.
extension Evaluator {
    // MARK: - Terms

    @inline(never)
    func evalTerm(_ t: Term, _ f: Frame, _ k: (Value) throws -> Void) throws {
        switch t.kind {
        case .value(let v):
            try k(v)
        case .local(let s, let name):
            guard let v = f.slots[s] else { throw RegoError(.unsafeVar, "var \(name) is unsafe", at: t.location) }
            try k(v)
        case .inputRoot:
            if let input = state.input { try k(input) }
        case .dataRoot:
            try walkData(policy.root, base: policy.data, path: [], 0, f, k)
        case .ref(let head, let path):
            try evalRef(head, path, f, k)
        case .nodeRef(let target):
            if state.overlays.isEmpty {
                if let node = target.node {
                    try walkData(node, base: target.base, path: target.rest, 0, f, k)
                } else if let base = target.base {
                    try walkValue(base, target.rest, 0, f, baseDocument: true, k)
                }
            } else {
                try walkData(policy.root, base: policy.data, path: target.fullPath, 0, f, k)
            }
        case .array(let items):
            try evalItems(items, f) { try k(.array($0)) }
        case .set(let items):
            try evalItems(items, f) { try k(.set(RegoSet($0))) }
        case .object(let pairs):
            try evalPairs(pairs, f) { try k(.object(RegoObject($0))) }
        case .arrayComprehension(let head, let body):
            var out: [Value] = []
            try evalBody(body, 0, f) { try self.evalTerm(head, f) { out.append($0) } }
            try k(.array(out))
        case .setComprehension(let head, let body):
            var out = SetBuilder()
            try evalBody(body, 0, f) { try self.evalTerm(head, f) { out.insert($0) } }
            try k(.set(out.build()))
        case .objectComprehension(let kt, let vt, let body):
            var obj = RegoObject()
            try evalBody(body, 0, f) {
                try self.evalTerm(kt, f) { key in
                    try self.evalTerm(vt, f) { val in
                        if let prev = obj[key], prev != val {
                            throw RegoError(.evalConflict, "object keys must be unique", at: t.location)
                        }
                        obj[key] = val
                    }
                }
            }
            try k(.object(obj))
        case .call(let target, let args):
            try evalArgs(args, args.count, f) { vals in
                if let rel = self.unmockedRelation(target) {
                    // `walk(x)` as a term has every one of its results, as `walk(x, r)` does.
                    for r in try self.callRelation(rel, target, vals, t.location) { try k(r) }
                    return
                }
                if let r = try self.call(target, vals, t.location) { try k(r) }
            }
        case .template(let pieces):
            var out = ""
            for p in pieces {
                switch p {
                case .text(let s): out += s
                case .expression(let e): out += try templateValue(e, f)
                }
            }
            try k(.string(out))
        case .variable(let name):
            throw RegoError(.internalError, "unresolved name \(name)", at: t.location)
        }
    }

    /// The value of a term that has at most one, computed without a continuation:
    /// constants, bound variables, references whose keys are all constants, and builtin or
    /// function calls on such terms. `.some(nil)` is undefined; nil means the term needs
    /// `evalTerm` (it may bind variables or have several values). Objects, arrays and
    /// calls built from such terms are where evaluation spends most of its continuations.
    /// When a collection or call turns out to hold a term that needs `evalTerm`, the terms
    /// before it are computed again there: rule values are cached and builtins are pure
    /// (the random ones memoized per evaluation), so that costs time, never a result.
    @inline(never)
    func directValue(_ t: Term, _ f: Frame) throws -> Value?? {
        switch t.kind {
        case .value(let v):
            return .some(v)
        case .local(let s, _):
            guard let v = f.slots[s] else { return nil }
            return .some(v)
        case .inputRoot:
            return .some(state.input)
        case .ref(let head, let path):
            let start: Value
            switch head.kind {
            case .inputRoot:
                guard let input = state.input else { return .some(nil) }
                start = input
            case .local(let s, _):
                guard let v = f.slots[s] else { return nil }
                start = v
            default:
                return nil
            }
            return Evaluator.descendWhole(start, path, baseDocument: false)
        case .nodeRef(let target):
            guard state.overlays.isEmpty else { return nil }
            guard let node = target.node else {
                guard let base = target.base else { return .some(nil) }
                return Evaluator.descendWhole(base, target.rest, baseDocument: true)
            }
            // As `walkData` reads it: a node with rules (or the end of the path) is
            // evaluated whole; a prefix node with more keys to go is left to it.
            if node.isFunction { return .some(nil) }
            guard node.hasRules || target.rest.isEmpty else { return nil }
            guard let v = try nodeValue(node, base: target.base) else { return .some(nil) }
            return Evaluator.descendWhole(v, target.rest, baseDocument: false)
        case .call(let target, let args):
            // A relation (`walk`) has several values: the general path enumerates them.
            if unmockedRelation(target) != nil { return nil }
            guard let vals = try directArgs(args, args.count, f) else { return nil }
            guard let vals else { return .some(nil) }
            return .some(try call(target, vals, t.location))
        case .array(let items):
            guard let vals = try directArgs(items, items.count, f) else { return nil }
            return .some(vals.map { .array($0) })
        case .set(let items):
            guard let vals = try directArgs(items, items.count, f) else { return nil }
            return .some(vals.map { .set(RegoSet($0)) })
        case .object(let pairs):
            var buffer: [(Value, Value)] = []
            buffer.reserveCapacity(pairs.count)
            guard try directPairs(pairs, f, into: &buffer) else { return nil }
            return .some(buffer.count == pairs.count ? .object(RegoObject(buffer)) : nil)
        default:
            return nil
        }
    }

    /// The first `n` arguments' values when each has at most one (`directValue`); `.some(nil)`
    /// when one is undefined; nil when one needs `evalTerm`.
    @inline(__always)
    func directArgs(_ args: [Term], _ n: Int, _ f: Frame) throws -> [Value]?? {
        var out: [Value] = []
        out.reserveCapacity(n)
        for i in 0..<n {
            guard let v = try directValue(args[i], f) else { return nil }
            guard let v else { return .some(nil) }
            out.append(v)
        }
        return .some(out)
    }

    /// Follows `path` from `start` while its keys are constants, the common case
    /// (`input.attributes.request.http`): in a loop, one frame for the whole run. Returns
    /// the value reached and the index of the first key that is not a constant (`path.count`
    /// when all are), or nil when a key is missing: then the reference is undefined.
    @inline(__always)
    static func descend(_ start: Value, _ path: [Term], from: Int, baseDocument: Bool) -> (value: Value, next: Int)? {
        var v = start
        var i = from
        while i < path.count, case .value(let key) = path[i].kind {
            guard let child = v[key] ?? (baseDocument ? Evaluator.storageKeyLookup(v, key) : nil) else { return nil }
            v = child
            i += 1
        }
        return (v, i)
    }

    /// `descend` for `directValue`: the one value of a path whose keys are all constants
    /// (`.some(nil)` when undefined), or nil when a key needs evaluating.
    @inline(__always)
    static func descendWhole(_ start: Value, _ path: [Term], baseDocument: Bool) -> Value?? {
        guard let (v, next) = descend(start, path, from: 0, baseDocument: baseDocument) else { return .some(nil) }
        return next == path.count ? .some(v) : nil
    }

    @inline(never)
    func templateValue(_ e: Expr, _ f: Frame) throws -> String {
        var result: Value?
        let run = {
            _ = try self.firstSolution { stop in
                if case .term(let t) = e.kind, !e.negated {
                    try self.evalTerm(t, f) { v in result = v; try stop() }
                } else {
                    try self.evalExprNegatable(negated: e.negated, e.kind, f) { result = .true; try stop() }
                }
            }
        }
        if e.withs.isEmpty { try run() } else { try withModifiers(e.withs, f) { _ in try run() } }
        guard let v = result else { return "<undefined>" }
        if case .string(let s) = v { return s }
        return v.regoText
    }

    /// Every combination of the items' values, in order. The values are gathered in one
    /// buffer that grows and shrinks with the backtracking, instead of a copy per item.
    @inline(never)
    func evalItems(_ items: [Term], _ f: Frame, _ k: ([Value]) throws -> Void) throws {
        if let direct = try directArgs(items, items.count, f) {
            if let direct { try k(direct) }
            return
        }
        var buffer: [Value] = []
        buffer.reserveCapacity(items.count)
        try evalItemsInto(items, 0, &buffer, f, k)
    }

    @inline(never)
    func evalItemsInto(_ items: [Term], _ i: Int, _ buffer: inout [Value], _ f: Frame, _ k: ([Value]) throws -> Void) throws {
        if i == items.count { try k(buffer); return }
        try evalTerm(items[i], f) { v in
            buffer.append(v)
            defer { buffer.removeLast() }
            try self.evalItemsInto(items, i + 1, &buffer, f, k)
        }
    }

    @inline(never)
    func evalPairs(_ pairs: [(Term, Term)], _ f: Frame, _ k: ([(Value, Value)]) throws -> Void) throws {
        var buffer: [(Value, Value)] = []
        buffer.reserveCapacity(pairs.count)
        if try directPairs(pairs, f, into: &buffer) {
            if buffer.count == pairs.count { try k(buffer) }
            return
        }
        buffer.removeAll(keepingCapacity: true)
        try evalPairsInto(pairs, 0, &buffer, f, k)
    }

    /// Fills `buffer` when every key and value has at most one value: true then (the
    /// buffer is short when one is undefined); false when one needs `evalTerm`.
    @inline(never)
    func directPairs(_ pairs: [(Term, Term)], _ f: Frame, into buffer: inout [(Value, Value)]) throws -> Bool {
        for i in 0..<pairs.count {
            guard let key = try directValue(pairs[i].0, f), let value = try directValue(pairs[i].1, f) else { return false }
            guard let key, let value else { return true }
            buffer.append((key, value))
        }
        return true
    }

    @inline(never)
    func evalPairsInto(_ pairs: [(Term, Term)], _ i: Int, _ buffer: inout [(Value, Value)], _ f: Frame, _ k: ([(Value, Value)]) throws -> Void) throws {
        if i == pairs.count { try k(buffer); return }
        try evalTerm(pairs[i].0, f) { key in
            try self.evalTerm(pairs[i].1, f) { val in
                buffer.append((key, val))
                defer { buffer.removeLast() }
                try self.evalPairsInto(pairs, i + 1, &buffer, f, k)
            }
        }
    }

    // MARK: - Unification

    /// True when the term has a variable in pattern position that is not bound yet.
    func isPattern(_ t: Term, _ f: Frame) -> Bool {
        switch t.kind {
        case .local(let s, _): return f.slots[s] == nil
        case .array(let items), .set(let items): return items.contains { isPattern($0, f) }
        case .object(let pairs): return pairs.contains { isPattern($0.0, f) || isPattern($0.1, f) }
        default: return false
        }
    }

    @inline(never)
    func unify(_ a: Term, _ b: Term, _ f: Frame, _ k: () throws -> Void) throws {
        if !isPattern(a, f) {
            if let direct = try directValue(a, f) {
                if let va = direct { try unifyValue(b, va, f, k) }
                return
            }
            try evalTerm(a, f) { va in try self.unifyValue(b, va, f, k) }
        } else if !isPattern(b, f) {
            if let direct = try directValue(b, f) {
                if let vb = direct { try unifyValue(a, vb, f, k) }
                return
            }
            try evalTerm(b, f) { vb in try self.unifyValue(a, vb, f, k) }
        } else {
            switch (a.kind, b.kind) {
            case (.array(let xs), .array(let ys)):
                guard xs.count == ys.count else { return }
                try unifyPairs(xs, ys, 0, f, k)
            case (.object(let xs), .object(let ys)):
                guard xs.count == ys.count else { return }
                // Keys must be ground: match them up, then unify the values.
                var ysByKey: [(Value, Term)] = []
                for (kt, vt) in ys {
                    guard let kv = kt.constantValue else { throw RegoError(.unsafeVar, "object keys must be ground", at: kt.location) }
                    ysByKey.append((kv, vt))
                }
                var left: [Term] = [], right: [Term] = []
                for (kt, vt) in xs {
                    guard let kv = kt.constantValue, let m = ysByKey.first(where: { $0.0 == kv }) else { return }
                    left.append(vt); right.append(m.1)
                }
                try unifyPairs(left, right, 0, f, k)
            default:
                let name: String
                if case .local(_, let n) = a.kind { name = n } else if case .local(_, let n) = b.kind { name = n } else { name = "?" }
                throw RegoError(.unsafeVar, "var \(name) is unsafe", at: a.location)
            }
        }
    }

    @inline(never)
    func unifyPairs(_ xs: [Term], _ ys: [Term], _ i: Int, _ f: Frame, _ k: () throws -> Void) throws {
        if i == xs.count { try k(); return }
        try unify(xs[i], ys[i], f) { try self.unifyPairs(xs, ys, i + 1, f, k) }
    }

    /// Unifies a term with a value, binding the term's free variables.
    @inline(never)
    func unifyValue(_ t: Term, _ v: Value, _ f: Frame, _ k: () throws -> Void) throws {
        switch t.kind {
        case .local(let s, _):
            if let cur = f.slots[s] {
                if cur == v { try k() }
            } else {
                f.slots[s] = v
                defer { f.slots[s] = nil }
                try k()
            }
        case .value(let c):
            if c == v { try k() }
        case .array(let items):
            guard case .array(let vs) = v, vs.count == items.count else { return }
            try unifyArray(items, vs, 0, f, k)
        case .object(let pairs):
            guard case .object(let o) = v, o.count == pairs.count else { return }
            try unifyObject(pairs, o, 0, f, k)
        case .set:
            if isPattern(t, f) {
                // OPA does not unify variables inside sets.
                return
            }
            try evalTerm(t, f) { sv in if sv == v { try k() } }
        default:
            try evalTerm(t, f) { tv in if tv == v { try k() } }
        }
    }

    @inline(never)
    func unifyArray(_ items: [Term], _ vs: [Value], _ i: Int, _ f: Frame, _ k: () throws -> Void) throws {
        if i == items.count { try k(); return }
        try unifyValue(items[i], vs[i], f) { try self.unifyArray(items, vs, i + 1, f, k) }
    }

    @inline(never)
    func unifyObject(_ pairs: [(Term, Term)], _ o: RegoObject, _ i: Int, _ f: Frame, _ k: () throws -> Void) throws {
        if i == pairs.count { try k(); return }
        let (kt, vt) = pairs[i]
        if isPattern(kt, f) {
            // A variable key: try each key of the object.
            for entry in o.entries {
                let key = entry.key, val = entry.value
                try unifyValue(kt, key, f) {
                    try self.unifyValue(vt, val, f) { try self.unifyObject(pairs, o, i + 1, f, k) }
                }
            }
            return
        }
        try evalTerm(kt, f) { key in
            guard let val = o[key] else { return }
            try self.unifyValue(vt, val, f) { try self.unifyObject(pairs, o, i + 1, f, k) }
        }
    }

    /// Calls `k(key, value)` for each element: array (index, element), object (key, value),
    /// set (element, element).
    @inline(never)
    func iterate(_ c: Value, _ k: (Value, Value) throws -> Void) throws {
        steps += c.count
        if steps > options.maxSteps { throw RegoError(.evalLimit, "evaluation exceeded its limit of \(options.maxSteps) steps") }
        switch c {
        case .array(let a): for (i, v) in a.enumerated() { try k(.int(i), v) }
        case .object(let o): for e in o.entries { try k(e.key, e.value) }
        case .set(let s): for v in s.elements { try k(v, v) }
        default: break
        }
    }

    // MARK: - References

    @inline(never)
    func evalRef(_ head: Term, _ path: [Term], _ f: Frame, _ k: (Value) throws -> Void) throws {
        switch head.kind {
        case .dataRoot:
            try walkData(policy.root, base: policy.data, path: path, 0, f, k)
        case .inputRoot:
            guard let input = state.input else { return }
            try walkValue(input, path, 0, f, k)
        case .local(let s, let name):
            guard let v = f.slots[s] else { throw RegoError(.unsafeVar, "var \(name) is unsafe", at: head.location) }
            try walkValue(v, path, 0, f, k)
        default:
            try evalTerm(head, f) { v in try self.walkValue(v, path, 0, f, k) }
        }
    }

    @inline(never)
    func walkValue(_ start: Value, _ path: [Term], _ from: Int, _ f: Frame, baseDocument: Bool = false, _ k: (Value) throws -> Void) throws {
        guard let (v, i) = Evaluator.descend(start, path, from: from, baseDocument: baseDocument) else { return }
        if i == path.count { try k(v); return }
        let keyTerm = path[i]
        switch keyTerm.kind {
        case .local(let s, _):
            if let key = f.slots[s] {
                if let child = v[key] { try walkValue(child, path, i + 1, f, k) }
                return
            }
        default:
            break
        }
        if isPattern(keyTerm, f) {
            steps += v.count
            if steps > options.maxSteps { throw RegoError(.evalLimit, "evaluation exceeded its limit of \(options.maxSteps) steps", at: keyTerm.location) }
            switch v {
            case .array(let a):
                for (idx, el) in a.enumerated() {
                    try unifyValue(keyTerm, .int(idx), f) { try self.walkValue(el, path, i + 1, f, k) }
                }
            case .object(let o):
                for e in o.entries {
                    try unifyValue(keyTerm, e.key, f) { try self.walkValue(e.value, path, i + 1, f, k) }
                }
            case .set(let s):
                for el in s.elements {
                    try unifyValue(keyTerm, el, f) { try self.walkValue(el, path, i + 1, f, k) }
                }
            default:
                return
            }
        } else {
            try evalTerm(keyTerm, f) { key in
                if let child = v[key] { try self.walkValue(child, path, i + 1, f, k) }
            }
        }
    }

    // MARK: - The data document

    /// Base documents are stored under string keys, as OPA's store keeps them, so
    /// `data.x[2]` also finds the key "2".
    static func storageKeyLookup(_ v: Value, _ key: Value) -> Value? {
        guard case .object = v, case .number(let n) = key, n.isInteger, let i = n.intValue else { return nil }
        return v[.string(String(i))]
    }

    /// Walks `data` along `path`: through the rule tree while there are nodes, then into
    /// values. A node with rules is evaluated whole and cached.
    @inline(never)
    func walkData(_ node: RuleNode, base: Value?, path: [Term], _ i: Int, _ f: Frame, _ k: (Value) throws -> Void) throws {
        if !state.overlays.isEmpty, let ov = state.overlays.last(where: { $0.path == node.path }) {
            try walkValue(ov.value, path, i, f, k)
            return
        }
        if node.isFunction { return }
        if node.hasRules || i == path.count {
            guard let v = try nodeValue(node, base: base) else { return }
            try walkValue(v, path, i, f, k)
            return
        }
        let keyTerm = path[i]
        func visit(_ key: Value) throws {
            let childBase = base.flatMap { $0[key] ?? Evaluator.storageKeyLookup($0, key) }
            if case .string(let s) = key, let child = node.children[s] {
                try self.walkData(child, base: childBase, path: path, i + 1, f, k)
            } else if case .string(let s) = key, !self.state.overlays.isEmpty, self.state.overlays.contains(where: { $0.path.starts(with: node.path + [s]) }) {
                try self.walkOverlaid(childBase, prefix: node.path + [s], path: path, i + 1, f, k)
            } else if let childBase {
                try self.walkValue(childBase, path, i + 1, f, baseDocument: true, k)
            }
        }
        if isPattern(keyTerm, f) {
            var keys = Set<String>(node.children.keys.filter { !node.children[$0]!.isFunction })
            if case .object(let o)? = base {
                for key in o.keys { if case .string(let s) = key { keys.insert(s) } }
            }
            for ov in state.overlays where ov.path.count > node.path.count && ov.path.starts(with: node.path) {
                keys.insert(ov.path[node.path.count])
            }
            var all: [Value] = keys.sorted(by: Value.utf8Precedes).map { .string($0) }
            if case .object(let o)? = base {
                for key in o.keys { if case .string = key {} else { all.append(key) } }
            }
            for key in all {
                try unifyValue(keyTerm, key, f) { try visit(key) }
            }
        } else {
            try evalTerm(keyTerm, f, visit)
        }
    }

    /// Base data below a `with data…` override that has no rule node.
    @inline(never)
    func walkOverlaid(_ base: Value?, prefix: [String], path: [Term], _ i: Int, _ f: Frame, _ k: (Value) throws -> Void) throws {
        var v = base ?? .emptyObject
        for ov in state.overlays where ov.path.count >= prefix.count && ov.path.starts(with: prefix) {
            v = Evaluator.upsert(v, ov.path[prefix.count...], ov.value)
        }
        try walkValue(v, path, i, f, k)
    }

    /// The whole document at a node: base data, the node's rules and its children, merged.
    @inline(never)
    func nodeValue(_ node: RuleNode, base: Value?) throws -> Value? {
        if state.cache.isEmpty {
            state.cache = ContiguousArray(repeating: .empty, count: policy.nodeCount)
        } else {
            switch state.cache[node.id] {
            case .value(let v): return v
            case .undefined: return nil
            case .empty: break
            }
        }
        let v = try computeNodeValue(node, base: base)
        state.cache[node.id] = v.map { .value($0) } ?? .undefined
        written.append(node.id)
        return v
    }

    @inline(never)
    func computeNodeValue(_ node: RuleNode, base: Value?) throws -> Value? {
        // A package or prefix with nothing defined in it is still a document: {}.
        var result: Value? = base ?? (node.hasRules ? nil : .emptyObject)
        if node.hasRules {
            if let rv = try ruleValue(node) {
                result = try result.map { try merge($0, rv, node) } ?? rv
            }
        }
        if !node.children.isEmpty {
            var obj: RegoObject
            if case .object(let o)? = result { obj = o } else if result == nil { obj = RegoObject() } else {
                return result
            }
            for name in node.sortedChildNames {
                let child = node.children[name]!
                if child.isFunction { continue }
                if let cv = try nodeValueWithOverlays(child, base: base?[name], prefix: child.path) {
                    if let existing = obj[name] { obj[name] = try merge(existing, cv, child) } else { obj[name] = cv }
                }
            }
            if result != nil || !node.hasRules || !obj.isEmpty { result = .object(obj) }
        }
        return result
    }

    @inline(never)
    func nodeValueWithOverlays(_ node: RuleNode, base: Value?, prefix: [String]) throws -> Value? {
        if !state.overlays.isEmpty {
            if let ov = state.overlays.last(where: { $0.path == prefix }) { return ov.value }
            let below = state.overlays.filter { $0.path.count > prefix.count && $0.path.starts(with: prefix) }
            if !below.isEmpty {
                var v = try nodeValue(node, base: base) ?? .emptyObject
                for ov in below { v = Evaluator.upsert(v, ov.path[prefix.count...], ov.value) }
                return v
            }
        }
        return try nodeValue(node, base: base)
    }

    @inline(never)
    func merge(_ a: Value, _ b: Value, _ node: RuleNode) throws -> Value {
        guard case .object(var x) = a, case .object(let y) = b else {
            if a == b { return a }
            throw RegoError(.evalConflict, "conflicting documents at data.\(node.path.joined(separator: "."))", at: node.rules.first?.location)
        }
        for e in y.entries {
            if let existing = x[e.key] { x[e.key] = try merge(existing, e.value, node) } else { x[e.key] = e.value }
        }
        return .object(x)
    }

    // MARK: - Rules

    @inline(never)
    func ruleValue(_ node: RuleNode) throws -> Value? {
        if inProgress.isEmpty { inProgress = ContiguousArray(repeating: false, count: policy.nodeCount) }
        if inProgress[node.id] {
            throw RegoError(.recursion, "rule data.\(node.path.joined(separator: ".")) is recursive", at: node.rules.first?.location)
        }
        inProgress[node.id] = true
        defer { inProgress[node.id] = false }
        switch node.kind {
        case .complete?: return try completeValue(node)
        case .multiValue?: return try multiValue(node)
        case .partialObject?: return try partialObjectValue(node)
        case .function?, nil: return nil
        }
    }

    @inline(never)
    func completeValue(_ node: RuleNode) throws -> Value? {
        var result: Value?
        for rule in node.rules {
            if result != nil, node.firstSuccessDecides { break }
            var r: Rule? = rule
            while let cur = r {
                let f = Frame.make(cur.frameSize)
                // The body's leading tests that are decided directly (all of them in
                // `allow if { tool in agent.tools; method_allowed }`), then, when nothing is
                // left and the value has at most one value (`agent := input.agent`, an
                // object of such terms), the value without the general path's continuations.
                let (holds, next) = try directTests(cur.body, f)
                if !holds { r = cur.elseRule; continue }
                if next == cur.body.count, let direct = try directValue(cur.valueOrTrue, f) {
                    guard let v = direct else { r = cur.elseRule; continue }
                    result = try Evaluator.agreeing(result, v, cur)
                    break
                }
                var produced = false
                let valueTerm = cur.valueOrTrue
                // A constant value needs only the body's first solution. A body without
                // variables has at most one, so there is nothing to cut short (and no
                // throw to pay for).
                let constant = cur.frameSize > 0 && cur.valueIsConstant
                let token = newExitToken()
                do {
                    try evalBody(cur.body, next, f) {
                        try self.evalTerm(valueTerm, f) { v in
                            produced = true
                            result = try Evaluator.agreeing(result, v, cur)
                            if constant { throw EarlyExit(token: token) }
                        }
                    }
                } catch let e as EarlyExit where e.token == token {}
                if produced { break }
                r = cur.elseRule
            }
        }
        if result == nil, let d = node.defaultRule, let v = d.value {
            let f = Frame.make(d.frameSize)
            if let direct = try directValue(v, f) { return direct }
            _ = try firstSolution { stop in try evalTerm(v, f) { x in result = x; try stop() } }
        }
        return result
    }

    /// A complete rule's value once a definition produced `v`: `v`, unless an earlier
    /// definition produced another.
    @inline(__always)
    static func agreeing(_ result: Value?, _ v: Value, _ rule: Rule) throws -> Value {
        if let prev = result, prev != v {
            throw RegoError(.evalConflict, "complete rules must not produce multiple outputs", at: rule.location)
        }
        return v
    }

    @inline(never)
    func multiValue(_ node: RuleNode) throws -> Value? {
        var out = SetBuilder()
        for rule in node.rules {
            let f = Frame.make(rule.frameSize)
            guard let key = rule.key else { continue }
            try evalBody(rule.body, 0, f) {
                try self.evalTerm(key, f) { out.insert($0) }
            }
        }
        return .set(out.build())
    }

    @inline(never)
    func partialObjectValue(_ node: RuleNode) throws -> Value? {
        var obj = Value.emptyObject
        for rule in node.rules {
            var r: Rule? = rule
            while let cur = r {
                let f = Frame.make(cur.frameSize)
                var produced = false
                let valueTerm = cur.valueOrTrue
                try evalBody(cur.body, 0, f) {
                    try self.evalItems(cur.dynamicSuffix, f) { keys in
                        try self.evalTerm(valueTerm, f) { v in
                            produced = true
                            obj = try self.insertPath(obj, keys[...], v, cur.location)
                        }
                    }
                }
                if produced { break }
                r = cur.elseRule
            }
        }
        return obj
    }

    @inline(never)
    func insertPath(_ base: Value, _ keys: ArraySlice<Value>, _ v: Value, _ loc: Location) throws -> Value {
        guard let first = keys.first else { return v }
        guard case .object(var o) = base else {
            throw RegoError(.evalConflict, "object keys must be unique", at: loc)
        }
        if keys.count == 1 {
            if let prev = o[first], prev != v {
                throw RegoError(.evalConflict, "object keys must be unique", at: loc)
            }
            o[first] = v
        } else {
            o[first] = try insertPath(o[first] ?? .emptyObject, keys.dropFirst(), v, loc)
        }
        return .object(o)
    }
}
