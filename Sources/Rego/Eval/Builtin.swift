/// A builtin function: declared once with its name and arity, implemented in its family file.
/// A class: a call looks its builtin up several times, and a reference is one retain where
/// a struct's copy is one per field.
public final class Builtin: Sendable {
    public typealias Function = @Sendable (_ args: [Value], _ context: BuiltinContext) throws -> Value?
    public typealias Relation = @Sendable (_ args: [Value], _ context: BuiltinContext) throws -> [Value]

    public let name: String
    /// Number of operands; nil for variadic builtins (`print`).
    public let arity: Int?
    let function: Function?
    /// Builtins that yield several results when their output is unified (`walk`).
    let relation: Relation?

    public init(_ name: String, arity: Int?, _ function: @escaping Function) {
        self.name = name
        self.arity = arity
        self.function = function
        self.relation = nil
    }

    public init(relation name: String, arity: Int, _ relation: @escaping Relation) {
        self.name = name
        self.arity = arity
        self.function = nil
        self.relation = relation
    }
}

/// What a builtin may know about the evaluation calling it.
public final class BuiltinContext: @unchecked Sendable {
    // @unchecked: one context belongs to one evaluation on one thread.
    /// `time.now_ns()` is fixed for one evaluation, as in OPA.
    public let nowNs: Int
    /// Per-evaluation memo for builtins that are expensive and pure (compiled regexes, …).
    public var memo: [String: any Sendable] = [:]

    init(nowNs: Int) { self.nowNs = nowNs }
}

/// A builtin's failure. The evaluator adds the builtin's name and the call's location.
public struct BuiltinError: Error, Sendable {
    public enum Kind: Sendable { case type, builtin }
    public let kind: Kind
    public let message: String

    public static func type(_ m: String) -> BuiltinError { BuiltinError(kind: .type, message: m) }
    public static func failure(_ m: String) -> BuiltinError { BuiltinError(kind: .builtin, message: m) }

    /// `operand N must be T but got U`, OPA's wording.
    public static func operand(_ i: Int, _ want: String, _ got: Value) -> BuiltinError {
        .type("operand \(i) must be \(want) but got \(got.typeName)")
    }
}

/// The builtins an engine offers. The core registers its pure families; adapters (crypto
/// over OpenSSL, YAML, regex over RE2) register theirs on top.
public struct BuiltinRegistry: Sendable {
    /// The builtins in registration order; a compiled call holds its builtin's index here.
    private(set) var slots: ContiguousArray<Builtin> = []
    private var slotByName: [String: Int] = [:]

    public init() {}

    public subscript(name: String) -> Builtin? { slotByName[name].map { slots[$0] } }

    /// A call's builtin: by the slot the compiler gave it, by name if it has none.
    @inline(__always)
    subscript(ref: BuiltinRef) -> Builtin? { ref.slot >= 0 && ref.slot < slots.count ? slots[ref.slot] : self[ref.name] }

    func slot(of name: String) -> Int? { slotByName[name] }

    /// Registers `b`; one registered under the same name before is replaced in its slot.
    public mutating func register(_ b: Builtin) {
        if let slot = slotByName[b.name] {
            slots[slot] = b
        } else {
            slotByName[b.name] = slots.count
            slots.append(b)
        }
    }

    public mutating func register(_ list: [Builtin]) { for b in list { register(b) } }

    public var names: [String] { slotByName.keys.sorted() }

    /// Every builtin the pure-Swift core implements.
    public static var core: BuiltinRegistry {
        var r = BuiltinRegistry()
        r.register(BuiltinFamilies.all)
        return r
    }
}

/// The family files each add a list here.
enum BuiltinFamilies {
    static var all: [Builtin] {
        comparison + arithmetic + aggregates + arrays + sets + objects + types + strings
            + encoding + time + units + netCIDR + misc + semver + graphs + bits + uri + uuid
    }
}

// MARK: - Operand helpers

extension Array where Element == Value {
    @inline(__always)
    func string(_ i: Int) throws(BuiltinError) -> String {
        if case .string(let s) = self[i] { return s }
        throw .operand(i + 1, "string", self[i])
    }

    @inline(__always)
    func number(_ i: Int) throws(BuiltinError) -> Number {
        if case .number(let n) = self[i] { return n }
        throw .operand(i + 1, "number", self[i])
    }

    func int(_ i: Int) throws(BuiltinError) -> Int {
        let n = try number(i)
        guard n.isInteger else { throw .type("operand \(i + 1) must be integer number but got floating-point number") }
        guard let v = n.intValue else { throw .failure("operand \(i + 1) is too large") }
        return v
    }

    func array(_ i: Int) throws(BuiltinError) -> [Value] {
        if case .array(let a) = self[i] { return a }
        throw .operand(i + 1, "array", self[i])
    }

    func set(_ i: Int) throws(BuiltinError) -> RegoSet {
        if case .set(let s) = self[i] { return s }
        throw .operand(i + 1, "set", self[i])
    }

    func object(_ i: Int) throws(BuiltinError) -> RegoObject {
        if case .object(let o) = self[i] { return o }
        throw .operand(i + 1, "object", self[i])
    }

    func bool(_ i: Int) throws(BuiltinError) -> Bool {
        if case .bool(let b) = self[i] { return b }
        throw .operand(i + 1, "boolean", self[i])
    }
}
