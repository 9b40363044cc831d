/// Comparison, arithmetic, aggregates, arrays, sets, types and bits.
extension BuiltinFamilies {
    // MARK: - Comparison

    static var comparison: [Builtin] {
        [
            Builtin("equal", arity: 2) { a, _ in .bool(a[0] == a[1]) },
            Builtin("neq", arity: 2) { a, _ in .bool(a[0] != a[1]) },
            Builtin("lt", arity: 2) { a, _ in .bool(Value.compare(a[0], a[1]) < 0) },
            Builtin("lte", arity: 2) { a, _ in .bool(Value.compare(a[0], a[1]) <= 0) },
            Builtin("gt", arity: 2) { a, _ in .bool(Value.compare(a[0], a[1]) > 0) },
            Builtin("gte", arity: 2) { a, _ in .bool(Value.compare(a[0], a[1]) >= 0) },
            Builtin("internal.member_2", arity: 2) { a, _ in
                switch a[1] {
                case .array(let xs): return .bool(xs.contains(a[0]))
                case .set(let s): return .bool(s.contains(a[0]))
                case .object(let o): return .bool(o.entries.contains { $0.value == a[0] })
                default: return .false
                }
            },
            Builtin("internal.member_3", arity: 3) { a, _ in
                switch a[2] {
                case .array, .object: return .bool(a[2][a[0]] == a[1])
                case .set(let s): return .bool(a[0] == a[1] && s.contains(a[0]))
                default: return .false
                }
            },
        ]
    }

    // MARK: - Arithmetic

    static func numbers(_ a: [Value]) throws(BuiltinError) -> (Number, Number) {
        (try a.number(0), try a.number(1))
    }

    static var arithmetic: [Builtin] {
        [
            Builtin("plus", arity: 2) { a, _ in let (x, y) = try numbers(a); return .number(x + y) },
            Builtin("minus", arity: 2) { a, _ in
                if case .set(let x) = a[0], case .set(let y) = a[1] { return .set(x.subtracting(y)) }
                if case .set = a[0] { throw BuiltinError.operand(2, "set", a[1]) }
                if case .number = a[0], case .number = a[1] {
                    let (x, y) = try numbers(a)
                    return .number(x - y)
                }
                if case .number = a[0] { throw BuiltinError.operand(2, "number", a[1]) }
                throw BuiltinError.operand(1, "one of {number, set}", a[0])
            },
            Builtin("mul", arity: 2) { a, _ in let (x, y) = try numbers(a); return .number(x * y) },
            Builtin("div", arity: 2) { a, _ in
                let (x, y) = try numbers(a)
                if y == .int(0) { throw BuiltinError.failure("divide by zero") }
                if case .int(let i) = x, case .int(let j) = y, i % j == 0 { return .int(i / j) }
                return .number(Number(x.doubleValue / y.doubleValue))
            },
            Builtin("rem", arity: 2) { a, _ in
                let (x, y) = try numbers(a)
                guard x.isInteger, y.isInteger, let i = x.intValue, let j = y.intValue else {
                    throw BuiltinError.failure("modulo on floating-point number")
                }
                if j == 0 { throw BuiltinError.failure("modulo by zero") }
                return .int(i % j)
            },
            Builtin("abs", arity: 1) { a, _ in
                let n = try a.number(0)
                return .number(n.isNegative ? n.negated : n)
            },
            Builtin("round", arity: 1) { a, _ in .number(Number((try a.number(0)).doubleValue.rounded(.toNearestOrAwayFromZero))) },
            Builtin("ceil", arity: 1) { a, _ in .number(Number((try a.number(0)).doubleValue.rounded(.up))) },
            Builtin("floor", arity: 1) { a, _ in .number(Number((try a.number(0)).doubleValue.rounded(.down))) },
            Builtin("numbers.range", arity: 2) { a, _ in
                let x = try a.int(0), y = try a.int(1)
                return .array(try range(x, y, 1))
            },
            Builtin("numbers.range_step", arity: 3) { a, _ in
                let x = try a.int(0), y = try a.int(1), s = try a.int(2)
                if s <= 0 { throw BuiltinError.failure("step must be a positive integer") }
                return .array(try range(x, y, s))
            },
            Builtin("and", arity: 2) { a, _ in .set(try a.set(0).intersection(try a.set(1))) },
            Builtin("or", arity: 2) { a, _ in .set(try a.set(0).union(try a.set(1))) },
        ]
    }

