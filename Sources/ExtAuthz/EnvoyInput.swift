public import EnvoyProto
public import Rego
public import SwiftProtobuf

/// Builds OPA-Envoy's input document from a CheckRequest, directly as Rego values (no JSON
/// round trip). Field names and encodings are protojson's, as OPA-Envoy's: camelCase
/// names, int64 as strings, bytes as base64, defaults omitted.
public enum EnvoyInput {
    public static let version: Value = .object(RegoObject(fields: ["ext_authz": .string("v3"), "encoding": .string("protojson")]))

    /// `agent`: the verified identity and registry record, as `input.agent` (Warden's
    /// addition to OPA-Envoy's document; absent when identity checks are off).
    public static func build(_ request: Envoy_Service_Auth_V3_CheckRequest, agent: Value? = nil) -> Value {
        let attributes = request.attributes
        var attrs = Fields()
        if attributes.hasSource { attrs["source"] = peer(attributes.source) }
        if attributes.hasDestination { attrs["destination"] = peer(attributes.destination) }
        if attributes.hasRequest {
            var req = Fields()
            if attributes.request.hasTime { req["time"] = .string(rfc3339(attributes.request.time)) }
            if attributes.request.hasHTTP { req["http"] = .object(httpRequest(attributes.request.http)) }
            attrs["request"] = .object(req.object)
        }
        if !attributes.contextExtensions.isEmpty { attrs["contextExtensions"] = stringMap(attributes.contextExtensions) }
        if attributes.hasMetadataContext { attrs["metadataContext"] = metadata(attributes.metadataContext) }
        if attributes.hasRouteMetadataContext { attrs["routeMetadataContext"] = metadata(attributes.routeMetadataContext) }
        if attributes.hasTlsSession, !attributes.tlsSession.sni.isEmpty {
            attrs["tlsSession"] = .object(RegoObject(fields: ["sni": .string(attributes.tlsSession.sni)]))
        }

        var input = Fields()
        input["attributes"] = .object(attrs.object)
        let rawPath = attributes.request.http.path
        let (pathPart, query) = splitPathAndQuery(rawPath)
        input["parsed_path"] = .array(parsedPath(pathPart).map { .string($0) })
        input["parsed_query"] = parsedQuery(query)
        let (parsedBody, truncated) = parseBody(attributes.request.http)
        input["parsed_body"] = parsedBody ?? .null
        input["truncated_body"] = .bool(truncated)
        input["version"] = version
        if let agent { input["agent"] = agent }
        return .object(input.object)
    }

    // MARK: - Attributes

    static func peer(_ p: Envoy_Service_Auth_V3_AttributeContext.Peer) -> Value {
        var o = Fields()
        if p.hasAddress {
            var addr = RegoObject()
            switch p.address.address {
            case .socketAddress(let s)?:
                var sa = RegoObject()
                if !s.address.isEmpty { sa["address"] = .string(s.address) }
                switch s.portSpecifier {
                case .portValue(let port)?: sa["portValue"] = .int(Int(port))
                case .namedPort(let name)?: sa["namedPort"] = .string(name)
                case nil: break
                }
                if s.`protocol` == .udp { sa["protocol"] = .string("UDP") }
                addr["socketAddress"] = .object(sa)
            case .pipe(let pipe)?:
                var po = RegoObject(fields: ["path": .string(pipe.path)])
                if pipe.mode != 0 { po["mode"] = .int(Int(pipe.mode)) }
                addr["pipe"] = .object(po)
            case nil:
                break
            }
            o["address"] = .object(addr)
        }
        if !p.service.isEmpty { o["service"] = .string(p.service) }
        if !p.labels.isEmpty { o["labels"] = stringMap(p.labels) }
        if !p.principal.isEmpty { o["principal"] = .string(p.principal) }
        if !p.certificate.isEmpty { o["certificate"] = .string(p.certificate) }
        return .object(o.object)
    }

