import EnvoyProto
import Foundation
import Rego
import SwiftProtobuf
import Testing
@testable import ExtAuthz

/// Warden reads CheckRequests straight from their bytes (`EnvoyInput.parse`). The generated
/// messages are the reference: `input.attributes` must equal protojson of the same
/// AttributeContext, as swift-protobuf prints it, for every field Warden maps.
struct CheckRequestReaderTests {
    /// A request with every field of the mapping set.
    static func everything() -> Envoy_Service_Auth_V3_CheckRequest {
        var r = Envoy_Service_Auth_V3_CheckRequest()
        r.attributes.source.address.socketAddress.address = "10.0.0.7"
        r.attributes.source.address.socketAddress.portValue = 51000
        r.attributes.source.service = "agents"
        r.attributes.source.labels = ["team": "platform", "zone": "eu-1"]
        r.attributes.source.principal = "spiffe://example.org/agent"
        r.attributes.source.certificate = "-----BEGIN CERTIFICATE-----"
        r.attributes.destination.address.socketAddress.address = "10.0.0.8"
        r.attributes.destination.address.socketAddress.namedPort = "https"
        r.attributes.destination.address.socketAddress.protocol = .udp
        r.attributes.request.time = Google_Protobuf_Timestamp(seconds: 1_795_339_204, nanos: 0)
        var http = Envoy_Service_Auth_V3_AttributeContext.HttpRequest()
        http.id = "42"
        http.method = "POST"
        http.headers = [":path": "/tools/search?q=a%20b#top", "content-type": "application/json", "x-ünïcode": "välue"]
        http.path = "/tools/search?q=a%20b#top"
        http.host = "tools.internal"
        http.scheme = "https"
        http.query = "q=a%20b"
        http.fragment = "top"
        http.size = 9_000_000_000
        http.protocol = "HTTP/2"
        http.body = #"{"n": 1}"#
        http.rawBody = Data([0, 1, 2, 255])
        var hv = Envoy_Config_Core_V3_HeaderValue()
        hv.key = "x-raw"
        hv.rawValue = Data("raw".utf8)
        var hv2 = Envoy_Config_Core_V3_HeaderValue()
        hv2.key = "x-text"
        hv2.value = "text"
        http.headerMap.headers = [hv, hv2]
        r.attributes.request.http = http
        r.attributes.contextExtensions = ["route": "tools"]
        var inner = Google_Protobuf_Struct()
        inner.fields = ["n": Google_Protobuf_Value(numberValue: 2.5), "ok": Google_Protobuf_Value(boolValue: true),
                        "none": Google_Protobuf_Value(nilLiteral: ()),
                        "list": Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: [Google_Protobuf_Value(stringValue: "a"), Google_Protobuf_Value(numberValue: 1)]))]
        var outer = Google_Protobuf_Struct()
        outer.fields = ["nested": Google_Protobuf_Value(structValue: inner), "s": Google_Protobuf_Value(stringValue: "x")]
        r.attributes.metadataContext.filterMetadata = ["envoy.filters.http.jwt": outer]
        r.attributes.routeMetadataContext.filterMetadata = [:]
        r.attributes.tlsSession.sni = "tools.internal"
        return r
    }

    static func protojsonAttributes(_ r: Envoy_Service_Auth_V3_CheckRequest) throws -> Value {
        try Value.parseJSON(try r.attributes.jsonString())
    }

    @Test func everyMappedFieldMatchesProtojson() throws {
        let request = Self.everything()
        let parsed = try EnvoyInput.parse(try request.serializedBytes())
        #expect(parsed.document["attributes"] == (try Self.protojsonAttributes(request)),
                "got \(parsed.document["attributes"]?.jsonString() ?? "nothing")")
        #expect(parsed.method == "POST" && parsed.path == "/tools/search?q=a%20b#top" && parsed.host == "tools.internal" && parsed.id == "42")
        #expect(parsed.header("x-ünïcode") == "välue")
        #expect(parsed.document["parsed_path"] == .array([.string("tools"), .string("search")]))
        #expect(parsed.document["parsed_query"] == (try Value.parseJSON(#"{"q": ["a b"]}"#)))
        // raw_body wins over body; not JSON, so nothing is parsed.
        #expect(parsed.document["parsed_body"] == .null)
    }

    @Test func aPipePeer() throws {
        var r = Envoy_Service_Auth_V3_CheckRequest()
        r.attributes.source.address.pipe.path = "/run/agent.sock"
        r.attributes.source.address.pipe.mode = 0o600
        r.attributes.destination.address = Envoy_Config_Core_V3_Address()
        let parsed = try EnvoyInput.parse(try r.serializedBytes())
        #expect(parsed.document["attributes"] == (try Self.protojsonAttributes(r)))
    }

    @Test func anEmptyRequestIsTheBareDocument() throws {
        let parsed = try EnvoyInput.parse([])
        #expect(parsed.input(agent: nil) == (try Value.parseJSON("""
            {"attributes": {}, "parsed_body": null, "parsed_path": [""], "parsed_query": {}, "truncated_body": false,
             "version": {"encoding": "protojson", "ext_authz": "v3"}}
            """)))
    }

    /// The reader builds only the members a policy reads (`EnvoyInput.Parts`, from
    /// `CompiledPolicy.inputReads`), each the same as in the whole document.
    @Test(arguments: [
        (#"{"attributes": {"request": {"http": {"method": true}}}, "parsed_path": true}"#,
         ["attributes.request.http.method", "parsed_path"]),
        (#"{"attributes": {"request": {"http": {"headers": {"x-a": true}, "path": true}}}}"#,
         ["attributes.request.http.headers", "attributes.request.http.path"]),
        (#"{"attributes": {"source": true, "request": {"time": true}}, "parsed_body": true, "version": true}"#,
         ["attributes.source", "attributes.request.time", "parsed_body", "version"]),
        (#"{"attributes": true, "truncated_body": true, "parsed_query": true}"#, ["attributes", "truncated_body", "parsed_query"]),
        (#"{"agent": true}"#, []),
    ])
    func onlyTheMembersAPolicyReadsAreBuilt(_ readsJSON: String, _ kept: [String]) throws {
        let request = Self.everything()
        let bytes: [UInt8] = try request.serializedBytes()
        let whole = try EnvoyInput.parse(bytes).input(agent: nil)
        let parsed = try EnvoyInput.parse(bytes, building: EnvoyInput.Parts(Self.reads(try Value.parseJSON(readsJSON))))
        // The whole document, cut down to the kept paths.
        var want: Value = .emptyObject
        for path in kept {
            let keys = path.split(separator: ".").map(String.init)
            var v: Value? = whole
            for k in keys { v = v?[k] }
            want = Self.upsert(want, keys[...], try #require(v))
        }
        #expect(parsed.input(agent: nil) == want, "\(parsed.input(agent: nil).jsonString())")
        // The Check path's own facts do not depend on what the policy reads.
        #expect(parsed.method == "POST" && parsed.header("content-type") == "application/json" && parsed.id == "42")
        #expect(EnvoyInput.Parts(.whole) == .all)
    }

    static func reads(_ v: Value) -> InputReads {
        guard case .object(let o) = v else { return .whole }
        var m: [String: InputReads] = [:]
        for e in o.entries { if case .string(let k) = e.key { m[k] = reads(e.value) } }
        return .members(m)
    }

    static func upsert(_ base: Value, _ keys: ArraySlice<String>, _ v: Value) -> Value {
        guard let k = keys.first else { return v }
        guard case .object(var o) = base else { return base }
        o[k] = upsert(o[k] ?? .emptyObject, keys.dropFirst(), v)
        return .object(o)
    }

    /// Protobuf's rules: repeated occurrences of a message merge, the last scalar wins, a
    /// repeated map key keeps its last value, unknown fields are skipped.
    @Test func decodingRulesMatchTheGeneratedMessages() throws {
        var first = Envoy_Service_Auth_V3_CheckRequest()
        first.attributes.request.http.method = "GET"
        first.attributes.request.http.path = "/a"
        first.attributes.request.http.headers = ["x-a": "1", "x-b": "first"]
        var second = Envoy_Service_Auth_V3_CheckRequest()
        second.attributes.request.http.path = "/b"
        second.attributes.request.http.headers = ["x-b": "second"]
        second.attributes.source.principal = "p"
        let unknownVarint: [UInt8] = [0x98, 0x06, 0x01]  // field 99, varint 1
        let unknownBytes: [UInt8] = [0xA2, 0x06, 0x02, 0x41, 0x42]  // field 100, "AB"
        let bytes = try first.serializedBytes() + unknownVarint + (try second.serializedBytes() as [UInt8]) + unknownBytes
        let reference = try Envoy_Service_Auth_V3_CheckRequest(serializedBytes: bytes)
        let parsed = try EnvoyInput.parse(bytes)
        #expect(parsed.document["attributes"] == (try Self.protojsonAttributes(reference)))
        #expect(parsed.header("x-b") == "second" && parsed.header("x-a") == "1")
        // The same from the header's bytes, when the input's headers object is not built.
        let unbuilt = try EnvoyInput.parse(bytes, building: [])
        #expect(unbuilt.header("x-b") == "second" && unbuilt.header("x-a") == "1" && unbuilt.header("x-c") == nil)
        #expect(parsed.method == "GET" && parsed.path == "/b")
    }

    /// A known field sent with another wire type is skipped, as the generated decoder does.
    @Test func aFieldWithTheWrongWireTypeIsSkipped() throws {
        // attributes.request.http: method (field 2) as a varint, then path "/"
        let bytes: [UInt8] = [0x0A, 0x09, 0x22, 0x07, 0x12, 0x05, 0x10, 0x01, 0x22, 0x01, 0x2F]
        let reference = try Envoy_Service_Auth_V3_CheckRequest(serializedBytes: bytes)
        let parsed = try EnvoyInput.parse(bytes)
        #expect(parsed.method == "" && parsed.path == "/")
        #expect(parsed.document["attributes"] == (try Self.protojsonAttributes(reference)))
    }

    @Test(arguments: [
        // attributes.request.http.headers entry whose value is not UTF-8
        ([0x0A, 0x0D, 0x22, 0x0B, 0x12, 0x09, 0x1A, 0x07, 0x0A, 0x01, 0x61, 0x12, 0x02, 0xC3, 0x28] as [UInt8],
         "attributes.request.http.headers.value: invalid UTF-8 in a string field"),
        // attributes claims 16 bytes, has 2
        ([0x0A, 0x10, 0x22, 0x00], "attributes: a length-delimited field runs past the end of the message"),
        // attributes.request.http claims more bytes than request has
        ([0x0A, 0x06, 0x22, 0x04, 0x12, 0x05, 0x10, 0x01], "attributes.request.http: a length-delimited field runs past the end of the message"),
        // a varint that never ends
        ([0x10, 0xFF, 0xFF], "the message ends inside a varint"),
        // a field number 0
        ([0x00, 0x01], "malformed field tag 0"),
    ])
    func malformedBytesSayWhereAndWhy(_ bytes: [UInt8], _ message: String) {
        // Refused whatever the policy reads: the fields are checked even when not built.
        for parts: EnvoyInput.Parts in [.all, []] {
            do {
                _ = try EnvoyInput.parse(bytes, building: parts)
                Issue.record("expected \(message)")
            } catch {
                #expect(error.description == message)
            }
        }
        // The generated decoder refuses them too.
        #expect(throws: (any Error).self) { try Envoy_Service_Auth_V3_CheckRequest(serializedBytes: bytes) }
    }
}
