/// Encodings: base64, base64url, hex, URL query strings, JSON.
extension BuiltinFamilies {
    static var encoding: [Builtin] {
        [
            Builtin("base64.encode", arity: 1) { a, _ in .string(Base64.encode(Array(try a.string(0).utf8), url: false, pad: true)) },
            Builtin("base64.decode", arity: 1) { a, _ in
                let text = try a.string(0)
                guard let d = Base64.decode(text, url: false, requirePadding: true) else {
                    throw BuiltinError.failure("illegal base64 data at input byte \(Base64.errorOffset(text, url: false))")
                }
                return .string(String(decoding: d, as: UTF8.self))
            },
            Builtin("base64.is_valid", arity: 1) { a, _ in .bool(Base64.decode(try a.string(0), url: false, requirePadding: true) != nil) },
            Builtin("base64url.encode", arity: 1) { a, _ in .string(Base64.encode(Array(try a.string(0).utf8), url: true, pad: true)) },
            Builtin("base64url.encode_no_pad", arity: 1) { a, _ in .string(Base64.encode(Array(try a.string(0).utf8), url: true, pad: false)) },
            Builtin("base64url.decode", arity: 1) { a, _ in
                let text = try a.string(0)
                guard let d = Base64.decode(text, url: true, requirePadding: false) else {
                    throw BuiltinError.failure("illegal base64 data at input byte \(Base64.errorOffset(text, url: true))")
                }
                return .string(String(decoding: d, as: UTF8.self))
            },
            Builtin("hex.encode", arity: 1) { a, _ in .string(Hex.encode(Array(try a.string(0).utf8))) },
            Builtin("hex.decode", arity: 1) { a, _ in
                let s = try a.string(0)
                guard let d = Hex.decode(s) else {
                    if s.utf8.count % 2 == 1, s.unicodeScalars.allSatisfy({ $0.properties.isASCIIHexDigit }) { throw BuiltinError.failure("encoding/hex: odd length hex string") }
                    let bad = s.unicodeScalars.first { !$0.properties.isASCIIHexDigit } ?? "?"
                    let hex = String(bad.value, radix: 16, uppercase: true)
                    throw BuiltinError.failure("encoding/hex: invalid byte: U+\(String(repeating: "0", count: max(0, 4 - hex.count)) + hex) '\(bad)'")
                }
                return .string(String(decoding: d, as: UTF8.self))
            },
            Builtin("urlquery.encode", arity: 1) { a, _ in .string(URLQuery.escape(try a.string(0))) },
            Builtin("urlquery.decode", arity: 1) { a, _ in
                guard let s = URLQuery.unescape(try a.string(0)) else { throw BuiltinError.failure("invalid URL escape") }
                return .string(s)
            },
            Builtin("urlquery.encode_object", arity: 1) { a, _ in
                var parts: [String] = []
                for e in try a.object(0).entries {
                    guard case .string(let k) = e.key else { throw BuiltinError.operand(1, "object[string: string|array|set]", a[0]) }
                    switch e.value {
                    case .string(let s): parts.append(URLQuery.escape(k) + "=" + URLQuery.escape(s))
                    case .array, .set:
                        let xs: [Value]
                        if case .array(let arr) = e.value { xs = arr } else if case .set(let st) = e.value { xs = st.elements } else { xs = [] }
                        for x in xs {
                            guard case .string(let s) = x else { throw BuiltinError.operand(1, "object[string: string|array|set]", a[0]) }
                            parts.append(URLQuery.escape(k) + "=" + URLQuery.escape(s))
                        }
                    default: throw BuiltinError.operand(1, "object[string: string|array|set]", a[0])
                    }
                }
                return .string(parts.joined(separator: "&"))
            },
            Builtin("urlquery.decode_object", arity: 1) { a, _ in
                var obj = RegoObject()
                for (k, v) in URLQuery.parse(try a.string(0)) {
                    if case .array(var xs)? = obj[k] { xs.append(.string(v)); obj[k] = .array(xs) } else { obj[k] = .array([.string(v)]) }
                }
                return .object(obj)
            },
            Builtin("json.marshal", arity: 1) { a, _ in .string(a[0].jsonString()) },
            Builtin("json.marshal_with_options", arity: 2) { a, _ in
                let opts = try a.object(1)
                for key in opts.keys where ![Value.string("pretty"), .string("indent"), .string("prefix")].contains(key) {
                    throw BuiltinError.failure("object contained unknown key \(key.jsonString())")
                }
                var indent = "\t", prefix = ""
                var pretty = false
                if case .bool(let p)? = opts["pretty"] { pretty = p }
                if case .string(let s)? = opts["indent"] { indent = s; if opts["pretty"] == nil { pretty = true } }
                if case .string(let s)? = opts["prefix"] { prefix = s; if opts["pretty"] == nil { pretty = true } }
                if !pretty { return .string(a[0].jsonString()) }
                return .string(prefix + JSONIndent.render(a[0], indent: indent, prefix: prefix, level: 0))
            },
            Builtin("json.unmarshal", arity: 1) { a, _ in
                let text = try a.string(0)
                do { return try Value.parseJSON(text) } catch { throw BuiltinError.failure("\(error)") }
            },
            Builtin("json.is_valid", arity: 1) { a, _ in
                guard case .string(let s) = a[0] else { return .false }
                return .bool((try? Value.parseJSON(s)) != nil)
            },
        ]
    }
}