    static func range(_ x: Int, _ y: Int, _ step: Int) throws(BuiltinError) -> [Value] {
        let n = abs(y - x) / step + 1
        if n > 10_000_000 { throw BuiltinError.failure("range too large") }
        var out: [Value] = []
        out.reserveCapacity(n)
        if x <= y {
            var i = x
            while i <= y { out.append(.int(i)); i += step }
        } else {
            var i = x
            while i >= y { out.append(.int(i)); i -= step }
        }
        return out
    }

    // MARK: - Aggregates

    static func collectionElements(_ v: Value, _ i: Int, want: String = "one of {array, set}") throws(BuiltinError) -> [Value] {
        switch v {
        case .array(let a): return a
        case .set(let s): return s.elements
        default: throw BuiltinError.operand(i, want, v)
        }
    }

    static var aggregates: [Builtin] {
        [
            Builtin("count", arity: 1) { a, _ in
                switch a[0] {
                case .array(let x): return .int(x.count)
                case .set(let x): return .int(x.count)
                case .object(let x): return .int(x.count)
                case .string(let s): return .int(s.unicodeScalars.count)
                default: throw BuiltinError.operand(1, "one of {array, object, set, string}", a[0])
                }
            },
            Builtin("sum", arity: 1) { a, _ in
                var total = Number.int(0)
                for v in try collectionElements(a[0], 1) {
                    guard case .number(let n) = v else { throw BuiltinError.operand(1, "one of {array, set} of numbers", a[0]) }
                    total = total + n
                }
                return .number(total)
            },
            Builtin("product", arity: 1) { a, _ in
                var total = Number.int(1)
                for v in try collectionElements(a[0], 1) {
                    guard case .number(let n) = v else { throw BuiltinError.operand(1, "one of {array, set} of numbers", a[0]) }
                    total = total * n
                }
                return .number(total)
            },
            Builtin("max", arity: 1) { a, _ in try collectionElements(a[0], 1).max(by: { Value.compare($0, $1) < 0 }) },
            Builtin("min", arity: 1) { a, _ in try collectionElements(a[0], 1).min(by: { Value.compare($0, $1) < 0 }) },
            Builtin("sort", arity: 1) { a, _ in .array(try collectionElements(a[0], 1).sorted { Value.compare($0, $1) < 0 }) },
            Builtin("all", arity: 1) { a, _ in .bool(try collectionElements(a[0], 1).allSatisfy { $0 == .true }) },
            Builtin("any", arity: 1) { a, _ in .bool(try collectionElements(a[0], 1).contains { $0 == .true }) },
        ]
    }

    // MARK: - Arrays

    static var arrays: [Builtin] {
        [
            Builtin("array.concat", arity: 2) { a, _ in .array(try a.array(0) + (try a.array(1))) },
            Builtin("array.reverse", arity: 1) { a, _ in .array(try a.array(0).reversed()) },
            Builtin("array.slice", arity: 3) { a, _ in
                let arr = try a.array(0)
                var lo = try a.int(1), hi = try a.int(2)
                lo = max(0, lo)
                hi = min(arr.count, hi)
                if lo >= hi { return .array([]) }
                return .array(Array(arr[lo..<hi]))
            },
            Builtin("array.flatten", arity: 1) { a, _ in
                var out: [Value] = []
                for x in try a.array(0) {
                    if case .array(let inner) = x { out.append(contentsOf: inner) } else { out.append(x) }
                }
                return .array(out)
            },
        ]
    }

    // MARK: - Sets

    static var sets: [Builtin] {
        [
            Builtin("intersection", arity: 1) { a, _ in
                let sets = try a.set(0)
                guard var acc = sets.elements.first else { return .emptySet }
                var result: RegoSet
                guard case .set(let first) = acc else { throw BuiltinError.operand(1, "set of sets", a[0]) }
                result = first
                for s in sets.elements.dropFirst() {
                    guard case .set(let x) = s else { throw BuiltinError.operand(1, "set of sets", a[0]) }
                    result = result.intersection(x)
                }
                acc = .set(result)
                return acc
            },
            Builtin("union", arity: 1) { a, _ in
                var result = RegoSet()
                for s in try a.set(0).elements {
                    guard case .set(let x) = s else { throw BuiltinError.operand(1, "set of sets", a[0]) }
                    result = result.union(x)
                }
                return .set(result)
            },
        ]
    }

    // MARK: - Types

