public import Rego

#if canImport(Glibc)
import Glibc
#endif

/// A CheckRequest read straight from its protobuf wire bytes into OPA-Envoy's input
/// document, with the few request facts the Check path needs beside it.
///
/// This is the serve path's decoder: it builds the input's values as it reads, instead of
/// decoding into generated messages and converting those (which cost about three times as
/// much per Check). It follows protobuf's decoding rules as the generated decoder applies
/// them: unknown fields, and known fields sent with another wire type, are skipped; the
/// last value of a scalar field wins; repeated occurrences of a message field merge; a
/// repeated map key keeps its last value; strings must be valid UTF-8. The generated
/// messages (`EnvoyProto`) stay the reference: the tests decode every golden request both
/// ways and compare.
public struct ParsedCheck: Sendable {
    /// OPA-Envoy's input document; without `input.agent` unless `attachAgent` added it.
    public private(set) var document: RegoObject
    public let method: String
    public let path: String
    public let host: String
    /// Envoy's request id (`attributes.request.http.id`).
    public let id: String
    /// The request's bytes and where its HTTP headers are in them (wire order, lower-case
    /// names, checked UTF-8): a header becomes a `String` only when it is asked for, and the
    /// input's `headers` object is built only when the policy reads it.
    let bytes: [UInt8]
    let headerRanges: [HeaderRange]
    /// The input's `headers` object, when the policy reads it (or the decision log records
    /// the input): header lookups use it instead of making strings again.
    let headersObject: RegoObject?

    /// A header's value; of a repeated name, the last, as in the input's `headers`.
    public func header(_ name: String) -> String? {
        if let headersObject {
            if case .string(let s)? = headersObject[name] { return s }
            return nil
        }
        return bytes.withUnsafeBytes { base in
            var name = name
            return name.withUTF8 { wanted in
                for h in headerRanges.reversed() where h.name.count == wanted.count {
                    if wanted.isEmpty || memcmp(base.baseAddress! + h.name.lowerBound, wanted.baseAddress!, wanted.count) == 0 {
                        return h.value.string(in: base)
                    }
                }
                return nil
            }
        }
    }

    /// The input document, with the verified agent as `input.agent` when there is one.
    public func input(agent: Value?) -> Value {
        var copy = self
        return copy.attachAgent(agent)
    }

    /// `input(agent:)` for the serve path: adds the agent to this Check's own document in
    /// place (the reader leaves room for it) and returns the input, so that a Check does
    /// not copy the document to add one member.
    public mutating func attachAgent(_ agent: Value?) -> Value {
        if let agent { document["agent"] = agent }
        return .object(document)
    }
}

/// Why a CheckRequest's bytes could not be read: what, and at which field.
public struct CheckRequestDecodeError: Error, CustomStringConvertible, Sendable {
    public let field: String
    public let problem: String
    public var description: String { field.isEmpty ? problem : "\(field): \(problem)" }

    /// The same error, seen from the message that holds `parent`.
    func within(_ parent: String) -> CheckRequestDecodeError {
        CheckRequestDecodeError(field: field.isEmpty ? parent : parent + "." + field, problem: problem)
    }
}

