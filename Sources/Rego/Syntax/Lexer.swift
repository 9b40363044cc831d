/// Splits Rego source into tokens. Keywords come out as identifiers: Rego lets most of them
/// stand as reference fields (`input.if`, `as.foo := 1`), so the parser decides by context.
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case ident
        case string        // text holds the decoded value
        case rawString     // `...`, text holds the value
        case number        // text holds the literal
        case template      // $"..." or $`...`, parts hold the pieces
        case punct         // text holds the operator or bracket
        case eof
    }

    let kind: Kind
    let text: String
    let location: Location
    /// True when a line break separates this token from the previous one: in a body a new
    /// line ends an expression.
    let newlineBefore: Bool
    var parts: [TemplatePart] = []

    func isPunct(_ p: String) -> Bool { kind == .punct && text == p }
    func isIdent(_ s: String) -> Bool { kind == .ident && text == s }
}

enum TemplatePart: Sendable {
    case text(String)
    case expression([Token])
}

struct Lexer {
    let bytes: [UInt8]
    let fileID: Int32
    var pos = 0
    var row = 1
    var lineStart = 0
    var sawNewline = false

    init(source: Source) {
        self.bytes = Array(source.text.utf8)
        self.fileID = SourceFileNames.id(source.name)
    }

    var location: Location { Location(fileID: fileID, row: row, col: pos - lineStart + 1) }

    func error(_ message: String, at loc: Location? = nil) -> RegoError {
        RegoError(.parse, message, at: loc ?? location)
    }

    static func tokenize(_ source: Source) throws(RegoError) -> [Token] {
        var lexer = Lexer(source: source)
        var tokens: [Token] = []
        while true {
            let t = try lexer.next()
            tokens.append(t)
            if t.kind == .eof { return tokens }
        }
    }

    mutating func skipSpaceAndComments() {
        while pos < bytes.count {
            let b = bytes[pos]
            if b == 0x0A {
                pos += 1; row += 1; lineStart = pos; sawNewline = true
            } else if b == 0x20 || b == 0x09 || b == 0x0D {
                pos += 1
            } else if b == UInt8(ascii: "#") {
                while pos < bytes.count, bytes[pos] != 0x0A { pos += 1 }
            } else {
                return
            }
        }
    }

