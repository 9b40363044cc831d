#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Strings: OPA's string builtins, with offsets and lengths counted in Unicode code points
/// as Go counts runes.
extension BuiltinFamilies {
    static var strings: [Builtin] {
        [
            Builtin("concat", arity: 2) { a, _ in
                let sep = try a.string(0)
                let items = try collectionElements(a[1], 2)
                var parts: [String] = []
                for v in items {
                    guard case .string(let s) = v else { throw BuiltinError.operand(2, "one of {array, set} of strings", a[1]) }
                    parts.append(s)
                }
                return .string(parts.joined(separator: sep))
            },
            Builtin("contains", arity: 2) { a, _ in .bool(try a.string(0).contains(try a.string(1))) },
            Builtin("startswith", arity: 2) { a, _ in .bool(try a.string(0).hasPrefix(try a.string(1))) },
            Builtin("endswith", arity: 2) { a, _ in .bool(try a.string(0).hasSuffix(try a.string(1))) },
            Builtin("lower", arity: 1) { a, _ in .string(try a.string(0).lowercased()) },
            Builtin("upper", arity: 1) { a, _ in .string(try a.string(0).uppercased()) },
            Builtin("strings.reverse", arity: 1) { a, _ in .string(String(String.UnicodeScalarView(try a.string(0).unicodeScalars.reversed()))) },
            Builtin("format_int", arity: 2) { a, _ in
                let n = try a.number(0)
                let base = try a.int(1)
                guard [2, 8, 10, 16].contains(base) else { throw BuiltinError.type("operand 2 must be one of {2, 8, 10, 16}") }
                if let i = n.intValue ?? n.truncatedInt { return .string(String(i, radix: base)) }
                // Beyond 64 bits: convert the exact integer part digit by digit.
                return .string(n.exactDecimal.integerString(radix: base))
            },
            Builtin("indexof", arity: 2) { a, _ in
                let s = Array(try a.string(0).unicodeScalars), sub = Array(try a.string(1).unicodeScalars)
                return .int(indexOf(s, sub, from: 0) ?? -1)
            },
            Builtin("indexof_n", arity: 2) { a, _ in
                let s = Array(try a.string(0).unicodeScalars), sub = Array(try a.string(1).unicodeScalars)
                var out: [Value] = []
                var from = 0
                while let i = indexOf(s, sub, from: from) {
                    out.append(.int(i))
                    from = i + 1
                }
                return .array(out)
            },
            Builtin("replace", arity: 3) { a, _ in
                let s = try a.string(0), old = try a.string(1), new = try a.string(2)
                if old.isEmpty {
                    // Go inserts the replacement around every rune.
                    var out = new
                    for u in s.unicodeScalars { out.unicodeScalars.append(u); out += new }
                    return .string(out)
                }
                return .string(s.replacingOccurrences(old, new))
            },
            Builtin("strings.replace_n", arity: 2) { a, _ in
                let patterns = try a.object(0)
                var s = try a.string(1)
                var pairs: [(String, String)] = []
                for e in patterns.entries {
                    guard case .string(let k) = e.key else { throw BuiltinError.type("operand 1 non-string key found in pattern object") }
                    guard case .string(let v) = e.value else { throw BuiltinError.operand(1, "object[string: string]", a[0]) }
                    pairs.append((k, v))
                }
                s = replaceMany(s, pairs)
                return .string(s)
            },
            Builtin("split", arity: 2) { a, _ in
                let s = try a.string(0), sep = try a.string(1)
                if sep.isEmpty { return .array(s.unicodeScalars.map { .string(String($0)) }) }
                return .array(splitString(s, sep).map { .string($0) })
            },
            Builtin("substring", arity: 3) { a, _ in
                let s = Array(try a.string(0).unicodeScalars)
                let start = try a.int(1), length = try a.int(2)
                if start < 0 { throw BuiltinError.failure("negative offset") }
                if start >= s.count { return .string("") }
                let end = length < 0 ? s.count : min(s.count, start + length)
                return .string(String(String.UnicodeScalarView(s[start..<end])))
            },
            Builtin("trim", arity: 2) { a, _ in
                let cut = Set(try a.string(1).unicodeScalars)
                return .string(trimScalars(try a.string(0), left: true, right: true) { cut.contains($0) })
            },
            Builtin("trim_left", arity: 2) { a, _ in
                let cut = Set(try a.string(1).unicodeScalars)
                return .string(trimScalars(try a.string(0), left: true, right: false) { cut.contains($0) })
            },
            Builtin("trim_right", arity: 2) { a, _ in
                let cut = Set(try a.string(1).unicodeScalars)
                return .string(trimScalars(try a.string(0), left: false, right: true) { cut.contains($0) })
            },
            Builtin("trim_prefix", arity: 2) { a, _ in
                let s = try a.string(0), p = try a.string(1)
                return .string(s.hasPrefix(p) ? String(s.unicodeScalars.dropFirst(p.unicodeScalars.count)) : s)
            },
            Builtin("trim_suffix", arity: 2) { a, _ in
                let s = try a.string(0), p = try a.string(1)
                return .string(s.hasSuffix(p) ? String(s.unicodeScalars.dropLast(p.unicodeScalars.count)) : s)
            },
            Builtin("trim_space", arity: 1) { a, _ in
                .string(trimScalars(try a.string(0), left: true, right: true) { isGoSpace($0) })
            },
            Builtin("strings.count", arity: 2) { a, _ in
                let s = Array(try a.string(0).unicodeScalars), sub = Array(try a.string(1).unicodeScalars)
                if sub.isEmpty { return .int(s.count + 1) }
                var n = 0, from = 0
                while let i = indexOf(s, sub, from: from) { n += 1; from = i + sub.count }
                return .int(n)
            },
            Builtin("strings.any_prefix_match", arity: 2) { a, _ in
                let search = try stringsOperand(a[0], 1), bases = try stringsOperand(a[1], 2)
                return .bool(search.contains { s in bases.contains { s.hasPrefix($0) } })
            },
            Builtin("strings.any_suffix_match", arity: 2) { a, _ in
                let search = try stringsOperand(a[0], 1), bases = try stringsOperand(a[1], 2)
                return .bool(search.contains { s in bases.contains { s.hasSuffix($0) } })
            },
            Builtin("sprintf", arity: 2) { a, _ in
                .string(try GoFormat.sprintf(try a.string(0), try a.array(1)))
            },
        ]
    }

