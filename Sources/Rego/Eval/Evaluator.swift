import Synchronization

/// Top-down evaluation with backtracking, in continuation-passing style: every generator
/// calls its continuation once per solution and undoes its bindings when it returns.
///
/// One `Evaluator` serves one query on one thread; the `CompiledPolicy` it reads is shared.
final class Evaluator {
    let policy: CompiledPolicy
    let options: EvalOptions
    let context: BuiltinContext
    var state: State
    var steps = 0
    var callDepth = 0
    var nextExitToken = 0
    /// Nodes being evaluated (by node id, allocated on first use), to report recursion
    /// instead of looping. Unlike the rule cache, `with` does not reset it.
    var inProgress: ContiguousArray<Bool> = []
    /// Node ids whose cache entries this evaluation wrote: what `recycle` clears.
    var written: [Int] = []

    /// What `with` changes; swapped in and out as a whole.
    struct State {
        var input: Value?
        var overlays: [(path: [String], value: Value)] = []
        var mocks: [String: Mock] = [:]
        /// Rule values computed in this evaluation, by node id (allocated on first use).
        var cache: ContiguousArray<CacheEntry> = []
    }

    enum CacheEntry: Sendable {
        case empty
        case undefined
        case value(Value)
    }

    enum Mock {
        case function(CallTarget)
        case value(Value)
    }

    struct EarlyExit: Error { let token: Int }

    init(policy: CompiledPolicy, input: Value?, options: EvalOptions) {
        self.policy = policy
        self.options = options
        self.context = BuiltinContext(nowNs: options.nowNs ?? EvalOptions.currentTimeNs())
        self.state = State(input: input)
        if let tables = policy.evalTables.take() {
            state.cache = tables.cache
            inProgress = tables.inProgress
            written = tables.written
        }
    }

    /// Gives the per-node tables back to the policy, every entry empty again, for the next
    /// evaluation: allocating them costs more than a small rule does (generic metadata
    /// lookups and a malloc each), and clearing only the written entries keeps the cost
    /// independent of the bundle's size. Call once, when the evaluation is over.
    func recycle() {
        guard state.cache.count == policy.nodeCount, inProgress.count == policy.nodeCount else { return }
        var tables = EvalTables(cache: [], inProgress: [], written: [])
        swap(&tables.cache, &state.cache)
        swap(&tables.inProgress, &inProgress)
        swap(&tables.written, &written)
        for id in tables.written { tables.cache[id] = .empty }
        tables.written.removeAll(keepingCapacity: true)
        // `inProgress` is all false: every rule clears its entry on the way out, thrown or not.
        policy.evalTables.put(tables)
    }

    final class Frame {
        var slots: [Value?]
        init(size: Int) { slots = size == 0 ? [] : Array(repeating: nil, count: size) }

        /// A frame for a body without variables: nothing is ever stored in it, so one
        /// frame serves every such body.
        nonisolated(unsafe) static let empty = Frame(size: 0)

        @inline(__always)
        static func make(_ size: Int) -> Frame { size == 0 ? empty : Frame(size: size) }
    }

    func newExitToken() -> Int {
        nextExitToken += 1
        return nextExitToken
    }

    /// Runs `body` and stops it at its first solution; returns whether there was one.
    func firstSolution(_ body: (_ stop: () throws -> Void) throws -> Void) throws -> Bool {
        let token = newExitToken()
        var found = false
        do {
            try body {
                found = true
                throw EarlyExit(token: token)
            }
        } catch let e as EarlyExit where e.token == token {}
        return found
    }

    @inline(__always)
    func step(_ loc: Location) throws {
        steps += 1
        if steps > options.maxSteps {
            throw RegoError(.evalLimit, "evaluation exceeded its limit of \(options.maxSteps) steps", at: loc)
        }
    }

    // MARK: - Bodies and expressions