extension EnvoyInput {
    /// Reads a serialized `envoy.service.auth.v3.CheckRequest`. The input document gets the
    /// members in `parts`, all of them by default; every field is read and checked either
    /// way, so a malformed request is refused whatever the policy reads.
    public static func parse(_ bytes: [UInt8], building parts: Parts = .all) throws(CheckRequestDecodeError) -> ParsedCheck {
        let result = bytes.withUnsafeBytes { raw -> Result<ParsedCheck, CheckRequestDecodeError> in
            do throws(CheckRequestDecodeError) {
                var attributes: AttributesBuilder?
                var reader = WireReader(raw)
                while let (number, wire) = try reader.nextField() {
                    if number == 1 && wire == .lengthDelimited {
                        try reader.merge("attributes", into: &attributes)
                    } else {
                        try reader.skip(wire)
                    }
                }
                // Moved out, not copied: a copy would retain every string it holds.
                return .success((attributes.take() ?? AttributesBuilder()).build(parts, bytes, raw))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

// MARK: - Wire format

enum WireType: UInt8 {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
}

/// Reads protobuf fields from a byte range. Errors name the field where they happened:
/// `nested` prefixes the enclosing field's name as an error passes out of it, so reading
/// builds no paths.
struct WireReader {
    let base: UnsafeRawBufferPointer
    var offset: Int
    let end: Int

    init(_ base: UnsafeRawBufferPointer) {
        self.base = base
        self.offset = 0
        self.end = base.count
    }

    init(base: UnsafeRawBufferPointer, from: Int, to: Int) {
        self.base = base
        self.offset = from
        self.end = to
    }

    func failure(_ problem: String, _ name: String = "") -> CheckRequestDecodeError {
        CheckRequestDecodeError(field: name, problem: problem)
    }

    @inline(__always)
    mutating func varint() throws(CheckRequestDecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < end {
            let byte = base[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw failure("malformed varint") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw failure("malformed varint") }
        }
        throw failure("the message ends inside a varint")
    }

    /// The next field's number and wire type, or nil at the end.
    @inline(__always)
    mutating func nextField() throws(CheckRequestDecodeError) -> (Int, WireType)? {
        guard offset < end else { return nil }
        let tag = try varint()
        let number = Int(truncatingIfNeeded: tag >> 3)
        guard number > 0, number <= 536_870_911, let wire = WireType(rawValue: UInt8(tag & 7)) else {
            throw failure("malformed field tag \(tag)")
        }
        return (number, wire)
    }

    mutating func lengthDelimited() throws(CheckRequestDecodeError) -> Range<Int> {
        let length = try varint()
        guard length <= UInt64(end - offset) else { throw failure("a length-delimited field runs past the end of the message") }
        let start = offset
        offset += Int(length)
        return start..<offset
    }

    /// Reads the length-delimited field `name` as a nested message with `body`.
    @inline(__always)
    mutating func nested<T>(_ name: String, _ body: (inout WireReader) throws(CheckRequestDecodeError) -> T) throws(CheckRequestDecodeError) -> T {
        let range: Range<Int>
        do { range = try lengthDelimited() } catch { throw error.within(name) }
        var sub = WireReader(base: base, from: range.lowerBound, to: range.upperBound)
        do { return try body(&sub) } catch { throw error.within(name) }
    }

    mutating func string(_ name: String) throws(CheckRequestDecodeError) -> String {
        try utf8Range(name).string(in: base)
    }

    /// Whether every byte is below 0x80, eight at a time (headers and tokens are long).
    @inline(__always)
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let start = bytes.baseAddress else { return true }
        let raw = UnsafeRawPointer(start)
        var i = 0
        var high: UInt64 = 0
        while i + 8 <= bytes.count {
            high |= raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < bytes.count {
            high |= UInt64(bytes[i])
            i += 1
        }
        return high & 0x8080_8080_8080_8080 == 0
    }

    mutating func bytes() throws(CheckRequestDecodeError) -> [UInt8] {
        let range = try lengthDelimited()
        return Array(base[range])
    }

    mutating func fixed64() throws(CheckRequestDecodeError) -> UInt64 {
        guard end - offset >= 8 else { throw failure("the message ends inside a fixed64 field") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(base[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }

    mutating func skip(_ wire: WireType) throws(CheckRequestDecodeError) {
        switch wire {
        case .varint: _ = try varint()
        case .fixed64:
            guard end - offset >= 8 else { throw failure("the message ends inside a fixed64 field") }
            offset += 8
        case .fixed32:
            guard end - offset >= 4 else { throw failure("the message ends inside a fixed32 field") }
            offset += 4
        case .lengthDelimited: _ = try lengthDelimited()
        case .startGroup, .endGroup: throw failure("groups are not used by ext_authz messages")
        }
    }

    /// Reads the message field `name` into `builder`: a second occurrence of the field
    /// merges into what the first gave, as protobuf requires.
    mutating func merge<B: MessageBuilder>(_ name: String, into builder: inout B?) throws(CheckRequestDecodeError) {
        // In place: a copy of a builder would retain and release each of its strings.
        if builder == nil { builder = B() }
        try nested(name) { (sub: inout WireReader) throws(CheckRequestDecodeError) in try builder!.merge(&sub) }
    }

    /// A `map<string, string>` entry as the byte ranges of its key (`name`) and value, both
    /// checked to be UTF-8.
    mutating func stringMapEntryRanges(_ name: String) throws(CheckRequestDecodeError) -> HeaderRange {
        try nested(name) { (entry: inout WireReader) throws(CheckRequestDecodeError) in
            var key = 0..<0, value = 0..<0
            while let (n, w) = try entry.nextField() {
                switch n {
                case 1 where w == .lengthDelimited: key = try entry.utf8Range("key")
                case 2 where w == .lengthDelimited: value = try entry.utf8Range("value")
                default: try entry.skip(w)
                }
            }
            return HeaderRange(name: key, value: value)
        }
    }

    /// A string field's bytes, checked to be UTF-8, without making the `String`.
    mutating func utf8Range(_ name: String) throws(CheckRequestDecodeError) -> Range<Int> {
        let range = try lengthDelimited()
        let bytes = UnsafeRawBufferPointer(rebasing: base[range]).assumingMemoryBound(to: UInt8.self)
        guard WireReader.isASCII(bytes) || String(validating: bytes, as: UTF8.self) != nil else {
            throw failure("invalid UTF-8 in a string field", name)
        }
        return range
    }

    /// A `map<string, string>` entry.
    mutating func stringMapEntry(_ name: String) throws(CheckRequestDecodeError) -> (String, String) {
        let entry = try stringMapEntryRanges(name)
        return (entry.name.string(in: base), entry.value.string(in: base))
    }
}

/// Gathers one message's fields as they are read; the same builder takes every occurrence.
protocol MessageBuilder {
    init()
    mutating func merge(_ r: inout WireReader) throws(CheckRequestDecodeError)
}

/// Map entries in wire order; a repeated key keeps its last value, as protobuf's decoders do.
struct StringMapBuilder {
    var pairs: [(String, Value)] = []
    var isEmpty: Bool { pairs.isEmpty }

    mutating func add(_ key: String, _ value: Value) { pairs.append((key, value)) }

    func build() -> RegoObject { RegoObject(stringKeysLastWins: pairs) }
}

/// Where one header's name and value are in the request's bytes.
struct HeaderRange {
    let name: Range<Int>
    let value: Range<Int>
}

extension Range<Int> {
    /// The bytes in this range as a string; the reader checked that they are UTF-8.
    func string(in base: UnsafeRawBufferPointer) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: base[self]).assumingMemoryBound(to: UInt8.self), as: UTF8.self)
    }
}

extension [HeaderRange] {
    /// The headers as the input has them: an object, a repeated name keeping its last value.
    func object(in base: UnsafeRawBufferPointer) -> RegoObject {
        var o = RegoObject(reservingCapacity: count)
        for h in self { o[h.name.string(in: base)] = .string(h.value.string(in: base)) }
        return o
    }
}

/// An object's fields, appended in key order into one array reserved up front: the
/// objects of the input are built on every Check.
struct FieldList {
    var entries: [RegoObject.Entry] = []

    init(capacity: Int) { entries.reserveCapacity(capacity) }

    mutating func add(_ key: String, _ value: Value) { entries.append(RegoObject.Entry(key: .string(key), value: value)) }

    var object: RegoObject { RegoObject(stringKeyedEntries: entries) }

    /// A one-field object.
    static func single(_ key: String, _ value: Value) -> Value {
        var f = FieldList(capacity: 1)
        f.add(key, value)
        return .object(f.object)
    }
}

// MARK: - AttributeContext

/// Fields of `AttributeContext` gathered while reading, then built into the input in
/// protojson's form (camelCase names, int64 as strings, bytes as base64, defaults omitted).
struct AttributesBuilder: MessageBuilder {
    var source: PeerBuilder?
    var destination: PeerBuilder?
    var request: RequestBuilder?
    var contextExtensions = StringMapBuilder()
    var metadataContext: MetadataBuilder?
    var routeMetadataContext: MetadataBuilder?
    var sni = ""

    mutating func merge(_ r: inout WireReader) throws(CheckRequestDecodeError) {
        while let (n, w) = try r.nextField() {
            switch n {
            case 1 where w == .lengthDelimited:
                try r.merge("source", into: &source)
            case 2 where w == .lengthDelimited:
                try r.merge("destination", into: &destination)
            case 4 where w == .lengthDelimited:
                try r.merge("request", into: &request)
            case 10 where w == .lengthDelimited:
                let (k, v) = try r.stringMapEntry("context_extensions")
                contextExtensions.add(k, .string(v))
            case 11 where w == .lengthDelimited:
                try r.merge("metadata_context", into: &metadataContext)
            case 13 where w == .lengthDelimited:
                try r.merge("route_metadata_context", into: &routeMetadataContext)
            case 12 where w == .lengthDelimited:
                try r.nested("tls_session") { (sub: inout WireReader) throws(CheckRequestDecodeError) in
                    while let (tn, tw) = try sub.nextField() {
                        if tn == 1 && tw == .lengthDelimited {
                            sni = try sub.string("sni")
                        } else {
                            try sub.skip(tw)
                        }
                    }
                }
            default:
                try r.skip(w)
            }
        }
    }

    consuming func build(_ parts: EnvoyInput.Parts, _ bytes: [UInt8], _ base: UnsafeRawBufferPointer) -> ParsedCheck {
        // Moved out of the request, not copied: a copy would retain every string it holds.
        let http = request?.http.take()
        let headers = parts.contains(.headers) ? http?.headers.object(in: base) : nil
        // Fields in key order, so the objects need no sorting; a member no policy reads is
        // left out (its fields were still read and checked).
        var document = FieldList(capacity: 7)  // six members, and room for `agent` (attachAgent)
        if parts.contains(.attributes) {
            var attrs = FieldList(capacity: 7)
            if !contextExtensions.isEmpty && parts.contains(.contextExtensions) { attrs.add("contextExtensions", .object(contextExtensions.build())) }
            if let destination, parts.contains(.destination) { attrs.add("destination", destination.build()) }
            if let metadataContext, parts.contains(.metadataContext) { attrs.add("metadataContext", metadataContext.build()) }
            if parts.contains(.request), let built = request?.build(parts, http, headers, base) { attrs.add("request", built) }
            if let routeMetadataContext, parts.contains(.routeMetadataContext) { attrs.add("routeMetadataContext", routeMetadataContext.build()) }
            if let source, parts.contains(.source) { attrs.add("source", source.build()) }
            if !sni.isEmpty && parts.contains(.tlsSession) { attrs.add("tlsSession", FieldList.single("sni", .string(sni))) }
            document.add("attributes", .object(attrs.object))
        }
        var (parsedBody, truncated): (Value?, Bool) = (nil, false)
        if !parts.isDisjoint(with: [.parsedBody, .truncatedBody]) {
            let body: [UInt8] = if let raw = http?.rawBody, !raw.isEmpty { raw } else { Array((http?.body ?? "").utf8) }
            (parsedBody, truncated) = EnvoyInput.parseBody(body: body, headers: headers ?? http?.headers.object(in: base) ?? RegoObject())
        }
        if parts.contains(.parsedBody) { document.add("parsed_body", parsedBody ?? .null) }
        if !parts.isDisjoint(with: [.parsedPath, .parsedQuery]) {
            let (pathPart, query) = EnvoyInput.splitPathAndQuery(http?.path ?? "")
            if parts.contains(.parsedPath) { document.add("parsed_path", .array(EnvoyInput.parsedPath(pathPart).map { .string($0) })) }
            if parts.contains(.parsedQuery) { document.add("parsed_query", EnvoyInput.parsedQuery(query)) }
        }
        if parts.contains(.truncatedBody) { document.add("truncated_body", .bool(truncated)) }
        if parts.contains(.version) { document.add("version", EnvoyInput.version) }
        return ParsedCheck(document: document.object, method: http?.method ?? "", path: http?.path ?? "", host: http?.host ?? "",
                           id: http?.id ?? "", bytes: bytes, headerRanges: http?.headers ?? [], headersObject: headers)
    }
}

struct PeerBuilder: MessageBuilder {
    var address: AddressBuilder?
    var service = ""
    var labels = StringMapBuilder()
    var principal = ""
    var certificate = ""

    mutating func merge(_ r: inout WireReader) throws(CheckRequestDecodeError) {
        while let (n, w) = try r.nextField() {
            switch n {
            case 1 where w == .lengthDelimited:
                try r.merge("address", into: &address)
            case 2 where w == .lengthDelimited: service = try r.string("service")
            case 3 where w == .lengthDelimited:
                let (k, v) = try r.stringMapEntry("labels")
                labels.add(k, .string(v))
            case 4 where w == .lengthDelimited: principal = try r.string("principal")
            case 5 where w == .lengthDelimited: certificate = try r.string("certificate")
            default: try r.skip(w)
            }
        }
    }

    func build() -> Value {
        // Fields in key order, so the object needs no sorting.
        var o = FieldList(capacity: 5)
        if let address { o.add("address", address.build()) }
        if !certificate.isEmpty { o.add("certificate", .string(certificate)) }
        if !labels.isEmpty { o.add("labels", .object(labels.build())) }
        if !principal.isEmpty { o.add("principal", .string(principal)) }
        if !service.isEmpty { o.add("service", .string(service)) }
        return .object(o.object)
    }
}

/// `config.core.v3.Address`: a oneof of a socket address and a pipe.
struct AddressBuilder: MessageBuilder {
    enum Kind {
        case socket(address: String, port: Port?, udp: Bool)
        case pipe(path: String, mode: UInt32)
    }
    enum Port {
        case value(UInt32)
        case named(String)
    }
    var kind: Kind?

    mutating func merge(_ r: inout WireReader) throws(CheckRequestDecodeError) {
        while let (n, w) = try r.nextField() {
            switch n {
            case 1 where w == .lengthDelimited:
                var (address, port, udp) = ("", nil as Port?, false)
                if case .socket(let a, let p, let u)? = kind { (address, port, udp) = (a, p, u) }
                try r.nested("socket_address") { (sub: inout WireReader) throws(CheckRequestDecodeError) in
                    while let (sn, sw) = try sub.nextField() {
                        switch sn {
                        case 1 where sw == .varint: udp = try sub.varint() == 1
                        case 2 where sw == .lengthDelimited: address = try sub.string("address")
                        case 3 where sw == .varint: port = .value(UInt32(truncatingIfNeeded: try sub.varint()))
                        case 4 where sw == .lengthDelimited: port = .named(try sub.string("named_port"))
                        default: try sub.skip(sw)
                        }
                    }
                }
                kind = .socket(address: address, port: port, udp: udp)
            case 2 where w == .lengthDelimited:
                var (path, mode) = ("", UInt32(0))
                if case .pipe(let p, let m)? = kind { (path, mode) = (p, m) }
                try r.nested("pipe") { (sub: inout WireReader) throws(CheckRequestDecodeError) in
                    while let (pn, pw) = try sub.nextField() {
                        switch pn {
                        case 1 where pw == .lengthDelimited: path = try sub.string("path")
                        case 2 where pw == .varint: mode = UInt32(truncatingIfNeeded: try sub.varint())
                        default: try sub.skip(pw)
                        }
                    }
                }
                kind = .pipe(path: path, mode: mode)
            default:
                try r.skip(w)
            }
        }
    }

    func build() -> Value {
        switch kind {
        case .socket(let address, let port, let udp)?:
            var sa = FieldList(capacity: 3)
            if !address.isEmpty { sa.add("address", .string(address)) }
            switch port {
            case .named(let name)?: sa.add("namedPort", .string(name))
            case .value(let p)?: sa.add("portValue", .int(Int(p)))
            case nil: break
            }
            if udp { sa.add("protocol", .string("UDP")) }
            return FieldList.single("socketAddress", .object(sa.object))
        case .pipe(let path, let mode)?:
            var po = FieldList(capacity: 2)
            if mode != 0 { po.add("mode", .int(Int(mode))) }
            po.add("path", .string(path))
            return FieldList.single("pipe", .object(po.object))
        case nil:
            return .emptyObject
        }
    }
}

struct RequestBuilder: MessageBuilder {
    var time: (seconds: Int64, nanos: Int32)?
    var http: HTTPBuilder?

    mutating func merge(_ r: inout WireReader) throws(CheckRequestDecodeError) {
        while let (n, w) = try r.nextField() {
            switch n {
            case 1 where w == .lengthDelimited:
                var t = time ?? (0, 0)
                try r.nested("time") { (sub: inout WireReader) throws(CheckRequestDecodeError) in
                    while let (tn, tw) = try sub.nextField() {
                        switch tn {
                        case 1 where tw == .varint: t.seconds = Int64(bitPattern: try sub.varint())
                        case 2 where tw == .varint: t.nanos = Int32(truncatingIfNeeded: try sub.varint())
                        default: try sub.skip(tw)
                        }
                    }
                }
                time = t
            case 2 where w == .lengthDelimited:
                try r.merge("http", into: &http)
            default:
                try r.skip(w)
            }
        }
    }

    /// `http` is this request's, moved out by the caller (nil when the request had none).
    func build(_ parts: EnvoyInput.Parts, _ http: HTTPBuilder?, _ headers: RegoObject?, _ base: UnsafeRawBufferPointer) -> Value {
        var o = FieldList(capacity: 2)
        if let http, parts.contains(.http) { o.add("http", .object(http.build(parts, headers, base))) }
        if let time, parts.contains(.time) { o.add("time", .string(RFC3339.format(seconds: Int(time.seconds), nanos: Int(time.nanos)))) }
        return .object(o.object)
    }
}

struct HTTPBuilder: MessageBuilder {
    var id = "", method = "", path = "", host = "", scheme = "", query = "", fragment = "", proto = "", body = ""
    var size: Int64 = 0
    /// Where the headers are: strings are made only for what is used.
    var headers: [HeaderRange] = []
    var headerMap: [Value]?
    var rawBody: [UInt8]?

    mutating func merge(_ r: inout WireReader) throws(CheckRequestDecodeError) {
        while let (n, w) = try r.nextField() {
            switch n {
            case 1 where w == .lengthDelimited: id = try r.string("id")
            case 2 where w == .lengthDelimited: method = try r.string("method")
            case 3 where w == .lengthDelimited:
                // Envoy sends a dozen headers or so: one allocation instead of growing four times.
                if headers.capacity == 0 { headers.reserveCapacity(16) }
                headers.append(try r.stringMapEntryRanges("headers"))
            case 4 where w == .lengthDelimited: path = try r.string("path")
            case 5 where w == .lengthDelimited: host = try r.string("host")
            case 6 where w == .lengthDelimited: scheme = try r.string("scheme")
            case 7 where w == .lengthDelimited: query = try r.string("query")
            case 8 where w == .lengthDelimited: fragment = try r.string("fragment")
            case 9 where w == .varint: size = Int64(bitPattern: try r.varint())
            case 10 where w == .lengthDelimited: proto = try r.string("protocol")
            case 11 where w == .lengthDelimited: body = try r.string("body")
            case 12 where w == .lengthDelimited: rawBody = try r.bytes()
            case 13 where w == .lengthDelimited:
                var list = headerMap ?? []
                try r.nested("header_map") { (sub: inout WireReader) throws(CheckRequestDecodeError) in
                    while let (hn, hw) = try sub.nextField() {
                        guard hn == 1, hw == .lengthDelimited else { try sub.skip(hw); continue }
                        var (key, value, raw) = ("", "", [UInt8]())
                        try sub.nested("headers") { (hv: inout WireReader) throws(CheckRequestDecodeError) in
                            while let (vn, vw) = try hv.nextField() {
                                switch vn {
                                case 1 where vw == .lengthDelimited: key = try hv.string("key")
                                case 2 where vw == .lengthDelimited: value = try hv.string("value")
                                case 3 where vw == .lengthDelimited: raw = try hv.bytes()
                                default: try hv.skip(vw)
                                }
                            }
                        }
                        var x = FieldList(capacity: 3)
                        x.add("key", .string(key))
                        if !raw.isEmpty { x.add("rawValue", .string(Base64.encode(raw, url: false, pad: true))) }
                        if !value.isEmpty { x.add("value", .string(value)) }
                        list.append(.object(x.object))
                    }
                }
                headerMap = list
            default:
                try r.skip(w)
            }
        }
    }

    func build(_ parts: EnvoyInput.Parts, _ headersObject: RegoObject?, _ base: UnsafeRawBufferPointer) -> RegoObject {
        var o = FieldList(capacity: 13)
        if !body.isEmpty && parts.contains(.body) { o.add("body", .string(body)) }
        if !fragment.isEmpty && parts.contains(.fragment) { o.add("fragment", .string(fragment)) }
        if let headerMap, parts.contains(.headerMap) { o.add("headerMap", FieldList.single("headers", .array(headerMap))) }
        if let headersObject, !headersObject.isEmpty { o.add("headers", .object(headersObject)) }
        if !host.isEmpty && parts.contains(.host) { o.add("host", .string(host)) }
        if !id.isEmpty && parts.contains(.id) { o.add("id", .string(id)) }
        if !method.isEmpty && parts.contains(.method) { o.add("method", .string(method)) }
        if !path.isEmpty && parts.contains(.path) { o.add("path", .string(path)) }
        if !proto.isEmpty && parts.contains(.httpProtocol) { o.add("protocol", .string(proto)) }
        if !query.isEmpty && parts.contains(.query) { o.add("query", .string(query)) }
        if let rawBody, !rawBody.isEmpty && parts.contains(.rawBody) { o.add("rawBody", .string(Base64.encode(rawBody, url: false, pad: true))) }
        if !scheme.isEmpty && parts.contains(.scheme) { o.add("scheme", .string(scheme)) }
        if size != 0 && parts.contains(.size) { o.add("size", .string(String(size))) }
        return o.object
    }
}

// MARK: - Metadata and google.protobuf.Struct

/// `config.core.v3.Metadata`: `filter_metadata`, a map of Structs.
struct MetadataBuilder: MessageBuilder {
    var filterValues: [(String, Value)] = []

    mutating func merge(_ r: inout WireReader) throws(CheckRequestDecodeError) {
        while let (n, w) = try r.nextField() {
            guard n == 1, w == .lengthDelimited else { try r.skip(w); continue }
            var key = ""
            var value = StructReader.Fields()
            try r.nested("filter_metadata") { (entry: inout WireReader) throws(CheckRequestDecodeError) in
                while let (en, ew) = try entry.nextField() {
                    switch en {
                    case 1 where ew == .lengthDelimited: key = try entry.string("key")
                    case 2 where ew == .lengthDelimited:
                        try entry.nested(key) { (sub: inout WireReader) throws(CheckRequestDecodeError) in try StructReader.mergeStruct(&sub, into: &value) }
                    default: try entry.skip(ew)
                    }
                }
            }
            filterValues.append((key, value.object))
        }
    }

    func build() -> Value {
        if filterValues.isEmpty { return .emptyObject }  // protojson omits empty maps
        return FieldList.single("filterMetadata", .object(RegoObject(stringKeysLastWins: filterValues)))
    }
}

/// google.protobuf.Struct, Value and ListValue, as the JSON they stand for.
enum StructReader {
    struct Fields {
        var pairs: [(String, Value)] = []
        var object: Value { .object(RegoObject(stringKeysLastWins: pairs)) }
    }

    static func mergeStruct(_ r: inout WireReader, into fields: inout Fields) throws(CheckRequestDecodeError) {
        while let (n, w) = try r.nextField() {
            guard n == 1, w == .lengthDelimited else { try r.skip(w); continue }
            var key = ""
            var value: Value = .null
            try r.nested("fields") { (entry: inout WireReader) throws(CheckRequestDecodeError) in
                while let (en, ew) = try entry.nextField() {
                    switch en {
                    case 1 where ew == .lengthDelimited: key = try entry.string("key")
                    case 2 where ew == .lengthDelimited:
                        value = try entry.nested(key) { (sub: inout WireReader) throws(CheckRequestDecodeError) in try readValue(&sub) }
                    default: try entry.skip(ew)
                    }
                }
            }
            fields.pairs.append((key, value))
        }
    }

    static func readValue(_ r: inout WireReader) throws(CheckRequestDecodeError) -> Value {
        var value: Value = .null
        while let (n, w) = try r.nextField() {
            switch n {
            case 1 where w == .varint: _ = try r.varint(); value = .null
            case 2 where w == .fixed64: value = .number(Number(Double(bitPattern: try r.fixed64())))
            case 3 where w == .lengthDelimited: value = .string(try r.string("string_value"))
            case 4 where w == .varint: value = .bool(try r.varint() != 0)
            case 5 where w == .lengthDelimited:
                var fields = Fields()
                if case .object(let o) = value { fields.pairs = o.entries.compactMap { e in if case .string(let k) = e.key { (k, e.value) } else { nil } } }
                try r.nested("struct_value") { (sub: inout WireReader) throws(CheckRequestDecodeError) in try mergeStruct(&sub, into: &fields) }
                value = fields.object
            case 6 where w == .lengthDelimited:
                var items: [Value] = []
                if case .array(let a) = value { items = a }
                try r.nested("list_value") { (sub: inout WireReader) throws(CheckRequestDecodeError) in
                    while let (ln, lw) = try sub.nextField() {
                        guard ln == 1, lw == .lengthDelimited else { try sub.skip(lw); continue }
                        items.append(try sub.nested("values") { (item: inout WireReader) throws(CheckRequestDecodeError) in try readValue(&item) })
                    }
                }
                value = .array(items)
            default:
                try r.skip(w)
            }
        }
        return value
    }
}