    static func stringsOperand(_ v: Value, _ i: Int) throws(BuiltinError) -> [String] {
        switch v {
        case .string(let s): return [s]
        case .array, .set:
            let xs: [Value]
            if case .array(let a) = v { xs = a } else if case .set(let st) = v { xs = st.elements } else { xs = [] }
            var out: [String] = []
            for x in xs {
                guard case .string(let s) = x else { throw BuiltinError.type("operand \(i) must be \(v.typeName) of strings but got \(v.typeName) containing \(x.typeName)") }
                out.append(s)
            }
            return out
        default:
            throw BuiltinError.type("operand \(i) must be one of {string, set, array} but got \(v.typeName)")
        }
    }

    static func indexOf(_ s: [Unicode.Scalar], _ sub: [Unicode.Scalar], from: Int) -> Int? {
        if sub.isEmpty { return from <= s.count ? from : nil }
        if sub.count > s.count { return nil }
        var i = from
        while i + sub.count <= s.count {
            if s[i] == sub[0] && Array(s[i..<i + sub.count]) == sub { return i }
            i += 1
        }
        return nil
    }

    static func splitString(_ s: String, _ sep: String) -> [String] {
        var out: [String] = []
        var rest = s[...]
        while let r = rest.range(of: sep) {
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }

    /// Go's strings.NewReplacer: at each position the first matching old string (in
    /// argument order, which OPA gives sorted by key) wins.
    static func replaceMany(_ s: String, _ pairs: [(String, String)]) -> String {
        let scalars = Array(s.unicodeScalars)
        let olds = pairs.map { Array($0.0.unicodeScalars) }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            var matched = false
            for (k, old) in olds.enumerated() where !old.isEmpty && i + old.count <= scalars.count && Array(scalars[i..<i + old.count]) == old {
                out.append(contentsOf: pairs[k].1.unicodeScalars)
                i += old.count
                matched = true
                break
            }
            if !matched { out.append(scalars[i]); i += 1 }
        }
        return String(out)
    }