    static func httpRequest(_ h: Envoy_Service_Auth_V3_AttributeContext.HttpRequest) -> RegoObject {
        var o = Fields()
        if !h.id.isEmpty { o["id"] = .string(h.id) }
        if !h.method.isEmpty { o["method"] = .string(h.method) }
        if !h.headers.isEmpty { o["headers"] = stringMap(h.headers) }
        if h.hasHeaderMap {
            o["headerMap"] = .object(RegoObject(fields: ["headers": .array(h.headerMap.headers.map { hv in
                var x = RegoObject(fields: ["key": .string(hv.key)])
                if !hv.value.isEmpty { x["value"] = .string(hv.value) }
                if !hv.rawValue.isEmpty { x["rawValue"] = .string(Base64.encode(Array(hv.rawValue), url: false, pad: true)) }
                return .object(x)
            })]))
        }
        if !h.path.isEmpty { o["path"] = .string(h.path) }
        if !h.host.isEmpty { o["host"] = .string(h.host) }
        if !h.scheme.isEmpty { o["scheme"] = .string(h.scheme) }
        if !h.query.isEmpty { o["query"] = .string(h.query) }
        if !h.fragment.isEmpty { o["fragment"] = .string(h.fragment) }
        if h.size != 0 { o["size"] = .string(String(h.size)) }
        if !h.`protocol`.isEmpty { o["protocol"] = .string(h.`protocol`) }
        if !h.body.isEmpty { o["body"] = .string(h.body) }
        if !h.rawBody.isEmpty { o["rawBody"] = .string(Base64.encode(Array(h.rawBody), url: false, pad: true)) }
        return o.object
    }

    /// Collects an object's fields, then sorts once (instead of inserting in order).
    struct Fields {
        var pairs: [(String, Value)] = []
        subscript(key: String) -> Value? {
            get { nil }
            set { if let newValue { pairs.append((key, newValue)) } }
        }
        var object: RegoObject { RegoObject(stringKeys: pairs) }
    }

    static func stringMap(_ m: [String: String]) -> Value {
        .object(RegoObject(stringKeys: m.map { ($0.key, .string($0.value)) }))
    }

    static func metadata(_ m: Envoy_Config_Core_V3_Metadata) -> Value {
        if m.filterMetadata.isEmpty { return .emptyObject }  // protojson omits empty maps
        var fm = RegoObject()
        for (k, v) in m.filterMetadata { fm[k] = structValue(v) }
        return .object(RegoObject(fields: ["filterMetadata": .object(fm)]))
    }

    /// google.protobuf.Struct as the JSON it stands for.
    public static func structValue(_ s: Google_Protobuf_Struct) -> Value {
        .object(RegoObject(s.fields.map { (.string($0.key), protoValue($0.value)) }))
    }

    static func protoValue(_ v: Google_Protobuf_Value) -> Value {
        switch v.kind {
        case .nullValue?, nil: return .null
        case .numberValue(let d)?: return .number(Number(d))
        case .stringValue(let s)?: return .string(s)
        case .boolValue(let b)?: return .bool(b)
        case .structValue(let s)?: return structValue(s)
        case .listValue(let l)?: return .array(l.values.map(protoValue))
        }
    }

    static func rfc3339(_ t: Google_Protobuf_Timestamp) -> String {
        RFC3339.format(seconds: Int(t.seconds), nanos: Int(t.nanos))
    }

    // MARK: - Parsed path, query and body

    static func splitPathAndQuery(_ raw: String) -> (Substring, Substring) {
        let noFragment = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        if let q = noFragment.firstIndex(of: "?") {
            return (noFragment[..<q], noFragment[noFragment.index(after: q)...])
        }
        return (noFragment, "")
    }

    /// OPA-Envoy's parsed_path: the decoded path without its leading slashes, split on "/".
    public static func parsedPath(_ path: Substring) -> [String] {
        let trimmed = path.drop { $0 == "/" }
        return trimmed.split(separator: "/", omittingEmptySubsequences: false).map { PercentEncoding.decode($0, plusIsSpace: false) ?? String($0) }
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
    static func parseBody(_ h: Envoy_Service_Auth_V3_AttributeContext.HttpRequest) -> (Value?, Bool) {
        let bodyBytes: [UInt8] = h.rawBody.isEmpty ? Array(h.body.utf8) : Array(h.rawBody)
        if bodyBytes.isEmpty { return (nil, false) }
        if let lengthText = h.headers["content-length"], let length = Int(lengthText), length > bodyBytes.count {
            return (nil, true)
        }
        let contentType = (h.headers["content-type"] ?? "").lowercased()
        if contentType.hasPrefix("application/json") || contentType.hasSuffix("+json") {
            return ((try? Value.parseJSON(bytes: bodyBytes)), false)
        }
        if contentType.hasPrefix("application/x-www-form-urlencoded") {
            return (parsedQuery(Substring(String(decoding: bodyBytes, as: UTF8.self))), false)
        }
        return (nil, false)
    }

}
