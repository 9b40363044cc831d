/// net.cidr_*: IPv4 and IPv6 networks as Go's net package parses them.
extension BuiltinFamilies {
    static var netCIDR: [Builtin] {
        [
            Builtin("net.cidr_contains", arity: 2) { a, _ in
                let outer = try cidrOperand(try a.string(0))
                let s = try a.string(1)
                if let inner = IPNetwork(cidr: s) { return .bool(outer.contains(inner)) }
                guard let ip = IPAddress(s) else { throw BuiltinError.failure("invalid CIDR address: \(s)") }
                return .bool(outer.contains(ip))
            },
            Builtin("net.cidr_intersects", arity: 2) { a, _ in
                let x = try cidrOperand(try a.string(0)), y = try cidrOperand(try a.string(1))
                return .bool(x.contains(y.base) || y.contains(x.base))
            },
            Builtin("net.cidr_overlap", arity: 2) { a, _ in
                let x = try cidrOperand(try a.string(0)), y = try cidrOperand(try a.string(1))
                return .bool(x.contains(y.base) || y.contains(x.base))
            },
            Builtin("net.cidr_is_valid", arity: 1) { a, _ in
                guard case .string(let s) = a[0] else { return .false }
                return .bool(IPNetwork(cidr: s) != nil)
            },
            Builtin("net.cidr_expand", arity: 1) { a, _ in
                let n = try cidrOperand(try a.string(0))
                let hostBits = n.base.bits - n.prefix
                if hostBits > 17 { throw BuiltinError.failure("network too large to expand") }
                var out: [Value] = []
                var addr = n.base
                for _ in 0..<(1 << hostBits) {
                    out.append(.string(addr.description))
                    addr = addr.successor()
                }
                return .set(RegoSet(out))
            },
            Builtin("net.cidr_merge", arity: 1) { a, _ in
                var nets: [IPNetwork] = []
                for v in try collectionElements(a[0], 1) {
                    guard case .string(let s) = v else { throw BuiltinError.operand(1, "one of {array, set} of strings", a[0]) }
                    if let n = IPNetwork(cidr: s) {
                        nets.append(n)
                    } else if let ip = IPAddress(s), ip.bits == 32 {
                        // Go's IP.DefaultMask: the classful mask of a bare IPv4 address.
                        let first = ip.bytes[0]
                        let prefix = first < 0x80 ? 8 : (first < 0xC0 ? 16 : 24)
                        if first >= 0xE0 { throw BuiltinError.failure("net.cidr_merge: IPv4 invalid: no default mask") }
                        nets.append(IPNetwork(base: ip, prefix: prefix))
                    } else if s.contains(":") && !s.contains("/") {
                        throw BuiltinError.failure("IPv6 invalid: needs prefix length")
                    } else {
                        throw BuiltinError.failure("invalid CIDR address: \(s)")
                    }
                }
                return .set(RegoSet(IPNetwork.merge(nets).map { .string($0.description) }))
            },
            Builtin("net.cidr_contains_matches", arity: 2) { a, _ in
                let cidrs = try cidrEntries(a[0], 1)
                let ips = try cidrEntries(a[1], 2)
                var out: [Value] = []
                for (ck, cs, _) in cidrs {
                    guard let n = IPNetwork(cidr: cs) else { throw BuiltinError.failure("invalid CIDR address: \(cs)") }
                    for (ik, is_, _) in ips {
                        let matched: Bool
                        if let inner = IPNetwork(cidr: is_) { matched = n.contains(inner) } else if let ip = IPAddress(is_) { matched = n.contains(ip) } else { continue }
                        if matched { out.append(.array([ck, ik])) }
                    }
                }
                return .set(RegoSet(out))
            },
        ]
    }

    static func cidrOperand(_ s: String) throws(BuiltinError) -> IPNetwork {
        guard let n = IPNetwork(cidr: s) else { throw BuiltinError.failure("invalid CIDR address: \(s)") }
        return n
    }

    /// A string, or a collection of strings / [string, …] arrays, with the key each is reported by.
    static func cidrEntries(_ v: Value, _ i: Int) throws(BuiltinError) -> [(Value, String, Value)] {
        func item(_ key: Value, _ x: Value) throws(BuiltinError) -> (Value, String, Value) {
            switch x {
            case .string(let s): return (key, s, x)
            case .array(let a):
                if case .string(let s)? = a.first { return (key, s, x) }
                throw BuiltinError.failure("net.cidr_contains_matches: operand \(i): element must be string or non-empty array")
            default:
                throw BuiltinError.failure("net.cidr_contains_matches: operand \(i): element must be string or non-empty array")
            }
        }
        switch v {
        case .string(let s): return [(v, s, v)]
        case .array(let a): return try a.enumerated().map { (i, x) throws(BuiltinError) in try item(.int(i), x) }
        case .set(let s): return try s.elements.map { x throws(BuiltinError) in try item(x, x) }
        case .object(let o): return try o.entries.map { e throws(BuiltinError) in try item(e.key, e.value) }
        default: throw BuiltinError.operand(i, "one of {string, array, set, object}", v)
        }
    }
}

