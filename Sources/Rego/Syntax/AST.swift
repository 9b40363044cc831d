/// The parsed (and later compiled) form of Rego policies. The compiler rewrites terms in
/// place: names become local slots or absolute `data` references, calls get their target.
public struct Term: Sendable {
    public var kind: TermKind
    public let location: Location

    init(_ kind: TermKind, _ location: Location) {
        self.kind = kind
        self.location = location
    }

    static func string(_ s: String, _ loc: Location) -> Term { Term(.value(.string(s)), loc) }

    /// The literal value, if this term is a constant scalar or composite of constants.
    var constantValue: Value? {
        switch kind {
        case .value(let v): return v
        case .array(let items):
            var out: [Value] = []
            for t in items { guard let v = t.constantValue else { return nil }; out.append(v) }
            return .array(out)
        case .object(let pairs):
            var out: [(Value, Value)] = []
            for (k, v) in pairs {
                guard let kv = k.constantValue, let vv = v.constantValue else { return nil }
                out.append((kv, vv))
            }
            return .object(RegoObject(out))
        case .set(let items):
            var out: [Value] = []
            for t in items { guard let v = t.constantValue else { return nil }; out.append(v) }
            return .set(RegoSet(out))
        default: return nil
        }
    }
}

public indirect enum TermKind: Sendable {
    case value(Value)
    /// A name as written, before the compiler resolves it.
    case variable(String)
    /// A variable resolved to a slot of its body's frame.
    case local(Int, String)
    /// The roots of the two global documents.
    case dataRoot
    case inputRoot
    case ref(Term, [Term])
    /// A `data` reference whose constant prefix the compiler resolved to a rule-tree node.
    case nodeRef(NodeRef)
    case array([Term])
    case object([(Term, Term)])
    case set([Term])
    case arrayComprehension(Term, [Expr])
    case setComprehension(Term, [Expr])
    case objectComprehension(Term, Term, [Expr])
    case call(CallTarget, [Term])
    case template([TemplatePiece])
}

/// Where a resolved `data` reference starts: the node, the base document at that node, the
/// rest of the path; and the full path, used instead while `with data…` overrides apply.
public struct NodeRef: @unchecked Sendable {
    // @unchecked: `node` is unowned(unsafe), a plain pointer into the rule tree. The tree
    // owns every node and outlives every term in it (a CompiledPolicy or a PreparedQuery
    // holds the root), and owning it here would make cycles: a rule that refers to its own
    // package would keep its policy alive forever.
    /// nil when the prefix left the rule tree: the rest reads base data only.
    unowned(unsafe) let node: RuleNode?
    let base: Value?
    let rest: [Term]
    let fullPath: [Term]
}

public enum TemplatePiece: Sendable {
    case text(String)
    case expression(Expr)
}

/// A builtin named in a call: the parser knows only the name; the compiler adds its slot
/// in the registry it compiles against, so that a call finds its builtin by index instead
/// of hashing the name on every evaluation.
public struct BuiltinRef: Sendable {
    public let name: String
    /// Index into `BuiltinRegistry.slots`, or -1 before compiling.
    let slot: Int

    init(_ name: String, slot: Int = -1) {
        self.name = name
        self.slot = slot
    }
}

/// What a call calls: a name as written, then after compiling a builtin or a user function
/// at its absolute `data` path.
public enum CallTarget: Sendable {
    case name([String], Location)
    case builtin(BuiltinRef)
    case function([String])

    /// The name used for `with` mocking and error messages.
    var displayName: String {
        switch self {
        case .name(let parts, _): return parts.joined(separator: ".")
        case .builtin(let b): return b.name
        case .function(let path): return "data." + path.joined(separator: ".")
        }
    }
}

public struct WithModifier: Sendable {
    public var target: Term
    public var value: Term
    public let location: Location
}

public struct Expr: Sendable {
    public var kind: ExprKind
    public var negated: Bool = false
    public var withs: [WithModifier] = []
    public let location: Location
    /// The source text, for `opa eval`'s `text` field.
    var text: String = ""

    init(_ kind: ExprKind, _ location: Location) {
        self.kind = kind
        self.location = location
    }
}

public enum ExprKind: Sendable {
    case term(Term)
    case unify(Term, Term)
    case assign(Term, Term)
    /// `some x, y`: declares names local to the body.
    case someDecl([Term])
    /// `some [k,] v in collection`
    case someIn(key: Term?, value: Term, collection: Term)
    /// `every [k,] v in collection { body }`
    case every(key: Term?, value: Term, collection: Term, body: [Expr])
}

public struct Import: Sendable {
    public let path: Term
    public let alias: String?
    public let location: Location
}

/// One rule as written; `elseRule` chains its `else` branches.
public final class Rule: @unchecked Sendable {
    // @unchecked: mutated only by the parser and compiler before the policy is shared;
    // read-only from then on.
    public var headRef: [Term]
    public var args: [Term]?
    /// The element of a multi-value (`contains`) rule.
    public var key: Term?
    /// The value of a single-value rule or function (defaults to `true`).
    public var value: Term?
    public var body: [Expr]
    public var elseRule: Rule?
    public var isDefault = false
    public var isMultiValue = false
    public var hasExplicitBody = false
    public let location: Location
    /// Slots the compiled body needs.
    var frameSize = 0
    /// The absolute path of the document this rule contributes to (package + ground head).
    var path: [String] = []
    /// Head terms after the ground part: keys of a partial object, nested.
    var dynamicSuffix: [Term] = []
    /// `value`, or `true` for a rule without one, and whether that term is a constant: fixed
    /// when the rule is compiled, so that evaluating the rule does not work them out again.
    var valueOrTrue: Term
    var valueIsConstant = true

    init(headRef: [Term], location: Location) {
        self.headRef = headRef
        self.body = []
        self.location = location
        self.valueOrTrue = Term(.value(.true), location)
    }

    var isFunction: Bool { args != nil }
    var name: String {
        if case .value(.string(let s)) = headRef.first?.kind { return s }
        return "?"
    }
}

public struct Module: Sendable {
    public let source: Source
    public let package: [String]
    public let packageLocation: Location
    public let imports: [Import]
    public let rules: [Rule]
}

// MARK: - Rego syntax for values

extension Value {
    /// The value as Rego source: `{"a": 1}`, `{1, 2}`, `set()`. Used for template strings,
    /// `sprintf("%v")` and error messages.
    public var regoText: String {
        switch self {
        case .null, .bool, .number, .string: return jsonString()
        case .array(let a): return "[" + a.map(\.regoText).joined(separator: ", ") + "]"
        case .set(let s): return s.isEmpty ? "set()" : "{" + s.elements.map(\.regoText).joined(separator: ", ") + "}"
        case .object(let o): return "{" + o.entries.map { $0.key.regoText + ": " + $0.value.regoText }.joined(separator: ", ") + "}"
        }
    }
}
