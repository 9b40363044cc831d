public import Rego

/// OPA-Envoy's input document: field names and encodings are protojson's, as OPA-Envoy's
/// (camelCase names, int64 as strings, bytes as base64, defaults omitted), built directly
/// as Rego values while the CheckRequest's bytes are read (`EnvoyInput.parse`, in
/// CheckRequestReader.swift), plus `parsed_path`, `parsed_query`, `parsed_body`,
/// `truncated_body` and `version`.
public enum EnvoyInput {
    public static let version: Value = .object(RegoObject(fields: ["ext_authz": .string("v3"), "encoding": .string("protojson")]))

    /// The members of the input document that the reader builds: those a policy reads
    /// (`CompiledPolicy.inputReads`), all by default. Worked out once per policy, so that
    /// the Check path tests a bit per member.
    public struct Parts: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        // input.attributes.*
        static let contextExtensions = Parts(rawValue: 1 << 0)
        static let destination = Parts(rawValue: 1 << 1)
        static let metadataContext = Parts(rawValue: 1 << 2)
        static let routeMetadataContext = Parts(rawValue: 1 << 3)
        static let source = Parts(rawValue: 1 << 4)
        static let tlsSession = Parts(rawValue: 1 << 5)
        // input.attributes.request.*
        static let time = Parts(rawValue: 1 << 6)
        // input.attributes.request.http.*
        static let body = Parts(rawValue: 1 << 7)
        static let fragment = Parts(rawValue: 1 << 8)
        static let headerMap = Parts(rawValue: 1 << 9)
        static let headers = Parts(rawValue: 1 << 10)
        static let host = Parts(rawValue: 1 << 11)
        static let id = Parts(rawValue: 1 << 12)
        static let method = Parts(rawValue: 1 << 13)
        static let path = Parts(rawValue: 1 << 14)
        static let httpProtocol = Parts(rawValue: 1 << 15)
        static let query = Parts(rawValue: 1 << 16)
        static let rawBody = Parts(rawValue: 1 << 17)
        static let scheme = Parts(rawValue: 1 << 18)
        static let size = Parts(rawValue: 1 << 19)
        // input.*
        static let parsedBody = Parts(rawValue: 1 << 20)
        static let parsedPath = Parts(rawValue: 1 << 21)
        static let parsedQuery = Parts(rawValue: 1 << 22)
        static let truncatedBody = Parts(rawValue: 1 << 23)
        static let version = Parts(rawValue: 1 << 24)
        // Whether the objects holding them appear at all (an empty object is still there).
        static let attributes = Parts(rawValue: 1 << 25)
        static let request = Parts(rawValue: 1 << 26)
        static let http = Parts(rawValue: 1 << 27)

        public static let all = Parts(rawValue: (1 << 28) - 1)

        static let attributeMembers: [(String, Parts)] = [
            ("contextExtensions", .contextExtensions), ("destination", .destination), ("metadataContext", .metadataContext),
            ("routeMetadataContext", .routeMetadataContext), ("source", .source), ("tlsSession", .tlsSession),
        ]
        static let httpMembers: [(String, Parts)] = [
            ("body", .body), ("fragment", .fragment), ("headerMap", .headerMap), ("headers", .headers), ("host", .host),
            ("id", .id), ("method", .method), ("path", .path), ("protocol", .httpProtocol), ("query", .query),
            ("rawBody", .rawBody), ("scheme", .scheme), ("size", .size),
        ]
        static let documentMembers: [(String, Parts)] = [
            ("parsed_body", .parsedBody), ("parsed_path", .parsedPath), ("parsed_query", .parsedQuery),
            ("truncated_body", .truncatedBody), ("version", .version),
        ]

        /// The members `reads` reaches. A member read whole brings everything below it.
        public init(_ reads: InputReads) {
            var parts: Parts = []
            func add(_ members: [(String, Parts)], _ reads: InputReads) {
                for (name, part) in members where reads.reads(name) { parts.insert(part) }
            }
            add(Parts.documentMembers, reads)
            if let attributes = reads.member("attributes") {
                parts.insert(.attributes)
                add(Parts.attributeMembers, attributes)
                if let request = attributes.member("request") {
                    parts.insert(.request)
                    if request.reads("time") { parts.insert(.time) }
                    if let http = request.member("http") {
                        parts.insert(.http)
                        add(Parts.httpMembers, http)
                    }
                }
            }
            self = parts
        }
    }

    // MARK: - Parsed path, query and body

    /// The path and the query of a request path, without its fragment. Splits on ASCII
    /// bytes, so the pieces are valid substrings.
    static func splitPathAndQuery(_ raw: String) -> (Substring, Substring) {
        let all = Substring(raw)
        // The common case, on the bytes: no fragment, and a `?` or none.
        if let split = raw.utf8.withContiguousStorageIfAvailable({ bytes -> (Substring, Substring)? in
            guard !bytes.contains(UInt8(ascii: "#")) else { return nil }
            guard let q = bytes.firstIndex(of: UInt8(ascii: "?")) else { return (all, "") }
            let index = raw.utf8.index(raw.utf8.startIndex, offsetBy: q)
            return (all[..<index], all[raw.utf8.index(after: index)...])
        }), let split { return split }
        let noFragment = all.utf8.firstIndex(of: UInt8(ascii: "#")).map { all[..<$0] } ?? all
        if let q = noFragment.utf8.firstIndex(of: UInt8(ascii: "?")) {
            return (noFragment[..<q], noFragment[noFragment.utf8.index(after: q)...])
        }
        return (noFragment, "")
    }

    /// OPA-Envoy's parsed_path: the decoded path without its leading slashes, split on "/".
    public static func parsedPath(_ path: Substring) -> [String] {
        // Most paths have no `%`: split their bytes directly, without String indices.
        let plain = path.utf8.withContiguousStorageIfAvailable { bytes -> [String]? in
            let slash = UInt8(ascii: "/")
            var i = 0
            while i < bytes.count && bytes[i] == slash { i += 1 }
            var segments: [String] = []
            segments.reserveCapacity(4)
            var start = i
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "%"): return nil
                case slash:
                    segments.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
                    start = i + 1
                default: break
                }
                i += 1
            }
            segments.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
            return segments
        }
        if let plain = plain ?? nil { return plain }
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