    @inline(never)
    func evalBody(_ body: [Expr], _ i: Int, _ f: Frame, _ k: () throws -> Void) throws {
        // Tests that are decided directly (`request.method in read_only_methods`,
        // `not agent.token.scope`) run in a loop, without a continuation each; the first
        // expression that may bind or enumerate goes on in continuation-passing style.
        let (holds, next) = try directTests(body, from: i, f)
        if !holds { return }
        if next == body.count { try k(); return }
        try evalExpr(in: body, at: next, f) { try self.evalBody(body, next + 1, f, k) }
    }

    /// The body's expressions from `start` on that `directTest` decides, in order: whether
    /// they all hold, and the index of the first one it could not decide (`body.count` when
    /// it decided all).
    @inline(__always)
    func directTests(_ body: [Expr], from start: Int = 0, _ f: Frame) throws -> (holds: Bool, next: Int) {
        var i = start
        while i < body.count, let holds = try directTest(in: body, at: i, f) {
            if !holds { return (false, i) }
            i += 1
        }
        return (true, i)
    }

    /// Whether `body[i]` holds, when it is a test of a term that has at most one value
    /// (`directValue`): no `with`, no binding, no enumeration, and a call only of a builtin
    /// that returns its value (not `print`, not one given an output argument). nil when the
    /// general path must evaluate it; it has then done nothing. Read in place, as `evalExpr`.
    @inline(__always)
    func directTest(in body: [Expr], at i: Int, _ f: Frame) throws -> Bool? {
        guard body[i].withs.isEmpty, case .term(let t) = body[i].kind else { return nil }
        if case .call(let target, let args) = t.kind {
            guard case .builtin(let b) = target, b.name != "print", arity(target) == args.count else { return nil }
        }
        guard let value = try directValue(t, f) else { return nil }
        try step(body[i].location)
        let truthy = value.map { !$0.isFalse } ?? false
        return truthy != body[i].negated
    }

    /// The expression `body[i]`, read in place: only its kind is copied, not the whole
    /// expression (terms, modifiers, location, text) each time evaluation reaches it.
    @inline(never)
    func evalExpr(in body: [Expr], at i: Int, _ f: Frame, _ k: () throws -> Void) throws {
        try step(body[i].location)
        if !body[i].withs.isEmpty {
            let e = body[i]
            try withModifiers(e.withs, f) { restore in
                try withoutActuallyEscaping(k) { k in
                    try self.evalExprNegatable(negated: e.negated, e.kind, f) { try restore(k) }
                }
            }
            return
        }
        try evalExprNegatable(negated: body[i].negated, body[i].kind, f, k)
    }

    @inline(never)
    func evalExprNegatable(negated: Bool, _ kind: ExprKind, _ f: Frame, _ k: () throws -> Void) throws {
        if negated {
            let found = try firstSolution { stop in try evalExprPlain(kind, f, stop) }
            if !found { try k() }
            return
        }
        try evalExprPlain(kind, f, k)
    }

    @inline(never)
    func evalExprPlain(_ kind: ExprKind, _ f: Frame, _ k: () throws -> Void) throws {
        switch kind {
        case .term(let t):
            if case .call(let target, let args) = t.kind {
                try evalCallExpr(target, args, t.location, f, k)
            } else if let direct = try directValue(t, f) {
                if let v = direct, !v.isFalse { try k() }
            } else {
                try evalTerm(t, f) { v in if !v.isFalse { try k() } }
            }
        case .unify(let a, let b), .assign(let a, let b):
            try unify(a, b, f, k)
        case .someDecl:
            try k()
        case .someIn(let key, let value, let coll):
            try evalTerm(coll, f) { c in
                try self.iterate(c) { kv, vv in
                    try self.unifyValue(value, vv, f) {
                        if let key { try self.unifyValue(key, kv, f, k) } else { try k() }
                    }
                }
            }
        case .every(let key, let value, let coll, let body):
            try evalTerm(coll, f) { c in
                switch c {
                case .array, .object, .set: break
                default: return  // a domain that is not a collection makes `every` undefined
                }
                var all = true
                _ = try self.firstSolution { stopOuter in
                    try self.iterate(c) { kv, vv in
                        let ok = try self.firstSolution { stop in
                            try self.unifyValue(value, vv, f) {
                                if let key {
                                    try self.unifyValue(key, kv, f) { try self.evalBody(body, 0, f, stop) }
                                } else {
                                    try self.evalBody(body, 0, f, stop)
                                }
                            }
                        }
                        if !ok { all = false; try stopOuter() }
                    }
                }
                if all { try k() }
            }
        }
    }

