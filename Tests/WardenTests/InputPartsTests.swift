import EnvoyProto
import ExtAuthz
import Foundation
import Rego
import SwiftProtobuf
import Testing
@testable import Warden

/// The Check path builds only the input its decision reads (`PolicyStore.Loaded.decision(at:)`),
/// so the decision must see every member it reads, whatever the policy was loaded for.
struct InputPartsTests {
    static let policy = """
        package t
        import rego.v1

        by_method if input.attributes.request.http.method == "GET"
        by_header if input.attributes.request.http.headers["x-ok"] == "yes"
        """

    func decide(loadedFor: String, deciding: String) throws -> Bool {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("input-parts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.policy.write(to: dir.appendingPathComponent("t.rego"), atomically: true, encoding: .utf8)
        var config = WardenConfig()
        config.logDecisions = false
        config.decision = deciding
        let loaded = try PolicyStore.load(bundles: [], paths: [dir.path], decisionPath: loadedFor.split(separator: "/").map(String.init))
        let pipeline = DecisionPipeline(store: PolicyStore(loaded), config: config, log: EventLog(level: .error))
        var request = Envoy_Service_Auth_V3_CheckRequest()
        request.attributes.request.http.method = "POST"
        request.attributes.request.http.headers = ["x-ok": "yes"]
        return pipeline.check(try request.serializedBytes()).allowed
    }

    @Test func theDecisionSeesWhatItReads() throws {
        #expect(try decide(loadedFor: "t/by_header", deciding: "t/by_header"))
        #expect(try !decide(loadedFor: "t/by_method", deciding: "t/by_method"))
    }

    /// Parts worked out for another decision path are not trusted: everything is built.
    @Test func partsForAnotherDecisionAreNotUsed() throws {
        #expect(try decide(loadedFor: "t/by_method", deciding: "t/by_header"))
    }
}
