import EnvoyProto
import Foundation
import Rego
import SwiftProtobuf
import Testing
@testable import ExtAuthz

/// CheckRequests captured from a real Envoy 1.40 (scripts/capture_envoy_requests.py), each
/// with the OPA-Envoy input computed independently by protobuf's json_format in Python.
struct EnvoyInputGoldenTests {
    static var names: [String] {
        guard let dir = Bundle.module.url(forResource: "Golden", withExtension: nil),
              let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        return files.filter { $0.hasSuffix(".request.json") }.map { String($0.dropLast(".request.json".count)) }.sorted()
    }

    static func read(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: "Golden/\(name)", withExtension: nil))
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test("input matches OPA-Envoy's", arguments: names)
    func inputMatches(_ name: String) throws {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        let request = try Envoy_Service_Auth_V3_CheckRequest(jsonString: try Self.read("\(name).request.json"), options: options)
        // Serialized by the generated messages, read by Warden's own decoder.
        let got = try EnvoyInput.parse(try request.serializedBytes()).input(agent: nil)
        let want = try Value.parseJSON(try Self.read("\(name).input.json"))
        #expect(got == want, "\(name): got \(got.jsonString())")
    }
}

struct EnvoyDecisionTests {
    @Test func booleanDecisions() throws {
        #expect(try EnvoyDecision.decision(from: .true).allowed)
        #expect(try !EnvoyDecision.decision(from: .false).allowed)
    }

    @Test func objectDecisionMapsEveryField() throws {
        let result = try Value.parseJSON("""
            {"allowed": false, "http_status": 429, "body": "slow down", "headers": {"retry-after": "5", "x-a": ["1", "2"]},
             "dynamic_metadata": {"tier": 2}}
            """)
        let d = try EnvoyDecision.decision(from: result)
        let r = EnvoyDecision.checkResponse(d, decisionID: "id-1")
        #expect(r.status.code == 7)
        guard case .deniedResponse(let denied)? = r.httpResponse else { Issue.record("expected a denial"); return }
        #expect(denied.status.code.rawValue == 429)
        #expect(denied.body == "slow down")
        #expect(denied.headers.map { "\($0.header.key)=\($0.header.value)" } == ["retry-after=5", "x-a=1", "x-a=2", "x-warden-decision-id=id-1"])
        #expect(r.dynamicMetadata.fields["decision_id"]?.stringValue == "id-1")
        #expect(r.dynamicMetadata.fields["tier"]?.numberValue == 2)
    }

    @Test func allowedObjectCarriesUpstreamChanges() throws {
        let result = try Value.parseJSON("""
            {"allowed": true, "headers": {"x-agent": "bot"}, "request_headers_to_remove": ["authorization"],
             "response_headers_to_add": {"x-trace": "t"}, "query_parameters_to_set": {"v": "2"}, "query_parameters_to_remove": ["debug"]}
            """)
        let r = EnvoyDecision.checkResponse(try EnvoyDecision.decision(from: result), decisionID: "id-2")
        #expect(r.status.code == 0)
        guard case .okResponse(let ok)? = r.httpResponse else { Issue.record("expected OK"); return }
        #expect(ok.headers.first?.header.key == "x-agent")
        #expect(ok.headersToRemove == ["authorization"])
        #expect(ok.responseHeadersToAdd.map(\.header.key) == ["x-trace", "x-warden-decision-id"])
        #expect(ok.queryParametersToSet.first?.key == "v")
        #expect(ok.queryParametersToRemove == ["debug"])
    }

