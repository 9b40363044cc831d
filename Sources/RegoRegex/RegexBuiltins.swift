public import Rego

/// `regex.*` and `glob.*` over RE2, registered into an engine from outside its pure core.
/// Globs are translated to RE2 patterns, so they are linear-time too.
public enum RegoRegex {
    public static var builtins: [Builtin] {
        [
            Builtin("regex.is_valid", arity: 1) { a, _ in
                guard case .string(let p) = a[0] else { return .false }
                return .bool((try? RE2Regex.compiled(p)) != nil)
            },
            Builtin("regex.match", arity: 2) { a, _ in
                let re = try compile(a, 0)
                return .bool(re.find(Array(try string(a, 1).utf8), from: 0) != nil)
            },
            Builtin("re_match", arity: 2) { a, _ in
                let re = try compile(a, 0)
                return .bool(re.find(Array(try string(a, 1).utf8), from: 0) != nil)
            },
            Builtin("regex.find_n", arity: 3) { a, _ in
                let re = try compile(a, 0)
                let text = Array(try string(a, 1).utf8)
                let n = try int(a, 2)
                return .array(re.findAll(text, limit: n).map { .string(slice(text, $0[0], $0[1])) })
            },
            Builtin("regex.find_all_string_submatch_n", arity: 3) { a, _ in
                let re = try compile(a, 0)
                let text = Array(try string(a, 1).utf8)
                let n = try int(a, 2)
                return .array(re.findAll(text, limit: n).map { m in
                    .array(stride(from: 0, to: m.count, by: 2).map { i in .string(m[i] < 0 ? "" : slice(text, m[i], m[i + 1])) })
                })
            },
            Builtin("regex.split", arity: 2) { a, _ in
                let re = try compile(a, 0)
                let s = try string(a, 1)
                let text = Array(s.utf8)
                if text.isEmpty { return .array([.string("")]) }
                var out: [Value] = []
                var beg = 0, end = 0
                for m in re.findAll(text, limit: -1) {
                    end = m[0]
                    if m[1] != 0 { out.append(.string(slice(text, beg, end))) }
                    beg = m[1]
                }
                if end != text.count { out.append(.string(slice(text, beg, text.count))) }
                return .array(out)
            },
            Builtin("regex.replace", arity: 3) { a, _ in
                let s = try string(a, 0)
                guard case .string(let p) = a[1] else { throw BuiltinError.operand(2, "string", a[1]) }
                let repl = try string(a, 2)
                let re: RE2Regex
                do { re = try RE2Regex.compiled(p) } catch { throw BuiltinError.failure("\(error)") }
                return .string(replaceAll(re, Array(s.utf8), Array(repl.utf8)))
            },
            Builtin("regex.template_match", arity: 4) { a, _ in
                let template = try string(a, 0), value = try string(a, 1)
                let open = try string(a, 2), close = try string(a, 3)
                guard let o = open.unicodeScalars.first, let c = close.unicodeScalars.first, open.unicodeScalars.count == 1, close.unicodeScalars.count == 1 else {
                    throw BuiltinError.failure("delimiters must be single characters")
                }
                let pattern = try templatePattern(template, open: o, close: c)
                let re: RE2Regex
                do { re = try RE2Regex.compiled(pattern) } catch { throw BuiltinError.failure("\(error)") }
                return .bool(re.find(Array(value.utf8), from: 0) != nil)
            },
            Builtin("glob.quote_meta", arity: 1) { a, _ in
                var out = ""
                for u in try string(a, 0).unicodeScalars {
                    if "*?\\[]{}".unicodeScalars.contains(u) { out += "\\" }
                    out.unicodeScalars.append(u)
                }
                return .string(out)
            },
            Builtin("glob.match", arity: 3) { a, _ in
                let pattern = try string(a, 0)
                var delimiters: [String] = ["."]
                switch a[1] {
                case .null: delimiters = []
                case .array(let xs):
                    if !xs.isEmpty {
                        delimiters = []
                        for x in xs {
                            guard case .string(let d) = x else { throw BuiltinError.operand(2, "array[string]", a[1]) }
                            delimiters.append(d)
                        }
                    }
                default: throw BuiltinError.operand(2, "array[string]", a[1])
                }
                let text = try string(a, 2)
                let re: RE2Regex
                do { re = try RE2Regex.compiled(try Glob.regex(pattern, delimiters: delimiters)) } catch let e as RE2Regex.CompileError {
                    throw BuiltinError.failure(e.description)
                }
                return .bool(re.find(Array(text.utf8), from: 0) != nil)
            },
        ]
    }

    // MARK: - Helpers

    static func string(_ a: [Value], _ i: Int) throws(BuiltinError) -> String {
        if case .string(let s) = a[i] { return s }
        throw BuiltinError.operand(i + 1, "string", a[i])
    }

    static func int(_ a: [Value], _ i: Int) throws(BuiltinError) -> Int {
        guard case .number(let n) = a[i], let v = n.intValue else { throw BuiltinError.operand(i + 1, "number", a[i]) }
        return v
    }

    static func compile(_ a: [Value], _ i: Int) throws(BuiltinError) -> RE2Regex {
        let p = try string(a, i)
        do { return try RE2Regex.compiled(p) } catch { throw BuiltinError.failure("\(error)") }
    }

    static func slice(_ text: [UInt8], _ from: Int, _ to: Int) -> String {
        String(decoding: text[from..<to], as: UTF8.self)
    }

