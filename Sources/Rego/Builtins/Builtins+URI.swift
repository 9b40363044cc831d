/// `uri.parse` and `uri.is_valid`, with Go's net/url parsing rules.
extension BuiltinFamilies {
    static var uri: [Builtin] {
        [
            Builtin("uri.parse", arity: 1) { a, _ in
                let s = try a.string(0)
                let parts: URIParts
                do { parts = try URIParts.parse(s) } catch let e as URIParts.ParseError {
                    throw BuiltinError.failure("parse \(Value.string(s).regoQuoted): \(e.message)")
                }
                return .object(parts.object)
            },
            Builtin("uri.is_valid", arity: 1) { a, _ in
                guard case .string(let s) = a[0], !s.isEmpty else { return .false }
                return .bool((try? URIParts.parse(s)) != nil)
            },
            Builtin("strings.split_n", arity: 3) { a, _ in
                let s = try a.string(0), sep = try a.string(1), n = try a.int(2)
                let parts: [String] = sep.isEmpty ? s.unicodeScalars.map { String($0) } : splitString(s, sep)
                if n == 0 { return .array([]) }
                let picked = n > 0 ? Array(parts.prefix(n)) : Array(parts.suffix(-n))
                return .array(picked.map { .string($0) })
            },
        ]
    }
}

struct URIParts {
    struct ParseError: Error { let message: String }

    var scheme = "", hostname = "", port = "", path = "", rawPath = "", rawQuery = "", fragment = ""

    var object: RegoObject {
        var o = RegoObject()
        for (k, v) in [("scheme", scheme), ("hostname", hostname), ("port", port), ("path", path), ("raw_path", rawPath), ("raw_query", rawQuery), ("fragment", fragment)] where !v.isEmpty {
            o[k] = .string(v)
        }
        return o
    }

    static func parse(_ input: String) throws(ParseError) -> URIParts {
        var u = URIParts()
        if input.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw ParseError(message: "net/url: invalid control character in URL") }
        var rest = Substring(input)
        if let hash = rest.firstIndex(of: "#") {
            u.fragment = try unescape(String(rest[rest.index(after: hash)...]))
            rest = rest[..<hash]
        }
        // Scheme: a letter, then letters, digits, '+', '-', '.', up to ':'.
        if let colon = rest.firstIndex(of: ":"), let first = rest.first, first.isASCII, first.isLetter {
            let candidate = rest[..<colon]
            if candidate.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == ".") }) {
                u.scheme = candidate.lowercased()
                rest = rest[rest.index(after: colon)...]
            }
        } else if rest.first == ":" {
            throw ParseError(message: "missing protocol scheme")
        }
        if let q = rest.firstIndex(of: "?") {
            u.rawQuery = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        if !u.scheme.isEmpty && !rest.hasPrefix("/") {
            return u  // opaque, as in mailto:user@example.com
        }
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            let end = rest.firstIndex(of: "/") ?? rest.endIndex
            try u.parseAuthority(String(rest[..<end]))
            rest = rest[end...]
        }
        let raw = String(rest)
        u.path = try unescape(raw)
        u.rawPath = escapePath(u.path) == raw ? u.path : raw
        return u
    }

    mutating func parseAuthority(_ authority: String) throws(ParseError) {
        var host = Substring(authority)
        if let at = host.lastIndex(of: "@") {
            let userinfo = host[..<at]
            let allowed = Set("-._~!$&'()*+,;=:%".unicodeScalars)
            if !userinfo.unicodeScalars.allSatisfy({ ($0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil)) || allowed.contains($0) }) {
                throw ParseError(message: "net/url: invalid userinfo")
            }
            host = host[host.index(after: at)...]
        }
        var portPart: Substring = ""
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw ParseError(message: "missing ']' in host") }
            portPart = host[host.index(after: close)...]
            hostname = String(host[host.index(after: host.startIndex)..<close])
            if !portPart.isEmpty && !portPart.hasPrefix(":") { throw ParseError(message: "invalid port \(Value.string(String(portPart)).regoQuoted) after host") }
        } else if let colon = host.lastIndex(of: ":") {
            portPart = host[colon...]
            hostname = String(host[..<colon])
        } else {
            hostname = String(host)
        }
        if !portPart.isEmpty {
            let digits = portPart.dropFirst()
            if !digits.unicodeScalars.allSatisfy({ $0.value >= 48 && $0.value <= 57 }) {
                throw ParseError(message: "invalid port \(Value.string(String(portPart)).regoQuoted) after host")
            }
            port = String(digits)
        }
        // Percent-escapes in a host may only stand for non-ASCII bytes.
        let bytes = Array(hostname.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                let code = i + 2 < bytes.count ? UInt8(String(decoding: bytes[i + 1...i + 2], as: UTF8.self), radix: 16) : nil
                if code == nil || code! < 0x80 {
                    throw ParseError(message: "invalid URL escape \(Value.string(String(decoding: bytes[i..<min(i + 3, bytes.count)], as: UTF8.self)).regoQuoted)")
                }
                i += 3
            } else {
                i += 1
            }
        }
        hostname = (try? URIParts.unescape(hostname)) ?? hostname
    }

    static func unescape(_ s: String) throws(ParseError) -> String {
        if let decoded = PercentEncoding.decode(s, plusIsSpace: false) { return decoded }
        // Name the first malformed escape, as Go does.
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%") {
                if i + 2 >= b.count || UInt8(String(decoding: b[i + 1...i + 2], as: UTF8.self), radix: 16) == nil {
                    throw ParseError(message: "invalid URL escape \(Value.string(String(decoding: b[i..<min(i + 3, b.count)], as: UTF8.self)).regoQuoted)")
                }
                i += 3
            } else {
                i += 1
            }
        }
        throw ParseError(message: "invalid URL escape")
    }

    /// Go's escape(s, encodePath).
    static func escapePath(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let keep = (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || "-_.~$&+,/:;=@".utf8.contains(b)
            if keep {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let h = String(b, radix: 16, uppercase: true)
                out += "%" + (h.count == 1 ? "0" + h : h)
            }
        }
        return out
    }
}