    static func isGoSpace(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    static func trimScalars(_ s: String, left: Bool, right: Bool, _ cut: (Unicode.Scalar) -> Bool) -> String {
        var scalars = Array(s.unicodeScalars)[...]
        if left { while let f = scalars.first, cut(f) { scalars = scalars.dropFirst() } }
        if right { while let l = scalars.last, cut(l) { scalars = scalars.dropLast() } }
        return String(String.UnicodeScalarView(scalars))
    }
}


// MARK: - Go's fmt verbs

/// `sprintf` as OPA implements it: Go's fmt over the operands, numbers as integers or
/// floats, other values as Rego text.
enum GoFormat {
    static func sprintf(_ template: String, _ args: [Value]) throws(BuiltinError) -> String {
        var out = ""
        let f = Array(template.unicodeScalars)
        var i = 0
        var argIndex = 0
        while i < f.count {
            let c = f[i]
            if c != "%" { out.unicodeScalars.append(c); i += 1; continue }
            i += 1
            guard i < f.count else { out += "%!(NOVERB)"; break }
            if f[i] == "%" { out += "%"; i += 1; continue }
            var flags = Set<Unicode.Scalar>()
            while i < f.count, "+-# 0".unicodeScalars.contains(f[i]) { flags.insert(f[i]); i += 1 }
            var width: Int?
            while i < f.count, f[i].properties.numericType != nil, let d = Int(String(f[i])) { width = (width ?? 0) * 10 + d; i += 1 }
            var precision: Int?
            if i < f.count, f[i] == "." {
                i += 1
                precision = 0
                while i < f.count, let d = Int(String(f[i])), f[i].isASCII { precision = precision! * 10 + d; i += 1 }
            }
            guard i < f.count else { out += "%!(NOVERB)"; break }
            let verb = f[i]
            i += 1
            guard argIndex < args.count else { out += "%!\(verb)(MISSING)"; continue }
            let arg = args[argIndex]
            argIndex += 1
            var s = format(arg, verb: verb, flags: flags, precision: precision)
            if let width, s.unicodeScalars.count < width {
                let pad = width - s.unicodeScalars.count
                if flags.contains("-") {
                    s += String(repeating: " ", count: pad)
                } else if flags.contains("0") && isNumericVerb(verb) {
                    let sign = s.hasPrefix("-") || s.hasPrefix("+") ? String(s.removeFirst()) : ""
                    s = sign + String(repeating: "0", count: pad) + s
                } else {
                    s = String(repeating: " ", count: pad) + s
                }
            }
            out += s
        }
        if argIndex < args.count {
            var extras: [String] = []
            for extra in args[argIndex...] {
                let text: String = format(extra, verb: "v", flags: [], precision: nil)
                extras.append(goTypeName(extra) + "=" + text)
            }
            out += "%!(EXTRA " + extras.joined(separator: ", ") + ")"
        }
        return out
    }

    static func isNumericVerb(_ v: Unicode.Scalar) -> Bool { "dfeEgGxXob".unicodeScalars.contains(v) }

    static func goTypeName(_ v: Value) -> String {
        switch v {
        case .string: return "string"
        case .number(let n): return n.isInteger ? "int" : "float64"
        case .bool: return "bool"
        default: return "ast.Value"
        }
    }

    static func format(_ v: Value, verb: Unicode.Scalar, flags: Set<Unicode.Scalar>, precision: Int?) -> String {
        switch (verb, v) {
        case ("v", .string(let s)), ("s", .string(let s)):
            if let precision { return String(String.UnicodeScalarView(s.unicodeScalars.prefix(precision))) }
            return s
        case ("q", .string(let s)):
            return Value.string(s).regoQuoted
        case ("v", .number(let n)), ("s", .number(let n)):
            return n.description
        case ("d", .number(let n)):
            if let i = n.intValue, n.isInteger { return (flags.contains("+") && i >= 0 ? "+" : "") + String(i) }
            return "%!d(big.Float=\(n.description))"
        case ("f", .number(let n)), ("F", .number(let n)):
            return cFormat("%" + (flags.contains("+") ? "+" : "") + ".\(precision ?? 6)f", n.doubleValue)
        case ("e", .number(let n)), ("E", .number(let n)):
            return cFormat("%" + (flags.contains("+") ? "+" : "") + ".\(precision ?? 6)" + String(verb), n.doubleValue)
        case ("g", .number(let n)), ("G", .number(let n)):
            if let precision { return cFormat("%.\(precision)" + String(verb), n.doubleValue) }
            return n.isInteger ? n.description : Number.formatDouble(n.doubleValue)
        case ("x", .number(let n)), ("X", .number(let n)), ("o", .number(let n)), ("b", .number(let n)):
            guard let i = n.intValue, n.isInteger else { return "%!\(verb)(big.Float=\(n.description))" }
            let radix = verb == "o" ? 8 : (verb == "b" ? 2 : 16)
            let s = String(i, radix: radix, uppercase: verb == "X")
            return flags.contains("#") && radix == 16 ? "0x" + s : s
        case ("x", .string(let s)), ("X", .string(let s)):
            return s.utf8.map { let h = String($0, radix: 16, uppercase: verb == "X"); return h.count == 1 ? "0" + h : h }.joined()
        case ("t", .bool(let b)), ("v", .bool(let b)):
            return b ? "true" : "false"
        case ("v", _), ("s", _):
            return v.regoText
        case ("T", _):
            return goTypeName(v)
        default:
            return "%!\(verb)(\(goTypeName(v))=\(v.regoText))"
        }
    }

    static func cFormat(_ spec: String, _ d: Double) -> String {
        var buf = [CChar](repeating: 0, count: 512)
        let n = withVaList([d]) { vsnprintf(&buf, buf.count, spec, $0) }
        if n < 0 { return String(d) }
        return String(decoding: buf.prefix(Int(min(n, 511))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Value {
    /// Go's strconv.Quote.
    var regoQuoted: String {
        guard case .string(let s) = self else { return regoText }
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let h = String(u.value, radix: 16)
                    out += "\\x" + (h.count == 1 ? "0" + h : h)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
