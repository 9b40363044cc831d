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
        #expect(EnvoyInput.parsedQuery("a=1&a=2&b=x+y&c") == (try! Value.parseJSON(#"{"a":["1","2"],"b":["x y"],"c":[""]}"#)))
    }
}