    /// Applies `with` modifiers around `body`. `body` receives `restore`, which runs a
    /// continuation with the outer state back in place (the rest of the query must not see
    /// the modifiers), then puts the modified state back for further backtracking.
    @inline(never)
    func withModifiers(_ withs: [WithModifier], _ f: Frame, _ body: (_ restore: (() throws -> Void) throws -> Void) throws -> Void) throws {
        var values: [Value?] = []
        var mockTargets: [CallTarget?] = []
        for w in withs {
            if case .call(let target, let args) = w.value.kind, args.isEmpty, case .call = w.target.kind {
                values.append(nil)
                mockTargets.append(target)
                continue
            }
            if case .call(let target, let args) = w.value.kind, args.isEmpty, case .function = target {
                values.append(nil)
                mockTargets.append(target)
                continue
            }
            var v: Value?
            _ = try firstSolution { stop in try evalTerm(w.value, f) { x in v = x; try stop() } }
            guard let v else { return }  // an undefined `with` value makes the expression undefined
            values.append(v)
            mockTargets.append(nil)
        }
        let saved = state
        var modified = state
        modified.cache = []
        for (i, w) in withs.enumerated() {
            switch w.target.kind {
            case .ref(let head, let path):
                let keys = path.compactMap { t -> String? in if case .value(.string(let s)) = t.kind { return s }; return nil }
                if case .inputRoot = head.kind {
                    guard let v = values[i] else { continue }
                    modified.input = keys.isEmpty ? v : Evaluator.upsert(modified.input ?? .emptyObject, keys[...], v)
                } else if let node = policy.root.lookup(keys[...]), node.isFunction {
                    let name = CallTarget.function(keys).displayName
                    if let t = mockTargets[i] { modified.mocks[name] = .function(t) } else if let v = values[i] { modified.mocks[name] = .value(v) }
                } else if let v = values[i] {
                    modified.overlays.removeAll { $0.path.starts(with: keys) }
                    modified.overlays.append((keys, v))
                }
            case .call(let target, _):
                let name = target.displayName
                if let t = mockTargets[i] { modified.mocks[name] = .function(t) } else if let v = values[i] { modified.mocks[name] = .value(v) }
            default:
                continue
            }
        }
        state = modified
        defer { state = saved }
        try body { k in
            let inner = self.state
            self.state = saved
            defer { self.state = inner }
            try k()
        }
    }

    static func upsert(_ base: Value, _ path: ArraySlice<String>, _ value: Value) -> Value {
        guard let first = path.first else { return value }
        var obj: RegoObject
        if case .object(let o) = base { obj = o } else { obj = RegoObject() }
        obj[first] = upsert(obj[first] ?? .emptyObject, path.dropFirst(), value)
        return .object(obj)
    }

    // MARK: - Calls

    @inline(never)
    func evalCallExpr(_ target: CallTarget, _ args: [Term], _ loc: Location, _ f: Frame, _ k: () throws -> Void) throws {
        if case .builtin(let b) = target, b.name == "print", state.mocks.isEmpty {
            try evalPrint(args, f)
            try k()
            return
        }
        let arity = self.arity(target) ?? args.count
        if args.count == arity + 1 {
            let output = args[arity]
            try evalArgs(args, arity, f) { vals in
                if let rel = self.unmockedRelation(target) {
                    for r in try self.callRelation(rel, target, vals, loc) { try self.unifyValue(output, r, f, k) }
                    return
                }
                if let r = try self.call(target, vals, loc) { try self.unifyValue(output, r, f, k) }
            }
            return
        }
        try evalArgs(args, args.count, f) { vals in
            if let r = try self.call(target, vals, loc), !r.isFalse { try k() }
        }
    }