    /// Go's Regexp.ReplaceAllString, with `$1`, `${1}` and `$$` in the replacement.
    static func replaceAll(_ re: RE2Regex, _ src: [UInt8], _ repl: [UInt8]) -> String {
        var out: [UInt8] = []
        var lastEnd = 0
        var searchPos = 0
        while searchPos <= src.count {
            guard let m = re.find(src, from: searchPos) else { break }
            out.append(contentsOf: src[lastEnd..<m[0]])
            if m[1] > lastEnd || m[0] == 0 {
                expand(repl, m, src, into: &out)
            }
            lastEnd = m[1]
            let width = RE2Regex.runeWidth(src, at: searchPos)
            if searchPos + width > m[1] { searchPos += width } else if searchPos + 1 > m[1] { searchPos += 1 } else { searchPos = m[1] }
        }
        out.append(contentsOf: src[min(lastEnd, src.count)...])
        return String(decoding: out, as: UTF8.self)
    }

    static func expand(_ repl: [UInt8], _ m: [Int], _ src: [UInt8], into out: inout [UInt8]) {
        var i = 0
        func isNameByte(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 }
        while i < repl.count {
            let b = repl[i]
            guard b == UInt8(ascii: "$"), i + 1 < repl.count else { out.append(b); i += 1; continue }
            if repl[i + 1] == UInt8(ascii: "$") { out.append(b); i += 2; continue }
            var name: [UInt8] = []
            var j = i + 1
            if repl[j] == UInt8(ascii: "{") {
                j += 1
                while j < repl.count, isNameByte(repl[j]) { name.append(repl[j]); j += 1 }
                guard j < repl.count, repl[j] == UInt8(ascii: "}"), !name.isEmpty else { out.append(b); i += 1; continue }
                j += 1
            } else {
                while j < repl.count, isNameByte(repl[j]) { name.append(repl[j]); j += 1 }
                if name.isEmpty { out.append(b); i += 1; continue }
            }
            if let g = Int(String(decoding: name, as: UTF8.self)), 2 * g + 1 < m.count, m[2 * g] >= 0 {
                out.append(contentsOf: src[m[2 * g]..<m[2 * g + 1]])
            }
            i = j
        }
    }

    /// `regex.template_match` templates: literal text outside the delimiters, a regular
    /// expression inside them; matched against the whole value.
    static func templatePattern(_ template: String, open: Unicode.Scalar, close: Unicode.Scalar) throws(BuiltinError) -> String {
        var out = "^"
        var depth = 0
        var literal = ""
        var inner = ""
        for u in template.unicodeScalars {
            if u == open {
                if depth == 0 { out += quoteMeta(literal); literal = "" } else { inner.unicodeScalars.append(u) }
                depth += 1
            } else if u == close && depth > 0 {
                depth -= 1
                if depth == 0 { out += "(?:" + inner + ")"; inner = "" } else { inner.unicodeScalars.append(u) }
            } else if depth > 0 {
                inner.unicodeScalars.append(u)
            } else {
                literal.unicodeScalars.append(u)
            }
        }
        if depth != 0 { throw BuiltinError.failure("unbalanced braces in template") }
        out += quoteMeta(literal) + "$"
        return out
    }

    static func quoteMeta(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            if "\\.+*?()|[]{}^$".unicodeScalars.contains(u) { out += "\\" }
            out.unicodeScalars.append(u)
        }
        return out
    }
}

/// Glob patterns (the gobwas/glob dialect OPA uses) as RE2 patterns.
enum Glob {
    static func regex(_ pattern: String, delimiters: [String]) throws(RE2Regex.CompileError) -> String {
        let delims = delimiters.flatMap { Array($0.unicodeScalars) }
        let notDelim = delims.isEmpty ? "[\\s\\S]" : "[^" + delims.map { RegoRegex.quoteMeta(String($0)).replacingBackslashForClass() }.joined() + "]"
        let p = Array(pattern.unicodeScalars)
        var i = 0
        func parse(inAlternative: Bool) throws(RE2Regex.CompileError) -> String {
            var out = ""
            while i < p.count {
                let c = p[i]
                switch c {
                case "*":
                    if i + 1 < p.count && p[i + 1] == "*" { out += "[\\s\\S]*"; i += 2 } else { out += notDelim + "*"; i += 1 }
                case "?":
                    out += notDelim
                    i += 1
                case "[":
                    i += 1
                    var cls = "["
                    if i < p.count && p[i] == "!" { cls += "^"; i += 1 }
                    var closed = false
                    while i < p.count {
                        if p[i] == "]" { closed = true; i += 1; break }
                        if p[i] == "\\" && i + 1 < p.count { cls += RegoRegex.quoteMeta(String(p[i + 1])); i += 2; continue }
                        if p[i] == "-" { cls += "-" } else { cls += RegoRegex.quoteMeta(String(p[i])) }
                        i += 1
                    }
                    if !closed { throw RE2Regex.CompileError(description: "unexpected end of input") }
                    out += cls + "]"
                case "{":
                    i += 1
                    var alternatives: [String] = []
                    while true {
                        alternatives.append(try parse(inAlternative: true))
                        guard i < p.count else { throw RE2Regex.CompileError(description: "unexpected end of input") }
                        if p[i] == "," { i += 1; continue }
                        if p[i] == "}" { i += 1; break }
                    }
                    out += "(?:" + alternatives.joined(separator: "|") + ")"
                case "," where inAlternative, "}" where inAlternative:
                    return out
                case "\\":
                    if i + 1 < p.count { out += RegoRegex.quoteMeta(String(p[i + 1])); i += 2 } else { out += "\\\\"; i += 1 }
                default:
                    out += RegoRegex.quoteMeta(String(c))
                    i += 1
                }
            }
            return out
        }
        return "^" + (try parse(inAlternative: false)) + "$"
    }
}

extension String {
    /// Inside a character class only `\`, `]`, `^` and `-` need escaping.
    func replacingBackslashForClass() -> String {
        if self == "-" || self == "]" || self == "^" { return "\\" + self }
        return self
    }
}
