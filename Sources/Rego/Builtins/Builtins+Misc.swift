/// units.*, walk, graph.*, semver.*.
extension BuiltinFamilies {
    // MARK: - Units

    static var units: [Builtin] {
        [
            Builtin("units.parse", arity: 1) { a, _ in try parseUnits(try a.string(0), bytes: false) },
            Builtin("units.parse_bytes", arity: 1) { a, _ in try parseUnits(try a.string(0), bytes: true) },
        ]
    }

    static func parseUnits(_ raw: String, bytes: Bool) throws(BuiltinError) -> Value {
        let name = bytes ? "units.parse_bytes" : "units.parse"
        let noun = bytes ? "byte amount" : "amount"
        var s = raw
        if s.hasPrefix("\"") && s.hasSuffix("\"") && s.count >= 2 { s = String(s.dropFirst().dropLast()) }
        if s.contains(" ") { throw BuiltinError.failure("\(name): spaces not allowed in resource strings") }
        var numEnd = s.startIndex
        var seenDigit = false
        for (idx, ch) in zip(s.indices, s) {
            if ch.isASCII && (ch.isNumber || ch == "." || ((ch == "-" || ch == "+") && idx == s.startIndex) || ((ch == "e" || ch == "E") && seenDigit && !bytes && false)) {
                if ch.isNumber { seenDigit = true }
                numEnd = s.index(after: idx)
            } else {
                break
            }
        }
        let numText = String(s[..<numEnd])
        let unit = String(s[numEnd...])
        if numText.isEmpty { throw BuiltinError.failure("\(name): no \(noun) provided") }
        guard let n = Number(text: numText.hasPrefix("+") ? String(numText.dropFirst()) : (numText.hasPrefix(".") ? "0" + numText : numText)) else {
            throw BuiltinError.failure("\(name): could not parse \(noun) to a number")
        }
        let decimal: [String: Int] = ["": 0, "k": 3, "K": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18]
        let binary: [String: Int] = ["ki": 10, "Ki": 10, "mi": 20, "Mi": 20, "gi": 30, "Gi": 30, "ti": 40, "Ti": 40, "pi": 50, "Pi": 50, "ei": 60, "Ei": 60]
        var factor: Number
        if bytes {
            var u = unit.lowercased()
            if u.hasSuffix("b") { u.removeLast() }
            let dec: [String: Int] = ["": 0, "k": 3, "m": 6, "g": 9, "t": 12, "p": 15, "e": 18]
            let bin: [String: Int] = ["ki": 10, "mi": 20, "gi": 30, "ti": 40, "pi": 50, "ei": 60]
            if let e = dec[u] { factor = pow10Number(e) } else if let e = bin[u] { factor = pow2Number(e) } else {
                throw BuiltinError.failure("\(name): byte unit \(unit) not recognized")
            }
            let r = n * factor
            return .number(Number(r.doubleValue.rounded(.down)) == r ? r : Number(r.doubleValue.rounded(.down)))
        }
        if unit == "m" {
            factor = Number(exact: ExactDecimal(text: "0.001")!)
        } else if let e = decimal[unit] {
            factor = pow10Number(e)
        } else if let e = binary[unit] {
            factor = pow2Number(e)
        } else if unit == "mi" || unit == "Mi" {
            factor = pow2Number(20)
        } else {
            throw BuiltinError.failure("\(name): unit \(unit) not recognized")
        }
        return .number(n * factor)
    }

    static func pow10Number(_ e: Int) -> Number {
        var r = Number.int(1)
        for _ in 0..<e { r = r * .int(10) }
        return r
    }

    static func pow2Number(_ e: Int) -> Number {
        var r = Number.int(1)
        for _ in 0..<e { r = r * .int(2) }
        return r
    }

    // MARK: - walk, graphs

    static var misc: [Builtin] {
        [
            Builtin(relation: "walk", arity: 1) { a, _ in
                var out: [Value] = []
                func visit(_ v: Value, _ path: [Value]) {
                    out.append(.array([.array(path), v]))
                    switch v {
                    case .array(let xs): for (i, x) in xs.enumerated() { visit(x, path + [.int(i)]) }
                    case .object(let o): for e in o.entries { visit(e.value, path + [e.key]) }
                    case .set(let s): for x in s.elements { visit(x, path + [x]) }
                    default: break
                    }
                }
                visit(a[0], [])
                return out
            },
        ]
    }