/// Go-style indented JSON for json.marshal_with_options.
enum JSONIndent {
    static func render(_ v: Value, indent: String, prefix: String, level: Int) -> String {
        let pad = prefix + String(repeating: indent, count: level + 1)
        let end = prefix + String(repeating: indent, count: level)
        switch v {
        case .array(let a) where !a.isEmpty:
            return "[\n" + a.map { pad + render($0, indent: indent, prefix: prefix, level: level + 1) }.joined(separator: ",\n") + "\n" + end + "]"
        case .set(let s) where !s.isEmpty:
            return render(.array(s.elements), indent: indent, prefix: prefix, level: level)
        case .object(let o) where !o.isEmpty:
            return "{\n" + o.entries.map { e in
                let k: String
                if case .string(let s) = e.key { k = Value.string(s).jsonString() } else { k = Value.string(e.key.jsonString()).jsonString() }
                return pad + k + ": " + render(e.value, indent: indent, prefix: prefix, level: level + 1)
            }.joined(separator: ",\n") + "\n" + end + "}"
        default:
            return v.jsonString()
        }
    }
}

/// Base64 (RFC 4648), standard and URL alphabets, as Go's encoding/base64 reads them.
public enum Base64 {
    static let std = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let url = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: [UInt8], url: Bool, pad: Bool) -> String {
        let table = url ? Base64.url : Base64.std
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)], table[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)]]
            if pad { out += [61, 61] }
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)]]
            if pad { out += [61] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Go's "illegal base64 data at input byte N": where decoding `s` fails.
    public static func errorOffset(_ s: String, url: Bool) -> Int {
        let chars = Array(s.utf8)
        for (i, c) in chars.enumerated() {
            switch c {
            case 65...90, 97...122, 48...57: continue
            // A `where` clause applies only to the pattern just before it: each character
            // of an alphabet's pair needs its own.
            case 43 where !url, 47 where !url: continue
            case 45 where url, 95 where url: continue
            case 61: return i
            default: return i
            }
        }
        // Only the length is wrong: Go reports the position of the incomplete group.
        return chars.count - chars.count % 4
    }

    /// Strict base64url as JWS requires (RFC 7515 §2): the URL alphabet only, no padding,
    /// no line breaks, and no stray bits in the last character, so each byte string has
    /// exactly one encoding. nil for anything else.
    public static func decodeURLStrict(_ chars: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        decodeGroups(chars, url: true, strictTail: true)
    }

    /// Decodes; nil for invalid input. URL decoding accepts input with or without padding.
    public static func decode(_ s: String, url: Bool, requirePadding: Bool) -> [UInt8]? {
        var chars = Array(s.utf8).filter { $0 != 10 && $0 != 13 }
        if !requirePadding || url {
            while chars.last == 61 { chars.removeLast() }
        } else {
            if chars.count % 4 != 0 { return nil }
            var padCount = 0
            while chars.last == 61 { chars.removeLast(); padCount += 1 }
            if padCount > 2 { return nil }
        }
        return chars.withUnsafeBufferPointer { decodeGroups($0, url: url, strictTail: false) }
    }

    /// The alphabet's characters, unpadded, to bytes. `strictTail`: the bits left over in
    /// the last character must be zero.
    static func decodeGroups(_ chars: UnsafeBufferPointer<UInt8>, url: Bool, strictTail: Bool) -> [UInt8]? {
        if chars.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in chars {
            let v: UInt32
            switch c {
            case 65...90: v = UInt32(c - 65)
            case 97...122: v = UInt32(c - 71)
            case 48...57: v = UInt32(c + 4)
            case 43 where !url: v = 62
            case 47 where !url: v = 63
            case 45 where url: v = 62
            case 95 where url: v = 63
            default: return nil
            }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(acc >> UInt32(bits) & 0xFF))
            }
        }
        if strictTail && bits > 0 && acc & ((1 << UInt32(bits)) - 1) != 0 { return nil }
        return out
    }
}