    static func isIdentStart(_ b: UInt8) -> Bool {
        (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == UInt8(ascii: "_")
    }

    static func isIdentChar(_ b: UInt8) -> Bool { isIdentStart(b) || (b >= 48 && b <= 57) }

    mutating func next() throws(RegoError) -> Token {
        skipSpaceAndComments()
        let nl = sawNewline
        sawNewline = false
        let loc = location
        guard pos < bytes.count else { return Token(kind: .eof, text: "", location: loc, newlineBefore: true) }
        let b = bytes[pos]

        if Lexer.isIdentStart(b) {
            let start = pos
            while pos < bytes.count, Lexer.isIdentChar(bytes[pos]) { pos += 1 }
            return Token(kind: .ident, text: String(decoding: bytes[start..<pos], as: UTF8.self), location: loc, newlineBefore: nl)
        }
        if b >= 48 && b <= 57 {
            return Token(kind: .number, text: try lexNumber(), location: loc, newlineBefore: nl)
        }
        if b == UInt8(ascii: "\"") {
            pos += 1
            let s = try lexQuotedString(loc)
            return Token(kind: .string, text: s, location: loc, newlineBefore: nl)
        }
        if b == UInt8(ascii: "`") {
            pos += 1
            let start = pos
            while pos < bytes.count, bytes[pos] != UInt8(ascii: "`") {
                if bytes[pos] == 0x0A { row += 1; lineStart = pos + 1 }
                pos += 1
            }
            guard pos < bytes.count else { throw error("non-terminated raw string", at: loc) }
            let s = String(decoding: bytes[start..<pos], as: UTF8.self)
            pos += 1
            return Token(kind: .rawString, text: s, location: loc, newlineBefore: nl)
        }
        if b == UInt8(ascii: "$"), pos + 1 < bytes.count, bytes[pos + 1] == UInt8(ascii: "\"") || bytes[pos + 1] == UInt8(ascii: "`") {
            let raw = bytes[pos + 1] == UInt8(ascii: "`")
            pos += 2
            var t = Token(kind: .template, text: "", location: loc, newlineBefore: nl)
            t.parts = try lexTemplate(raw: raw, loc)
            return t
        }
        // Operators, longest first.
        let two = pos + 1 < bytes.count ? String(decoding: bytes[pos...pos + 1], as: UTF8.self) : ""
        if [":=", "==", "!=", "<=", ">="].contains(two) {
            pos += 2
            return Token(kind: .punct, text: two, location: loc, newlineBefore: nl)
        }
        let singles: Set<UInt8> = Set("{}[]().,;:=<>+-*/%&|!".utf8)
        if singles.contains(b) {
            pos += 1
            return Token(kind: .punct, text: String(Character(Unicode.Scalar(b))), location: loc, newlineBefore: nl)
        }
        let scalar = String(decoding: bytes[pos..<min(bytes.count, pos + 4)], as: UTF8.self).first.map(String.init) ?? "?"
        throw error("illegal token '\(scalar)'", at: loc)
    }

    mutating func lexNumber() throws(RegoError) -> String {
        let start = pos
        while pos < bytes.count, bytes[pos] >= 48, bytes[pos] <= 57 { pos += 1 }
        if pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "."), bytes[pos + 1] >= 48, bytes[pos + 1] <= 57 {
            pos += 1
            while pos < bytes.count, bytes[pos] >= 48, bytes[pos] <= 57 { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            var p = pos + 1
            if p < bytes.count, bytes[p] == UInt8(ascii: "+") || bytes[p] == UInt8(ascii: "-") { p += 1 }
            if p < bytes.count, bytes[p] >= 48, bytes[p] <= 57 {
                pos = p
                while pos < bytes.count, bytes[pos] >= 48, bytes[pos] <= 57 { pos += 1 }
            }
        }
        if pos < bytes.count, Lexer.isIdentStart(bytes[pos]) {
            throw error("illegal number format")
        }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    /// Decodes a double-quoted string body (the opening quote already consumed).
    mutating func lexQuotedString(_ loc: Location, stopAtBrace: Bool = false) throws(RegoError) -> String {
        var out: [UInt8] = []
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") { pos += 1; return String(decoding: out, as: UTF8.self) }
            if c == 0x0A { throw error("non-terminated string", at: loc) }
            if c == UInt8(ascii: "\\") {
                pos += 1
                guard pos < bytes.count else { break }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard pos + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[pos..<pos + 4], as: UTF8.self), radix: 16) else {
                        throw error("invalid unicode escape in string", at: loc)
                    }
                    pos += 4
                    var code = v
                    if v >= 0xD800 && v < 0xDC00, pos + 6 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u"),
                       let low = UInt32(String(decoding: bytes[pos + 2..<pos + 6], as: UTF8.self), radix: 16), low >= 0xDC00, low < 0xE000 {
                        code = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                        pos += 6
                    }
                    out.append(contentsOf: Array(String(Unicode.Scalar(code) ?? "\u{FFFD}").utf8))
                default:
                    throw error("invalid escape sequence in string", at: loc)
                }
                continue
            }
            out.append(c)
            pos += 1
        }
        throw error("non-terminated string", at: loc)
    }

    /// A template string: text pieces and `{expression}` pieces, each expression lexed into
    /// its own token list. `\{` is a literal brace.
    mutating func lexTemplate(raw: Bool, _ loc: Location) throws(RegoError) -> [TemplatePart] {
        var parts: [TemplatePart] = []
        var text: [UInt8] = []
        let close = raw ? UInt8(ascii: "`") : UInt8(ascii: "\"")
        while pos < bytes.count {
            let c = bytes[pos]
            if c == close {
                pos += 1
                if !text.isEmpty { parts.append(.text(String(decoding: text, as: UTF8.self))) }
                return parts
            }
            if c == 0x0A {
                if !raw { throw error("non-terminated string", at: loc) }
                row += 1; lineStart = pos + 1
            }
            if c == UInt8(ascii: "\\") && pos + 1 < bytes.count && bytes[pos + 1] == UInt8(ascii: "{") {
                text.append(UInt8(ascii: "{"))
                pos += 2
                continue
            }
            if c == UInt8(ascii: "\\") && !raw {
                pos += 1
                guard pos < bytes.count else { break }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): text.append(0x22)
                case UInt8(ascii: "\\"): text.append(0x5C)
                case UInt8(ascii: "/"): text.append(0x2F)
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0C)
                case UInt8(ascii: "}"): text.append(UInt8(ascii: "}"))
                default: throw error("invalid escape sequence in template string", at: loc)
                }
                continue
            }
            if c == UInt8(ascii: "{") {
                if !text.isEmpty { parts.append(.text(String(decoding: text, as: UTF8.self))); text.removeAll() }
                pos += 1
                var tokens: [Token] = []
                var depth = 0
                while true {
                    let t = try next()
                    if t.kind == .eof { throw error("non-terminated template expression", at: loc) }
                    if t.isPunct("{") { depth += 1 }
                    if t.isPunct("}") {
                        if depth == 0 { break }
                        depth -= 1
                    }
                    tokens.append(t)
                }
                tokens.append(Token(kind: .eof, text: "", location: location, newlineBefore: true))
                parts.append(.expression(tokens))
                continue
            }
            text.append(c)
            pos += 1
        }
        throw error("non-terminated template string", at: loc)
    }
}
