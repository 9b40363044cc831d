/// A query whose every interpolated value becomes a bind parameter (`$1`, `$2`, …), so SQL
/// injection cannot be written by accident: `"SELECT * FROM t WHERE id = \(id)"` sends
/// `id` as data, never as SQL text. Only string literals in the source become SQL.
public struct SQL: Sendable, ExpressibleByStringInterpolation {
    public private(set) var text: String
    /// Parameters in text format; nil is SQL NULL.
    public private(set) var binds: [String?]

    public init(stringLiteral value: StaticString) {
        text = value.description
        binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        text = stringInterpolation.text
        binds = stringInterpolation.binds
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var text = ""
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: StaticString) { text += literal.description }

        mutating func bind(_ value: String?) {
            binds.append(value)
            text += "$\(binds.count)"
        }

        public mutating func appendInterpolation(_ value: String) { bind(value) }
        public mutating func appendInterpolation(_ value: String?) { bind(value) }
        public mutating func appendInterpolation(_ value: Int) { bind(String(value)) }
        public mutating func appendInterpolation(_ value: Int?) { bind(value.map(String.init)) }
        public mutating func appendInterpolation(_ value: Int64) { bind(String(value)) }
        public mutating func appendInterpolation(_ value: Bool) { bind(value ? "true" : "false") }
        /// Another query's text, for shared column lists. A fragment is itself `SQL`, so it
        /// too came from literals; it must not carry bind parameters of its own.
        public mutating func appendInterpolation(sql fragment: SQL) {
            precondition(fragment.binds.isEmpty, "an SQL fragment with bind parameters cannot be spliced")
            text += fragment.text
        }
        /// A text array (`text[]`), in PostgreSQL's array literal syntax.
        public mutating func appendInterpolation(_ values: [String]) { bind(SQL.arrayLiteral(values)) }
    }

    /// `{"a","b \"c\""}`: every element quoted, quotes and backslashes escaped.
    static func arrayLiteral(_ values: [String]) -> String {
        let quoted = values.map { v -> String in
            var s = "\""
            for c in v {
                if c == "\"" || c == "\\" { s.append("\\") }
                s.append(c)
            }
            return s + "\""
        }
        return "{" + quoted.joined(separator: ",") + "}"
    }

    /// Parses a `text[]` value as PostgreSQL prints it.
    public static func parseArray(_ text: String) -> [String] {
        var out: [String] = []
        var chars = Array(text.dropFirst().dropLast())[...]
        while !chars.isEmpty {
            var item = ""
            if chars.first == "\"" {
                chars = chars.dropFirst()
                while let c = chars.first {
                    chars = chars.dropFirst()
                    if c == "\\", let next = chars.first { item.append(next); chars = chars.dropFirst(); continue }
                    if c == "\"" { break }
                    item.append(c)
                }
            } else {
                while let c = chars.first, c != "," { item.append(c); chars = chars.dropFirst() }
            }
            out.append(item)
            if chars.first == "," { chars = chars.dropFirst() }
        }
        return out
    }
}