public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of one hex digit (either case), or nil.
    @inline(__always)
    public static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }

    public static func decode(_ s: String) -> [UInt8]? {
        let chars = Array(s.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// Go's net/url QueryEscape / QueryUnescape / ParseQuery.
enum URLQuery {
    static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case 65...90, 97...122, 48...57, UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: " "):
                out += "+"
            default:
                let h = String(b, radix: 16, uppercase: true)
                out += "%" + (h.count == 1 ? "0" + h : h)
            }
        }
        return out
    }

    static func unescape(_ s: String) -> String? { PercentEncoding.decode(s, plusIsSpace: true) }

    static func parse(_ s: String) -> [(String, String)] { PercentEncoding.parseQuery(s) }
}

/// Percent-decoding and query parsing as Go's net/url does them, shared by the
/// urlquery/uri builtins and the Envoy input document.
public enum PercentEncoding {
    /// Decodes %XX escapes (and `+` as a space in queries); nil for a malformed escape.
    public static func decode<S: StringProtocol>(_ s: S, plusIsSpace: Bool) -> String? {
        guard needsDecoding(s, plusIsSpace: plusIsSpace) else { return String(s) }
        let b = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%") {
                guard i + 2 < b.count, let v = UInt8(String(decoding: b[i + 1...i + 2], as: UTF8.self), radix: 16) else { return nil }
                out.append(v)
                i += 3
            } else if plusIsSpace && b[i] == UInt8(ascii: "+") {
                out.append(32)
                i += 1
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    static func needsDecoding<S: StringProtocol>(_ s: S, plusIsSpace: Bool) -> Bool {
        let scan = { (bytes: UnsafeBufferPointer<UInt8>) -> Bool in
            for b in bytes where b == UInt8(ascii: "%") || (plusIsSpace && b == UInt8(ascii: "+")) { return true }
            return false
        }
        if let found = s.utf8.withContiguousStorageIfAvailable(scan) { return found }
        return s.utf8.contains { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }
    }

    /// url.ParseQuery's pairs, in order; a pair whose key cannot be decoded is skipped.
    public static func parseQuery<S: StringProtocol>(_ s: S) -> [(String, String)] {
        var out: [(String, String)] = []
        for part in s.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let k = decode(kv[0], plusIsSpace: true) else { continue }
            let v = kv.count > 1 ? (decode(kv[1], plusIsSpace: true) ?? "") : ""
            out.append((k, v))
        }
        return out
    }
}