    /// The builtin relation `target` names (`walk`), unless a `with` mocks it: a relation
    /// has one value per result rather than one.
    @inline(__always)
    func unmockedRelation(_ target: CallTarget) -> Builtin.Relation? {
        guard case .builtin(let b) = target, let rel = policy.builtins[b]?.relation, state.mocks.isEmpty || state.mocks[b.name] == nil else { return nil }
        return rel
    }

    /// Every result of a builtin relation; none when it fails in non-strict mode.
    func callRelation(_ rel: Builtin.Relation, _ target: CallTarget, _ args: [Value], _ loc: Location) throws -> [Value] {
        let results = try callBuiltin(target.displayName, loc) { ctx throws -> Value? in .array(try rel(args, ctx)) }
        guard case .array(let rs)? = results else { return [] }
        return rs
    }

    @inline(never)
    func evalPrint(_ args: [Term], _ f: Frame) throws {
        var parts: [String] = []
        for a in args {
            var v: Value?
            _ = try firstSolution { stop in try evalTerm(a, f) { x in v = x; try stop() } }
            if let v {
                if case .string(let s) = v { parts.append(s) } else { parts.append(v.regoText) }
            } else {
                parts.append("<undefined>")
            }
        }
        options.printSink?(parts.joined(separator: " "))
    }

    func arity(_ target: CallTarget) -> Int? {
        switch target {
        case .builtin(let b): return policy.builtins[b]?.arity
        case .function(let path):
            guard let node = policy.root.lookup(path[...]), let r = node.rules.first ?? node.defaultRule else { return nil }
            return r.args?.count
        case .name: return nil
        }
    }

    /// The first `n` arguments' values, in every combination their terms produce.
    @inline(never)
    func evalArgs(_ args: [Term], _ n: Int, _ f: Frame, _ k: ([Value]) throws -> Void) throws {
        if let direct = try directArgs(args, n, f) {
            if let direct { try k(direct) }
            return
        }
        var buffer: [Value] = []
        buffer.reserveCapacity(n)
        try evalArgsInto(args, 0, n, &buffer, f, k)
    }

    /// Gathers argument values in one buffer that grows and shrinks with the backtracking.
    @inline(never)
    func evalArgsInto(_ args: [Term], _ i: Int, _ n: Int, _ buffer: inout [Value], _ f: Frame, _ k: ([Value]) throws -> Void) throws {
        if i == n { try k(buffer); return }
        switch args[i].kind {
        case .local(let s, _) where f.slots[s] == nil && i + 1 < n:
            // `x == input.xs[x]`: a bare variable that a later argument binds is read after it.
            buffer.append(.null)
            defer { buffer.removeLast() }
            try evalArgsInto(args, i + 1, n, &buffer, f) { vals in
                guard let v = f.slots[s] else { throw RegoError(.unsafeVar, "var \(args[i].localName) is unsafe", at: args[i].location) }
                var filled = vals
                filled[i] = v
                try k(filled)
            }
        case .value(let v):
            buffer.append(v)
            defer { buffer.removeLast() }
            try evalArgsInto(args, i + 1, n, &buffer, f, k)
        default:
            try evalTerm(args[i], f) { v in
                buffer.append(v)
                defer { buffer.removeLast() }
                try self.evalArgsInto(args, i + 1, n, &buffer, f, k)
            }
        }
    }

    @inline(never)
    func call(_ target: CallTarget, _ args: [Value], _ loc: Location) throws -> Value? {
        if !state.mocks.isEmpty, let mock = state.mocks[target.displayName] {
            switch mock {
            case .value(let v): return v
            case .function(let t):
                // The mock itself runs unmocked, so `with f as g` where g calls f works.
                let saved = state.mocks
                state.mocks[target.displayName] = nil
                defer { state.mocks = saved }
                return try call(t, args, loc)
            }
        }
        switch target {
        case .builtin(let ref):
            guard let b = policy.builtins[ref] else {
                throw RegoError(.type, "undefined function \(ref.name)", at: loc)
            }
            if let fn = b.function {
                return try callBuiltin(ref.name, loc) { ctx in try fn(args, ctx) }
            }
            if let rel = b.relation {
                return try callBuiltin(ref.name, loc) { ctx in try rel(args, ctx).first }
            }
            return nil
        case .function(let path):
            return try callFunction(path, args, loc)
        case .name(let parts, _):
            throw RegoError(.type, "undefined function \(parts.joined(separator: "."))", at: loc)
        }
    }

