/// uuid.rfc4122 (random, but one value per key within an evaluation) and uuid.parse.
extension BuiltinFamilies {
    static var uuid: [Builtin] {
        [
            Builtin("uuid.rfc4122", arity: 1) { a, ctx in
                let key = "uuid.rfc4122:" + (try a.string(0))
                if let v = ctx.memo[key] as? Value { return v }
                var rng = SystemRandomNumberGenerator()
                var b = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
                b[6] = 0x40 | (b[6] & 0x0F)
                b[8] = 0x80 | (b[8] & 0x3F)
                let v = Value.string(UUIDText.format(b))
                ctx.memo[key] = v
                return v
            },
            Builtin("uuid.parse", arity: 1) { a, _ in
                guard let b = UUIDText.parse(try a.string(0)) else { return nil }
                return .object(UUIDText.describe(b))
            },
        ]
    }
}

enum UUIDText {
    static func format(_ b: [UInt8]) -> String {
        let hex = b.map { let h = String($0, radix: 16); return h.count == 1 ? "0" + h : h }.joined()
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }

    /// The forms Go's google/uuid accepts: 36 with dashes, 32 hex digits, {…} or (…)
    /// around 36, and urn:uuid: before 36.
    static func parse(_ s0: String) -> [UInt8]? {
        var s = Substring(s0)
        if s.count == 45, s.lowercased().hasPrefix("urn:uuid:") { s = s.dropFirst(9) }
        else if s.count == 38, (s.first == "{" && s.last == "}") || (s.first == "(" && s.last == ")") { s = s.dropFirst().dropLast() }
        let hex: String
        if s.count == 36 {
            let chars = Array(s)
            guard chars[8] == "-", chars[13] == "-", chars[18] == "-", chars[23] == "-" else { return nil }
            hex = String(chars.filter { $0 != "-" })
        } else if s.count == 32 {
            hex = String(s)
        } else {
            return nil
        }
        guard hex.count == 32, let bytes = Hex.decode(hex) else { return nil }
        return bytes
    }

    static func describe(_ b: [UInt8]) -> RegoObject {
        let version = Int(b[6] >> 4)
        var o = RegoObject()
        o["version"] = .int(version)
        let variant: String
        switch b[8] >> 5 {
        case 0b000, 0b001, 0b010, 0b011: variant = "Reserved"
        case 0b100, 0b101: variant = "RFC4122"
        case 0b110: variant = "Microsoft"
        default: variant = "Future"
        }
        o["variant"] = .string(variant)
        if version == 1 || version == 2 {
            let low = UInt64(b[0]) << 24 | UInt64(b[1]) << 16 | UInt64(b[2]) << 8 | UInt64(b[3])
            let mid = UInt64(b[4]) << 8 | UInt64(b[5])
            let high = (UInt64(b[6]) << 8 | UInt64(b[7])) & 0x0FFF
            let t = high << 48 | mid << 32 | low
            // 100 ns intervals since 1582-10-15 → nanoseconds since 1970.
            o["time"] = .int((Int(t) - 122_192_928_000_000_000) * 100)
            o["clocksequence"] = .int(Int(b[8] & 0x3F) << 8 | Int(b[9]))
            o["nodeid"] = .string(b[10..<16].map { let h = String($0, radix: 16); return h.count == 1 ? "0" + h : h }.joined(separator: "-"))
            o["macvariables"] = .string((b[10] & 0x02 != 0 ? "local" : "global") + ":" + (b[10] & 0x01 != 0 ? "multicast" : "unicast"))
            if version == 2 {
                o["id"] = .int(Int(low))
                let domains = ["Person", "Group", "Org"]
                o["domain"] = .string(Int(b[9]) < domains.count ? domains[Int(b[9])] : "Domain\(b[9])")
            }
        }
        return o
    }
}