    @Test(arguments: [
        ("null", "the decision must be a boolean or an object, got null"),
        (#"{"headers": {}}"#, #"the decision object has no "allowed" field"#),
        (#"{"allowed": "yes"}"#, #""allowed" must be a boolean, got string"#),
        (#"{"allowed": false, "http_status": 99}"#, #""http_status" must be an integer HTTP status (100-599), got 99"#),
        (#"{"allowed": true, "headers": {"a": 1}}"#, #""headers".a must be a string or an array of strings, got number"#),
    ])
    func malformedDecisionsSayWhy(_ json: String, _ message: String) throws {
        #expect(throws: MalformedDecision.self) { try EnvoyDecision.decision(from: try Value.parseJSON(json)) }
        let value = try Value.parseJSON(json)
        do { _ = try EnvoyDecision.decision(from: value) } catch { #expect(error.description == message) }
    }

    @Test func undefinedDecisionIsMalformed() {
        #expect(throws: MalformedDecision.self) { try EnvoyDecision.decision(from: nil) }
    }

    @Test func parsedPathAndQuery() {
        #expect(EnvoyInput.parsedPath("/a/b%20c/") == ["a", "b c", ""])
        #expect(EnvoyInput.parsedPath("/") == [""])
        #expect(EnvoyInput.parsedPath("") == [""])
        #expect(EnvoyInput.parsedPath("//tools//search") == ["tools", "", "search"])
        #expect(EnvoyInput.parsedPath("/a+b/%2Fx/%zz/caf%C3%A9") == ["a+b", "/x", "%zz", "café"])
        #expect(EnvoyInput.parsedQuery("a=1&a=2&b=x+y&c") == (try! Value.parseJSON(#"{"a":["1","2"],"b":["x y"],"c":[""]}"#)))
    }

    @Test(arguments: [
        ("/tools/search", "/tools/search", ""), ("/a?b=1?c", "/a", "b=1?c"), ("/a?", "/a", ""), ("?q", "", "q"),
        ("/a#f?x", "/a", ""), ("/a?q=1#f", "/a", "q=1"), ("", "", ""), ("/é?ü=1", "/é", "ü=1"),
    ])
    func pathAndQuerySplitAtTheFirstQuestionMarkBeforeAnyFragment(_ raw: String, _ path: String, _ query: String) {
        let (p, q) = EnvoyInput.splitPathAndQuery(raw)
        #expect(p == path && q == query)
    }
}

/// The serve path writes CheckResponses itself (`EnvoyDecision.responseBytes`); the
/// generated message (`EnvoyDecision.checkResponse`) is the reference it must agree with.
struct CheckResponseWriterTests {
    static let decisions: [(String, String)] = [
        ("plain allow", "true"),
        ("plain deny", "false"),
        ("allow with every upstream change", """
            {"allowed": true, "headers": {"x-agent": "bot", "x-multi": ["1", "2"]}, "request_headers_to_remove": ["authorization", "cookie"],
             "response_headers_to_add": {"x-trace": "t"}, "query_parameters_to_set": {"v": "2", "empty": ""},
             "query_parameters_to_remove": ["debug"], "dynamic_metadata": {"tier": 2}}
            """),
        ("deny with status, headers and body", """
            {"allowed": false, "http_status": 429, "body": "slow down", "headers": {"retry-after": "5", "x-a": ["1", "2"]}}
            """),
        ("deny with an empty body and no status", #"{"allowed": false, "body": ""}"#),
        ("metadata of every kind", """
            {"allowed": true, "dynamic_metadata": {"n": null, "t": true, "f": false, "zero": 0, "pi": 3.25, "neg": -7, "big": 12345678901234,
             "s": "", "u": "ünïcödé ✓", "list": [1, "two", [3], {"four": 4}], "nested": {"a": {"b": {"c": []}}}, "empty": {}}}
            """),
        ("a header value over 127 bytes", #"{"allowed": true, "headers": {"x-long": "\#(String(repeating: "v", count: 200))"}}"#),
        ("a body over 16 KiB", #"{"allowed": false, "http_status": 403, "body": "\#(String(repeating: "b", count: 20_000))"}"#),
    ]

    @Test("the written bytes decode to the generated message", arguments: decisions)
    func writtenBytesMatchTheGeneratedMessage(_ name: String, _ json: String) throws {
        let d = try EnvoyDecision.decision(from: try Value.parseJSON(json))
        let written = EnvoyDecision.responseBytes(d, decisionID: "0190b6c2-5d7e-7000-8000-000000000001")
        let decoded = try Envoy_Service_Auth_V3_CheckResponse(serializedBytes: written)
        #expect(decoded == EnvoyDecision.checkResponse(d, decisionID: "0190b6c2-5d7e-7000-8000-000000000001"), "\(name)")
    }

    @Test func setsAndNonStringKeysInMetadata() throws {
        var d = Decision(allowed: true)
        d.dynamicMetadata = RegoObject([(.string("set"), .set(RegoSet([.int(2), .int(1)]))), (.int(1), .string("one"))])
        let decoded = try Envoy_Service_Auth_V3_CheckResponse(serializedBytes: EnvoyDecision.responseBytes(d, decisionID: "id"))
        #expect(decoded == EnvoyDecision.checkResponse(d, decisionID: "id"))
        #expect(decoded.dynamicMetadata.fields["1"]?.stringValue == "one")
    }

    @Test func wardensOwnDenials() throws {
        let answers = [
            EnvoyDecision.badRequest("attributes.request: truncated", decisionID: "id"),
            EnvoyDecision.identityRefusal(code: "token_expired", status: 401, reason: "the token expired", next: "mint a new one",
                                          agentID: "agent/x@t", decisionID: "id"),
            EnvoyDecision.policyFailure(decisionID: "id"),
            EnvoyDecision.auditUnavailable(decisionID: "id"),
        ]
        for d in answers {
            let decoded = try Envoy_Service_Auth_V3_CheckResponse(serializedBytes: EnvoyDecision.responseBytes(d, decisionID: "id"))
            #expect(decoded == EnvoyDecision.checkResponse(d, decisionID: "id"))
            guard case .deniedResponse(let denied)? = decoded.httpResponse else { Issue.record("expected a denial"); continue }
            #expect(denied.headers.contains { $0.header.key == "x-warden-decision-id" && $0.header.value == "id" })
        }
    }
}