    /// The one place builtin errors get the builtin's name and the call's location; in
    /// OPA's default (non-strict) mode they make the call undefined instead.
    @inline(never)
    func callBuiltin(_ name: String, _ loc: Location, _ body: (BuiltinContext) throws -> Value?) throws -> Value? {
        do {
            return try body(context)
        } catch let e as BuiltinError {
            guard options.strictBuiltinErrors else { return nil }
            throw RegoError(e.kind == .type ? .evalType : .evalBuiltin, "\(name): \(e.message)", at: loc)
        } catch let e as RegoError {
            throw e
        }
    }

    @inline(never)
    func callFunction(_ path: [String], _ args: [Value], _ loc: Location) throws -> Value? {
        guard let node = policy.root.lookup(path[...]) else {
            throw RegoError(.type, "undefined function data.\(path.joined(separator: "."))", at: loc)
        }
        callDepth += 1
        defer { callDepth -= 1 }
        if callDepth > options.maxCallDepth {
            throw RegoError(.evalLimit, "evaluation exceeded its call depth limit of \(options.maxCallDepth) (recursion through data.\(path.joined(separator: ".")))", at: loc)
        }
        var result: Value?
        for rule in node.rules {
            if result != nil, node.firstSuccessDecides { break }
            var r: Rule? = rule
            while let cur = r {
                let f = Frame.make(cur.frameSize)
                var produced = false
                try unifyArgs(cur.args ?? [], args, 0, f) {
                    try self.evalBody(cur.body, 0, f) {
                        try self.evalTerm(cur.valueOrTrue, f) { v in
                            produced = true
                            if let prev = result, prev != v {
                                throw RegoError(.evalConflict, "functions must not produce multiple outputs for same inputs", at: cur.location)
                            }
                            result = v
                        }
                    }
                }
                if produced { break }
                r = cur.elseRule
            }
        }
        if result == nil, let d = node.defaultRule, let v = d.value {
            let f = Frame.make(d.frameSize)
            _ = try firstSolution { stop in try evalTerm(v, f) { x in result = x; try stop() } }
        }
        return result
    }

    @inline(never)
    func unifyArgs(_ params: [Term], _ args: [Value], _ i: Int, _ f: Frame, _ k: () throws -> Void) throws {
        if i == params.count { try k(); return }
        try unifyValue(params[i], args[i], f) { try self.unifyArgs(params, args, i + 1, f, k) }
    }
}

extension Term {
    var localName: String {
        if case .local(_, let n) = kind { return n }
        return "?"
    }
}

/// Options for one evaluation.
public struct EvalOptions: Sendable {
    /// OPA's `--strict-builtin-errors`: a builtin error fails the query instead of making
    /// the call undefined.
    public var strictBuiltinErrors = false
    /// Bound on evaluation steps, so a pathological policy or input cannot hang a server.
    public var maxSteps = 10_000_000
    public var maxCallDepth = 400
    /// Fixes `time.now_ns()` (tests); nil means the clock at the start of the evaluation.
    public var nowNs: Int?
    public var printSink: (@Sendable (String) -> Void)?

    public init() {}

    static func currentTimeNs() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-node tables of one evaluation (rule cache, recursion marks, written ids).
struct EvalTables: Sendable {
    var cache: ContiguousArray<Evaluator.CacheEntry>
    var inProgress: ContiguousArray<Bool>
    var written: [Int]
}

/// Tables kept between evaluations of one policy: one per evaluation running at once, up
/// to `limit`; beyond that an evaluation allocates its own and they are dropped after.
final class EvalTablesPool: Sendable {
    private let kept = Mutex<[EvalTables]>([])
    static let limit = 16

    func take() -> EvalTables? { kept.withLock { $0.popLast() } }

    func put(_ tables: EvalTables) {
        kept.withLock { kept in
            if kept.count < Self.limit { kept.append(tables) }
        }
    }
}
