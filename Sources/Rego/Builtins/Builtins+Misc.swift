/// units.*, walk, graph.*, semver.*.
extension BuiltinFamilies {
    // MARK: - Units

    static var units: [Builtin] {
        [
            Builtin("units.parse", arity: 1) { a, _ in try parseUnits(try a.string(0), bytes: false) },
            Builtin("units.parse_bytes", arity: 1) { a, _ in try parseUnits(try a.string(0), bytes: true) },
        ]
    }

    /// Splits "4.5e1GiB" into number text and unit: digits, '.', signs and an exponent
    /// (an 'e' only when a digit or sign follows it) make the number.
    static func splitAmount(_ s: String, name: String) throws(BuiltinError) -> (String, String) {
        let c = Array(s.utf8)
        var i = 0
        func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
        while i < c.count {
            let b = c[i]
            if isDigit(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { i += 1; continue }
            if b == UInt8(ascii: "e") || b == UInt8(ascii: "E") {
                guard i + 1 < c.count, isDigit(c[i + 1]) || c[i + 1] == UInt8(ascii: "+") || c[i + 1] == UInt8(ascii: "-") else { break }
                i += 1
                if c[i] == UInt8(ascii: "+") || c[i] == UInt8(ascii: "-") { i += 1 }
                let start = i
                while i < c.count, isDigit(c[i]) { i += 1 }
                if i - start > 6 { throw BuiltinError.failure("\(name): exponent too large") }
                continue
            }
            break
        }
        return (String(decoding: c[..<i], as: UTF8.self), String(decoding: c[i...], as: UTF8.self))
    }

    static func parseUnits(_ raw: String, bytes: Bool) throws(BuiltinError) -> Value {
        let name = bytes ? "units.parse_bytes" : "units.parse"
        let noun = bytes ? "byte amount" : "amount"
        var s = raw.replacingOccurrences("\"", "")
        if bytes { s = s.lowercased() }
        if s.contains(" ") { throw BuiltinError.failure("\(name): spaces not allowed in resource strings") }
        var (numText, unit) = try splitAmount(s, name: name)
        if numText.isEmpty { throw BuiltinError.failure("\(name): no \(noun) provided") }
        if !bytes && unit.count > 1 { unit = String(unit.prefix(1)) + unit.dropFirst().lowercased() }
        let factor: Number
        if bytes {
            let table: [String: Number] = [
                "": .int(1), "kb": pow10Number(3), "k": pow10Number(3), "kib": pow2Number(10), "ki": pow2Number(10),
                "mb": pow10Number(6), "m": pow10Number(6), "mib": pow2Number(20), "mi": pow2Number(20),
                "gb": pow10Number(9), "g": pow10Number(9), "gib": pow2Number(30), "gi": pow2Number(30),
                "tb": pow10Number(12), "t": pow10Number(12), "tib": pow2Number(40), "ti": pow2Number(40),
                "pb": pow10Number(15), "p": pow10Number(15), "pib": pow2Number(50), "pi": pow2Number(50),
                "eb": pow10Number(18), "e": pow10Number(18), "eib": pow2Number(60), "ei": pow2Number(60),
            ]
            guard let f = table[unit] else { throw BuiltinError.failure("\(name): byte unit \(unit) not recognized") }
            factor = f
        } else {
            let table: [String: Number] = [
                "": .int(1), "m": Number(exact: ExactDecimal(text: "0.001")!), "k": pow10Number(3), "K": pow10Number(3),
                "ki": pow2Number(10), "Ki": pow2Number(10), "M": pow10Number(6), "mi": pow2Number(20), "Mi": pow2Number(20),
                "g": pow10Number(9), "G": pow10Number(9), "gi": pow2Number(30), "Gi": pow2Number(30),
                "t": pow10Number(12), "T": pow10Number(12), "ti": pow2Number(40), "Ti": pow2Number(40),
                "p": pow10Number(15), "P": pow10Number(15), "pi": pow2Number(50), "Pi": pow2Number(50),
                "e": pow10Number(18), "E": pow10Number(18), "ei": pow2Number(60), "Ei": pow2Number(60),
            ]
            guard let f = table[unit] else { throw BuiltinError.failure("\(name): unit \(unit) not recognized") }
            factor = f
        }
        guard let exact = ExactDecimal(text: numText) else { throw BuiltinError.failure("\(name): could not parse \(noun) to a number") }
        let product = ExactDecimal.multiply(exact, factor.exactDecimal)
        if bytes {
            // Whole bytes: truncate toward zero.
            let whole = ExactDecimal(negative: product.negative, digits: Array(product.digits.prefix(max(0, product.exponent))), exponent: product.exponent)
            return .number(Number(exact: whole))
        }
        return .number(Number(exact: product))
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
            // Registered so that policies which mock it in tests (`with http.send as …`)
            // compile; unmocked, it always fails: a policy must not give an agent's request
            // a way out to the network.
            Builtin("http.send", arity: 1) { _, _ in
                throw BuiltinError.failure("http.send is disabled in Warden: policies may not call the network")
            },
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
