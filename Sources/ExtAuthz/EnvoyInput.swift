public import Rego

/// OPA-Envoy's input document: field names and encodings are protojson's, as OPA-Envoy's
/// (camelCase names, int64 as strings, bytes as base64, defaults omitted), built directly
/// as Rego values while the CheckRequest's bytes are read (`EnvoyInput.parse`, in
/// CheckRequestReader.swift), plus `parsed_path`, `parsed_query`, `parsed_body`,
/// `truncated_body` and `version`.
public enum EnvoyInput {
    public static let version: Value = .object(RegoObject(fields: ["ext_authz": .string("v3"), "encoding": .string("protojson")]))

    // MARK: - Parsed path, query and body

    /// The path and the query of a request path, without its fragment. Splits on ASCII
    /// bytes, so the pieces are valid substrings.
    static func splitPathAndQuery(_ raw: String) -> (Substring, Substring) {
        let all = Substring(raw)
        let noFragment = all.utf8.firstIndex(of: UInt8(ascii: "#")).map { all[..<$0] } ?? all
        if let q = noFragment.utf8.firstIndex(of: UInt8(ascii: "?")) {
            return (noFragment[..<q], noFragment[noFragment.utf8.index(after: q)...])
        }
        return (noFragment, "")
    }

    /// OPA-Envoy's parsed_path: the decoded path without its leading slashes, split on "/".
    public static func parsedPath(_ path: Substring) -> [String] {
        let utf8 = path.utf8
        let slash = UInt8(ascii: "/"), percent = UInt8(ascii: "%")
        var i = utf8.startIndex
        while i < utf8.endIndex && utf8[i] == slash { i = utf8.index(after: i) }
        var segments: [String] = []
        var start = i
        var escaped = false
        while true {
            if i == utf8.endIndex || utf8[i] == slash {
                // Only a segment with a `%` needs unescaping; the rest is copied as it is.
                let segment = path[start..<i]
                segments.append(escaped ? PercentEncoding.decode(segment, plusIsSpace: false) ?? String(segment) : String(segment))
                if i == utf8.endIndex { return segments }
                i = utf8.index(after: i)
                start = i
                escaped = false
                continue
            }
            if utf8[i] == percent { escaped = true }
            i = utf8.index(after: i)
        }
    }

    /// url.ParseQuery: every key maps to the list of its values.
    public static func parsedQuery(_ query: Substring) -> Value {
        var obj = RegoObject()
        for (key, value) in PercentEncoding.parseQuery(query) {
            if case .array(var vs)? = obj[key] { vs.append(.string(value)); obj[key] = .array(vs) } else { obj[key] = .array([.string(value)]) }
        }
        return .object(obj)
    }

    /// JSON and form bodies become `parsed_body`; a body Envoy cut short (shorter than its
    /// content-length) is reported as truncated and not parsed.
    static func parseBody(body bodyBytes: [UInt8], headers: RegoObject) -> (Value?, Bool) {
        if bodyBytes.isEmpty { return (nil, false) }
        func header(_ name: String) -> String? {
            if case .string(let s)? = headers[.string(name)] { return s }
            return nil
        }
        if let lengthText = header("content-length"), let length = Int(lengthText), length > bodyBytes.count {
            return (nil, true)
        }
        let contentType = (header("content-type") ?? "").lowercased()
        if contentType.hasPrefix("application/json") || contentType.hasSuffix("+json") {
            return ((try? Value.parseJSON(bytes: bodyBytes)), false)
        }
        if contentType.hasPrefix("application/x-www-form-urlencoded") {
            return (parsedQuery(Substring(String(decoding: bodyBytes, as: UTF8.self))), false)
        }
        return (nil, false)
    }
}