    static var types: [Builtin] {
        [
            Builtin("is_number", arity: 1) { a, _ in if case .number = a[0] { return .true }; return .false },
            Builtin("is_string", arity: 1) { a, _ in if case .string = a[0] { return .true }; return .false },
            Builtin("is_boolean", arity: 1) { a, _ in if case .bool = a[0] { return .true }; return .false },
            Builtin("is_array", arity: 1) { a, _ in if case .array = a[0] { return .true }; return .false },
            Builtin("is_set", arity: 1) { a, _ in if case .set = a[0] { return .true }; return .false },
            Builtin("is_object", arity: 1) { a, _ in if case .object = a[0] { return .true }; return .false },
            Builtin("is_null", arity: 1) { a, _ in if case .null = a[0] { return .true }; return .false },
            Builtin("type_name", arity: 1) { a, _ in .string(a[0].typeName) },
            Builtin("to_number", arity: 1) { a, _ in
                switch a[0] {
                case .null: return .int(0)
                case .bool(let b): return .int(b ? 1 : 0)
                case .number: return a[0]
                case .string(let s):
                    let t = s
                    if t.lowercased().contains("inf") || t.lowercased().contains("nan") {
                        throw BuiltinError.type("operand 1 must be a valid number string but got \(Value.string(s).regoQuoted)")
                    }
                    if t.isEmpty || t.hasPrefix("+") || t.hasPrefix("0x") {
                        throw BuiltinError.failure("strconv.ParseFloat: parsing \(Value.string(s).jsonString()): invalid syntax")
                    }
                    guard let n = Number(text: t) ?? Double(t).map(Number.init) else {
                        throw BuiltinError.failure("strconv.ParseFloat: parsing \(Value.string(s).jsonString()): invalid syntax")
                    }
                    return .number(n)
                default:
                    throw BuiltinError.operand(1, "one of {null, boolean, number, string}", a[0])
                }
            },
            Builtin("cast_array", arity: 1) { a, _ in
                switch a[0] {
                case .array: return a[0]
                case .set(let s): return .array(s.elements)
                default: throw BuiltinError.operand(1, "one of {array, set}", a[0])
                }
            },
            Builtin("cast_set", arity: 1) { a, _ in
                switch a[0] {
                case .array(let x): return .set(RegoSet(x))
                case .set: return a[0]
                default: throw BuiltinError.operand(1, "one of {array, set}", a[0])
                }
            },
            Builtin("cast_string", arity: 1) { a, _ in .string(try a.string(0)) },
            Builtin("cast_boolean", arity: 1) { a, _ in .bool(try a.bool(0)) },
            Builtin("cast_null", arity: 1) { a, _ in if case .null = a[0] { return .null }; throw BuiltinError.operand(1, "null", a[0]) },
            Builtin("cast_object", arity: 1) { a, _ in .object(try a.object(0)) },
        ]
    }

    // MARK: - Bits

    static func bitsInt(_ a: [Value], _ i: Int) throws(BuiltinError) -> Int {
        guard case .number(let n) = a[i] else { throw BuiltinError.operand(i + 1, "number", a[i]) }
        guard n.isInteger, let v = n.intValue else { throw BuiltinError.type("operand \(i + 1) must be integer number but got floating-point number") }
        return v
    }

    static var bits: [Builtin] {
        [
            Builtin("bits.and", arity: 2) { a, _ in .int(try bitsInt(a, 0) & (try bitsInt(a, 1))) },
            Builtin("bits.or", arity: 2) { a, _ in .int(try bitsInt(a, 0) | (try bitsInt(a, 1))) },
            Builtin("bits.xor", arity: 2) { a, _ in .int(try bitsInt(a, 0) ^ (try bitsInt(a, 1))) },
            Builtin("bits.negate", arity: 1) { a, _ in .int(~(try bitsInt(a, 0))) },
            Builtin("bits.lsh", arity: 2) { a, _ in
                let x = try bitsInt(a, 0), s = try bitsInt(a, 1)
                if s < 0 { throw BuiltinError.type("operand 2 must be an unsigned integer number but got a negative integer") }
                if s >= 63 {
                    return .number(Number(exact: ExactDecimal.multiply(Number.int(x).exactDecimal, pow2(s))))
                }
                let (r, o) = x.multipliedReportingOverflow(by: 1 << s)
                if o { return .number(Number(exact: ExactDecimal.multiply(Number.int(x).exactDecimal, pow2(s)))) }
                return .int(r)
            },
            Builtin("bits.rsh", arity: 2) { a, _ in
                let x = try bitsInt(a, 0), s = try bitsInt(a, 1)
                if s < 0 { throw BuiltinError.type("operand 2 must be an unsigned integer number but got a negative integer") }
                return .int(s >= 64 ? (x < 0 ? -1 : 0) : x >> s)
            },
        ]
    }

    static func pow2(_ n: Int) -> ExactDecimal {
        var acc = Number.int(1).exactDecimal
        let two = Number.int(2).exactDecimal
        for _ in 0..<min(n, 4096) { acc = ExactDecimal.multiply(acc, two) }
        return acc
    }
}