    static var graphs: [Builtin] {
        [
            Builtin("graph.reachable", arity: 2) { a, _ in
                let g = try a.object(0)
                var seen = RegoSet()
                var queue = try collectionElements(a[1], 2)
                while let n = queue.popLast() {
                    if seen.contains(n) { continue }
                    guard let edges = g[n] else { continue }
                    seen.insert(n)
                    switch edges {
                    case .array(let xs): queue.append(contentsOf: xs)
                    case .set(let s): queue.append(contentsOf: s.elements)
                    default: break
                    }
                }
                return .set(seen)
            },
            Builtin("graph.reachable_paths", arity: 2) { a, _ in
                let g = try a.object(0)
                var paths = SetBuilder()
                func dfs(_ n: Value, _ path: [Value]) {
                    guard let edges = g[n] else {
                        if !path.isEmpty { paths.insert(.array(path)) }
                        return
                    }
                    let next = path + [n]
                    let succ: [Value]
                    switch edges {
                    case .array(let xs): succ = xs
                    case .set(let s): succ = s.elements
                    default: succ = []
                    }
                    let fresh = succ.filter { !next.contains($0) && g[$0] != nil }
                    if fresh.isEmpty { paths.insert(.array(next)); return }
                    for s in fresh { dfs(s, next) }
                }
                for n in try collectionElements(a[1], 2) { dfs(n, []) }
                return .set(paths.build())
            },
        ]
    }

    // MARK: - Semantic versions

    static var semver: [Builtin] {
        [
            Builtin("semver.is_valid", arity: 1) { a, _ in
                guard case .string(let s) = a[0] else { return .false }
                return .bool(SemVer(s) != nil)
            },
            Builtin("semver.compare", arity: 2) { a, _ in
                let x = try a.string(0), y = try a.string(1)
                guard let vx = SemVer(x) else { throw BuiltinError.failure("operand 1: string \(Value.string(x).regoQuoted) is not a valid SemVer") }
                guard let vy = SemVer(y) else { throw BuiltinError.failure("operand 2: string \(Value.string(y).regoQuoted) is not a valid SemVer") }
                return .int(SemVer.compare(vx, vy))
            },
        ]
    }
}

/// Semantic Versioning 2.0.0.
struct SemVer {
    let major: Int, minor: Int, patch: Int
    let pre: [String]

    init?(_ s: String) {
        var core = s
        var pre: [String] = []
        if let plus = core.firstIndex(of: "+") {
            let build = core[core.index(after: plus)...]
            if build.isEmpty || build.split(separator: ".", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || !$0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } }) { return nil }
            core = String(core[..<plus])
        }
        if let dash = core.firstIndex(of: "-") {
            let p = core[core.index(after: dash)...]
            pre = p.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if pre.contains(where: { $0.isEmpty || !$0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } || ($0.count > 1 && $0.hasPrefix("0") && $0.allSatisfy(\.isNumber)) }) { return nil }
            core = String(core[..<dash])
        }
        let parts = core.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var nums: [Int] = []
        for p in parts {
            guard !p.isEmpty, p.allSatisfy({ $0.isASCII && $0.isNumber }), !(p.count > 1 && p.hasPrefix("0")), let n = Int(p) else { return nil }
            nums.append(n)
        }
        major = nums[0]; minor = nums[1]; patch = nums[2]
        self.pre = pre
    }

    static func compare(_ a: SemVer, _ b: SemVer) -> Int {
        for (x, y) in [(a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)] where x != y { return x < y ? -1 : 1 }
        if a.pre.isEmpty && b.pre.isEmpty { return 0 }
        if a.pre.isEmpty { return 1 }
        if b.pre.isEmpty { return -1 }
        for i in 0..<min(a.pre.count, b.pre.count) {
            let x = a.pre[i], y = b.pre[i]
            if x == y { continue }
            switch (Int(x), Int(y)) {
            case (let p?, let q?): return p < q ? -1 : 1
            case (.some, nil): return -1
            case (nil, .some): return 1
            default: return x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1
            }
        }
        return a.pre.count == b.pre.count ? 0 : (a.pre.count < b.pre.count ? -1 : 1)
    }
}