/// An IPv4 or IPv6 address as 16 bytes (IPv4 in the first 4, with `bits` 32).
struct IPAddress: Comparable {
    var bytes: [UInt8]
    let bits: Int

    init(bytes: [UInt8], bits: Int) {
        self.bytes = bytes
        self.bits = bits
    }

    init?(_ s: String) {
        if s.contains(":") {
            guard let b = IPAddress.parseV6(s) else { return nil }
            bytes = b
            bits = 128
        } else {
            let parts = s.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var b: [UInt8] = []
            for p in parts {
                guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }), !(p.count > 1 && p.hasPrefix("0")), let v = UInt8(p) else { return nil }
                b.append(v)
            }
            bytes = b
            bits = 32
        }
    }

    static func parseV6(_ s: String) -> [UInt8]? {
        var text = s
        var tail: [UInt8] = []
        // An embedded IPv4 tail.
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = IPAddress(String(text[text.index(after: lastColon)...])), v4.bits == 32 else { return nil }
            tail = v4.bytes
            text = String(text[...lastColon]) + "0:0"
        }
        let halves = text.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for g in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all: [UInt16]
        if halves.count == 2 {
            guard let rest = groups(halves[1]), head.count + rest.count <= 7 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - rest.count) + rest
        } else {
            guard head.count == 8 else { return nil }
            all = head
        }
        var b: [UInt8] = []
        for g in all { b.append(UInt8(g >> 8)); b.append(UInt8(g & 0xFF)) }
        if !tail.isEmpty { b.replaceSubrange(12..<16, with: tail) }
        return b
    }

    func masked(_ prefix: Int) -> IPAddress {
        var out = bytes
        for i in 0..<out.count {
            let bitStart = i * 8
            if bitStart >= prefix { out[i] = 0 } else if bitStart + 8 > prefix {
                out[i] &= UInt8(truncatingIfNeeded: 0xFF << (8 - (prefix - bitStart)))
            }
        }
        return IPAddress(bytes: out, bits: bits)
    }

    func successor() -> IPAddress {
        var out = bytes
        var i = out.count - 1
        while i >= 0 {
            if out[i] == 255 { out[i] = 0; i -= 1 } else { out[i] += 1; break }
        }
        return IPAddress(bytes: out, bits: bits)
    }

    var description: String {
        if bits == 32 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [UInt16] = []
        for i in stride(from: 0, to: 16, by: 2) { groups.append(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1])) }
        // Longest run of zero groups (length ≥ 2) becomes "::".
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8, groups[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ g: ArraySlice<UInt16>) -> String { g.map { String($0, radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(groups[...]) }
        return hex(groups[..<bestStart]) + "::" + hex(groups[(bestStart + bestLen)...])
    }

    static func < (a: IPAddress, b: IPAddress) -> Bool {
        a.bits != b.bits ? a.bits < b.bits : a.bytes.lexicographicallyPrecedes(b.bytes)
    }
}

struct IPNetwork {
    let base: IPAddress
    let prefix: Int

    init(base: IPAddress, prefix: Int) {
        self.base = base.masked(prefix)
        self.prefix = prefix
    }

    init?(cidr: String) {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let ip = IPAddress(String(parts[0])), !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(parts[1]), p >= 0, p <= ip.bits else { return nil }
        self.init(base: ip, prefix: p)
    }

    func contains(_ ip: IPAddress) -> Bool {
        var addr = ip
        if ip.bits != base.bits {
            // An IPv4 address against an IPv4-mapped IPv6 network, and the reverse.
            if base.bits == 128 && ip.bits == 32 { addr = IPAddress(bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255] + ip.bytes, bits: 128) } else { return false }
        }
        return addr.masked(prefix).bytes == base.bytes
    }

    func contains(_ other: IPNetwork) -> Bool {
        other.base.bits == base.bits && other.prefix >= prefix && contains(other.base)
    }

    var description: String { "\(base.description)/\(prefix)" }

    /// Smallest set of networks covering the inputs: drop contained ones, join siblings.
    static func merge(_ nets: [IPNetwork]) -> [IPNetwork] {
        var list = nets.sorted { $0.base != $1.base ? $0.base < $1.base : $0.prefix < $1.prefix }
        var changed = true
        while changed {
            changed = false
            var out: [IPNetwork] = []
            for n in list {
                if let last = out.last, last.contains(n) { changed = changed || false; continue }
                if let last = out.last, last.prefix == n.prefix, last.prefix > 0, last.base.bits == n.base.bits,
                   IPNetwork(base: last.base, prefix: last.prefix - 1).base.bytes == last.base.bytes,
                   IPNetwork(base: n.base, prefix: n.prefix - 1).base.bytes == last.base.bytes {
                    out[out.count - 1] = IPNetwork(base: last.base, prefix: last.prefix - 1)
                    changed = true
                    continue
                }
                out.append(n)
            }
            list = out.sorted { $0.base != $1.base ? $0.base < $1.base : $0.prefix < $1.prefix }
        }
        return list
    }
}

extension IPAddress: Equatable {}

extension String {
    /// Splits on the first "::" only (a second one makes the address invalid).
    func components(separatedByDoubleColon: ()) -> [String] {
        var parts: [String] = []
        var rest = self[...]
        while let r = rest.range(of: "::") {
            parts.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
