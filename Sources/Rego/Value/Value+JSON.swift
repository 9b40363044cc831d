/// JSON in and out of `Value`, written for Rego's needs: numbers stay exact, duplicate keys
/// can be refused (a token with two `exp` claims must not pass), nesting is bounded.
public struct JSONError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at offset \(offset)" }
}

extension Value {
    /// Parses one JSON document. `rejectDuplicateKeys` makes a repeated object key an error
    /// (otherwise the last one wins, as Go's encoding/json does).
    public static func parseJSON(_ text: String, rejectDuplicateKeys: Bool = false, maxDepth: Int = 512) throws(JSONError) -> Value {
        var parser = JSONParser(bytes: Array(text.utf8), rejectDuplicateKeys: rejectDuplicateKeys, maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    public static func parseJSON(bytes: [UInt8], rejectDuplicateKeys: Bool = false, maxDepth: Int = 512) throws(JSONError) -> Value {
        var parser = JSONParser(bytes: bytes, rejectDuplicateKeys: rejectDuplicateKeys, maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    /// Compact JSON, as OPA's `json.marshal` writes it: sets become sorted arrays, object
    /// keys that are not strings become their JSON text.
    /// Compact JSON, as Go's encoding/json writes it. Written into bytes: this runs for
    /// every decision-log record, so it avoids String's per-append bookkeeping.
    public func jsonString() -> String {
        var writer = CompactJSONWriter()
        writer.write(self)
        return writer.text
    }

    public func prettyJSON(indent: Int = 2) -> String {
        var out = ""
        writeJSON(into: &out, indent: indent, level: 0)
        return out
    }

    func writeJSON(into out: inout String, indent: Int?, level: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n.description
        case .string(let s): Value.writeJSONString(s, into: &out)
        case .array(let a): Value.writeJSONArray(a, into: &out, indent: indent, level: level)
        case .set(let s): Value.writeJSONArray(s.elements, into: &out, indent: indent, level: level)
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            // Keys are printed as strings; non-string keys as their JSON text, re-sorted
            // by that text the way Go's encoding/json sorts map keys.
            var pairs: [(String, Value)] = o.entries.map { e in
                if case .string(let s) = e.key { return (s, e.value) }
                return (e.key.jsonString(), e.value)
            }
            if o.entries.contains(where: { if case .string = $0.key { return false } else { return true } }) {
                pairs.sort { Value.utf8Precedes($0.0, $1.0) }
            }
            out += "{"
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out += "," }
                if let indent { out += "\n"; out += String(repeating: " ", count: indent * (level + 1)) }
                Value.writeJSONString(k, into: &out)
                out += indent == nil ? ":" : ": "
                v.writeJSON(into: &out, indent: indent, level: level + 1)
            }
            if let indent { out += "\n"; out += String(repeating: " ", count: indent * level) }
            out += "}"
        }
    }

    static func writeJSONArray(_ a: [Value], into out: inout String, indent: Int?, level: Int) {
        if a.isEmpty { out += "[]"; return }
        out += "["
        for (i, v) in a.enumerated() {
            if i > 0 { out += "," }
            if let indent { out += "\n"; out += String(repeating: " ", count: indent * (level + 1)) }
            v.writeJSON(into: &out, indent: indent, level: level + 1)
        }
        if let indent { out += "\n"; out += String(repeating: " ", count: indent * level) }
        out += "]"
    }

    /// Go's encoding/json string escaping (including its HTML-safe escapes of <, >, &).
    static func writeJSONString(_ s: String, into out: inout String) {
        out += "\""
        var needsEscape = false
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5C || b == 0x3C || b == 0x3E || b == 0x26 {
            needsEscape = true
            break
        }
        if !needsEscape {
            for u in s.unicodeScalars where u.value == 0x2028 || u.value == 0x2029 { needsEscape = true; break }
        }
        if !needsEscape { out += s; out += "\""; return }
        for u in s.unicodeScalars {
            switch u.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x3C: out += "\\u003c"
            case 0x3E: out += "\\u003e"
            case 0x26: out += "\\u0026"
            case 0x2028: out += "\\u2028"
            case 0x2029: out += "\\u2029"
            case 0..<0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}

/// The compact form of `Value.writeJSON` (same output), into a byte buffer. Also writes
/// objects field by field (`field`), for callers that build a record without first building
/// a `Value`, and can leave out members (`write(_:omitting:)`).
public struct CompactJSONWriter {
    /// The bytes written so far. A class, so appends are a capacity check and a store
    /// (an Array checks uniqueness on every append); copies of a writer share it.
    let out: JSONBytes
    var fieldCount: [Int] = []

    public init(capacity: Int = 512) { out = JSONBytes(capacity: capacity) }

    public var text: String { out.withBytes { String(decoding: $0, as: UTF8.self) } }
    public var bytes: [UInt8] { out.withBytes { Array($0) } }

    /// The bytes written so far, without copying them.
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R { try out.withBytes(body) }

    /// Appends `text` as it is: text the caller has already made (JSON, or a line's prefix).
    public mutating func writeRaw(_ text: String) {
        var text = text
        text.withUTF8 { out.append(contentsOf: $0) }
    }

    public mutating func beginObject() {
        out.append(UInt8(ascii: "{"))
        fieldCount.append(0)
    }

    public mutating func endObject() {
        out.append(UInt8(ascii: "}"))
        fieldCount.removeLast()
    }

    /// Starts a member of the current object: `"name":`. Callers give names in sorted
    /// order to match `Value.jsonString`. The name is written in the source (a record's own
    /// member names) and must need no escaping: it is copied as it is.
    public mutating func field(_ name: StaticString) {
        if fieldCount[fieldCount.count - 1] > 0 { out.append(UInt8(ascii: ",")) }
        fieldCount[fieldCount.count - 1] += 1
        out.append(0x22)
        append(name)
        append("\":")
    }

    /// `value` without the members `omissions` names. The top-level member `written` names is
    /// not serialized again: its JSON text is given (it must be what `write` would produce for
    /// the member), unless something under it is to be omitted. Leaving out `value` itself
    /// (`omissions.whole`) is the caller's to do: this writes it.
    public mutating func write(_ value: Value, omitting omissions: JSONOmissions, written: (member: String, json: String)? = nil) {
        if omissions.members.isEmpty && written == nil { return write(value) }
        switch value {
        case .object(let o) where !o.entries.contains(where: { if case .string = $0.key { return false } else { return true } }):
            out.append(UInt8(ascii: "{"))
            var first = true
            for e in o.entries {
                guard case .string(let k) = e.key else { continue }
                let below = omissions.under(k)
                if below?.whole == true { continue }
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(k)
                out.append(UInt8(ascii: ":"))
                if let below {
                    write(e.value, omitting: below)
                } else if let written, written.member == k {
                    writeRaw(written.json)
                } else {
                    write(e.value)
                }
            }
            out.append(UInt8(ascii: "}"))
        case .array(let a):
            out.append(UInt8(ascii: "["))
            var first = true
            for (i, v) in a.enumerated() {
                let below = omissions.under(String(i))
                if below?.whole == true { continue }
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                if let below { write(v, omitting: below) } else { write(v) }
            }
            out.append(UInt8(ascii: "]"))
        default:
            write(value)
        }
    }

    mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    public mutating func write(_ v: Value) {
        switch v {
        case .null: append("null")
        case .bool(let b): if b { append("true") } else { append("false") }
        case .number(.int(let i)): writeInt(i)
        case .number(let n): out.append(contentsOf: n.description.utf8)
        case .string(let s): writeString(s)
        case .array(let a): writeArray(a)
        case .set(let s): writeArray(s.elements)
        case .object(let o):
            if o.isEmpty { append("{}"); return }
            if o.entries.contains(where: { if case .string = $0.key { return false } else { return true } }) {
                // Non-string keys print as their JSON text, re-sorted by it as Go sorts map keys.
                var pairs: [(String, Value)] = o.entries.map { e in
                    if case .string(let s) = e.key { return (s, e.value) }
                    return (e.key.jsonString(), e.value)
                }
                pairs.sort { Value.utf8Precedes($0.0, $1.0) }
                out.append(UInt8(ascii: "{"))
                for (i, (k, value)) in pairs.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    writeString(k)
                    out.append(UInt8(ascii: ":"))
                    write(value)
                }
                out.append(UInt8(ascii: "}"))
                return
            }
            out.append(UInt8(ascii: "{"))
            var first = true
            for e in o.entries {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                if case .string(let k) = e.key { writeString(k) }
                out.append(UInt8(ascii: ":"))
                write(e.value)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Bytes that may need escaping: controls, `"`, `\\`, `<`, `>`, `&`, and the lead byte
    /// of U+2028/U+2029.
    @inline(__always)
    static func mayEscape(_ b: UInt8) -> Bool {
        if b < 0x40 { return (escapedBelow0x40 >> UInt64(b)) & 1 != 0 }
        return b == 0x5C || b == 0xE2
    }

    /// The index of the first byte at or after `start` that may need escaping, or the count.
    /// Runs of bytes that print as themselves are skipped eight at a time: a word holds none
    /// of them when it has no byte below 0x20 and, tested as zero bytes after an exclusive
    /// or, no `"` or `&` (`b | 4 == 0x26`), `<` or `>` (`b | 2 == 0x3E`), `\\` or 0xE2.
    /// The rest, and the word that holds one, go byte by byte with the mask test.
    @inline(__always)
    static func firstMayEscape(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var i = start
        let n = bytes.count
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= n {
                let w = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                if hasByteBelow0x20(w) | hasZeroByte((w | 0x0404_0404_0404_0404) ^ 0x2626_2626_2626_2626)
                    | hasZeroByte((w | 0x0202_0202_0202_0202) ^ 0x3E3E_3E3E_3E3E_3E3E)
                    | hasZeroByte(w ^ 0x5C5C_5C5C_5C5C_5C5C) | hasZeroByte(w ^ 0xE2E2_E2E2_E2E2_E2E2) != 0 { break }
                i += 8
            }
        }
        while i < n && !mayEscape(bytes[i]) { i += 1 }
        return i
    }

    /// Non-zero when a byte of `w` is zero (the high bit of each byte, borrows aside: exact
    /// for whether there is one).
    @inline(__always)
    static func hasZeroByte(_ w: UInt64) -> UInt64 { (w &- 0x0101_0101_0101_0101) & ~w & 0x8080_8080_8080_8080 }

    /// Non-zero when a byte of `w` is below 0x20.
    @inline(__always)
    static func hasByteBelow0x20(_ w: UInt64) -> UInt64 { (w &- 0x2020_2020_2020_2020) & ~w & 0x8080_8080_8080_8080 }

    /// One bit per byte value below 0x40: the controls, `"`, `&`, `<` and `>`.
    static let escapedBelow0x40: UInt64 = 0xFFFF_FFFF | 1 << 0x22 | 1 << 0x26 | 1 << 0x3C | 1 << 0x3E

    /// An integer's decimal digits, without making a String of them.
    public mutating func writeInt(_ i: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: 20 digits and a sign
        withUnsafeMutableBytes(of: &digits) { buffer in
            var magnitude = i.magnitude
            var at = buffer.count
            repeat {
                at -= 1
                buffer[at] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if i < 0 {
                at -= 1
                buffer[at] = UInt8(ascii: "-")
            }
            let text = UnsafeRawBufferPointer(rebasing: buffer[at...]).assumingMemoryBound(to: UInt8.self)
            out.append(contentsOf: text)
        }
    }

    mutating func writeArray(_ a: [Value]) {
        out.append(UInt8(ascii: "["))
        for (i, v) in a.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            write(v)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// Go's escaping: quotes, backslashes, control characters, the HTML-sensitive <, >, &
    /// and the line separators U+2028/U+2029.
    public mutating func writeString(_ s: String) {
        out.append(0x22)
        var s = s
        s.withUTF8 { bytes in
            var start = 0, i = 0
            let n = bytes.count
            while i < n {
                i = CompactJSONWriter.firstMayEscape(bytes, from: i)
                if i == n { break }
                let b = bytes[i]
                let width: Int
                switch b {
                case 0x22: width = 1
                case 0x5C: width = 1
                case 0x3C, 0x3E, 0x26: width = 1
                case 0..<0x20: width = 1
                case 0xE2 where i + 2 < n && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9): width = 3
                default:
                    i += 1
                    continue
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                switch b {
                case 0x22: append("\\\"")
                case 0x5C: append("\\\\")
                case 0x0A: append("\\n")
                case 0x0D: append("\\r")
                case 0x09: append("\\t")
                case 0x3C: append("\\u003c")
                case 0x3E: append("\\u003e")
                case 0x26: append("\\u0026")
                case 0xE2: if bytes[i + 2] == 0xA8 { append("\\u2028") } else { append("\\u2029") }
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    append("\\u00")
                    out.append(hex[Int(b >> 4)])
                    out.append(hex[Int(b & 0xF)])
                }
                i += width
                start = i
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<n]))
        }
        out.append(0x22)
    }
}

/// Members to leave out of a written document (`CompactJSONWriter.write(_:omitting:)`): a
/// tree of object keys, array indexes as their decimal text, made once from key paths and
/// walked beside the document, so writing allocates nothing for it.
public struct JSONOmissions: Sendable, Equatable {
    /// The member this node stands for is left out entirely.
    public private(set) var whole = false
    /// Members below this one that are left out, or hold something that is. Few (a handful
    /// of masked headers), so found by a linear scan.
    fileprivate var members: [(key: String, node: JSONOmissions)] = []

    public init() {}

    /// Omissions of the members at `paths`, each a list of keys from the top of the document.
    public init<Paths: Sequence>(_ paths: Paths) where Paths.Element: Collection, Paths.Element.Element == String {
        for path in paths { add(path[...]) }
    }

    public var isEmpty: Bool { !whole && members.isEmpty }

    /// These omissions and those at `paths`.
    public func adding<Paths: Sequence>(_ paths: Paths) -> JSONOmissions where Paths.Element: Collection, Paths.Element.Element == String {
        var copy = self
        for path in paths { copy.add(path[...]) }
        return copy
    }

    /// Keeps the tree canonical: a member left out whole has nothing recorded below it.
    private mutating func add<Path: Collection>(_ path: Path) where Path.Element == String {
        if whole { return }
        guard let key = path.first else {
            whole = true
            members = []
            return
        }
        if let i = members.firstIndex(where: { $0.key == key }) {
            members[i].node.add(path.dropFirst())
        } else {
            var node = JSONOmissions()
            node.add(path.dropFirst())
            members.append((key, node))
        }
    }

    /// The omissions under member `key`, nil when nothing under it is left out.
    @inline(__always)
    func under(_ key: String) -> JSONOmissions? {
        for entry in members where entry.key == key { return entry.node }
        return nil
    }

    public static func == (a: JSONOmissions, b: JSONOmissions) -> Bool {
        a.whole == b.whole && a.members.count == b.members.count
            && a.members.allSatisfy { entry in b.under(entry.key) == entry.node }
    }
}

struct JSONParser {
    let bytes: [UInt8]
    let rejectDuplicateKeys: Bool
    let maxDepth: Int
    var pos = 0
    var depth = 0

    init(bytes: [UInt8], rejectDuplicateKeys: Bool, maxDepth: Int) {
        self.bytes = bytes
        self.rejectDuplicateKeys = rejectDuplicateKeys
        self.maxDepth = maxDepth
    }

    func fail(_ message: String) -> JSONError { JSONError(message: message, offset: pos) }

    mutating func parseDocument() throws(JSONError) -> Value {
        // Skip a UTF-8 byte order mark.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { pos = 3 }
        skipSpace()
        let v = try parseValue()
        skipSpace()
        if pos != bytes.count { throw fail("unexpected data after the JSON value") }
        return v
    }

    mutating func skipSpace() {
        while pos < bytes.count {
            let b = bytes[pos]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { pos += 1 } else { break }
        }
    }

    mutating func parseValue() throws(JSONError) -> Value {
        guard pos < bytes.count else { throw fail("unexpected end of JSON input") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("invalid character '\(Character(Unicode.Scalar(bytes[pos])))' looking for beginning of value")
        }
    }

    mutating func expectWord(_ w: String) throws(JSONError) {
        let word = Array(w.utf8)
        guard pos + word.count <= bytes.count else { throw fail("unexpected end of JSON input") }
        for i in 0..<word.count where bytes[pos + i] != word[i] { throw fail("invalid literal") }
        pos += word.count
    }

    mutating func parseNumber() throws(JSONError) -> Number {
        let start = pos
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count, bytes[pos] >= 48, bytes[pos] <= 57 else { throw fail("invalid number") }
        if bytes[pos] == 48 { pos += 1 } else { while pos < bytes.count, bytes[pos] >= 48, bytes[pos] <= 57 { pos += 1 } }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            guard pos < bytes.count, bytes[pos] >= 48, bytes[pos] <= 57 else { throw fail("invalid number") }
            while pos < bytes.count, bytes[pos] >= 48, bytes[pos] <= 57 { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, bytes[pos] >= 48, bytes[pos] <= 57 else { throw fail("invalid number") }
            while pos < bytes.count, bytes[pos] >= 48, bytes[pos] <= 57 { pos += 1 }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        guard let n = Number(text: text) else { throw fail("invalid number") }
        return n
    }

    mutating func parseString() throws(JSONError) -> String {
        pos += 1  // opening quote
        let start = pos
        // Fast path: no escapes.
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: bytes[start..<pos], as: UTF8.self)
                pos += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw fail("invalid control character in string literal") }
            pos += 1
        }
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: String(decoding: bytes[start..<pos], as: UTF8.self).unicodeScalars)
        var raw: [UInt8] = []
        func flush() {
            if !raw.isEmpty { scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars); raw.removeAll() }
        }
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") { pos += 1; flush(); return String(scalars) }
            if b < 0x20 { throw fail("invalid control character in string literal") }
            if b != UInt8(ascii: "\\") { raw.append(b); pos += 1; continue }
            flush()
            pos += 1
            guard pos < bytes.count else { break }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if code >= 0xD800 && code < 0xDC00 {
                    // A surrogate pair, or a lone surrogate that becomes U+FFFD.
                    if pos + 6 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                        let save = pos
                        pos += 2
                        let low = try parseHex4()
                        if low >= 0xDC00 && low < 0xE000 {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            pos = save
                            code = 0xFFFD
                        }
                    } else {
                        code = 0xFFFD
                    }
                } else if code >= 0xDC00 && code < 0xE000 {
                    code = 0xFFFD
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                throw fail("invalid escape character in string")
            }
        }
        throw fail("unexpected end of JSON input")
    }

    mutating func parseHex4() throws(JSONError) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let d: UInt32
            switch b {
            case 48...57: d = UInt32(b - 48)
            case 65...70: d = UInt32(b - 55)
            case 97...102: d = UInt32(b - 87)
            default: throw fail("invalid \\u escape")
            }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    mutating func enter() throws(JSONError) {
        depth += 1
        if depth > maxDepth { throw fail("JSON nested too deeply (limit \(maxDepth))") }
    }

    mutating func parseArray() throws(JSONError) -> Value {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var items: [Value] = []
        skipSpace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try parseValue())
            skipSpace()
            guard pos < bytes.count else { throw fail("unexpected end of JSON input") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            throw fail("expected ',' or ']' in array")
        }
    }

    mutating func parseObject() throws(JSONError) -> Value {
        try enter()
        defer { depth -= 1 }
        pos += 1
        var pairs: [(Value, Value)] = []
        skipSpace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(RegoObject()) }
        while true {
            skipSpace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a string object key") }
            let keyStart = pos
            let key = try parseString()
            skipSpace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':' after object key") }
            pos += 1
            skipSpace()
            let v = try parseValue()
            pairs.append((.string(key), v))
            skipSpace()
            guard pos < bytes.count else { throw fail("unexpected end of JSON input") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") {
                pos += 1
                let obj = RegoObject(pairs)
                if rejectDuplicateKeys && obj.count != pairs.count {
                    pos = keyStart
                    throw fail("duplicate key in JSON object")
                }
                return .object(obj)
            }
            throw fail("expected ',' or '}' in object")
        }
    }
}

/// A growable byte buffer for `CompactJSONWriter`.
final class JSONBytes {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(64, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inline(__always)
    private func reserve(_ extra: Int) {
        if count + extra > capacity { grow(count + extra) }
    }

    private func grow(_ needed: Int) {
        let larger = max(needed, capacity * 2)
        let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
        moved.update(from: base, count: count)
        base.deallocate()
        base = moved
        capacity = larger
    }

    @inline(__always)
    func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    func append(contentsOf bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    func append<S: Sequence>(contentsOf bytes: S) where S.Element == UInt8 {
        for b in bytes { append(b) }
    }

    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }
}
