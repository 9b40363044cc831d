import Foundation
import Testing
@testable import Rego

/// Runs every case in `Golden/*.json` (OPA's conformance schema: note, modules, data,
/// input, query, want_result or want_error_code) against the core engine.
struct GoldenTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let file: String
        let fields: RegoObject
        var note: String { if case .string(let s)? = fields["note"] { return s }; return "?" }
        var testDescription: String { "\(file): \(note)" }
    }

    static func loadCases() -> [Case] {
        guard let dir = Bundle.module.url(forResource: "Golden", withExtension: nil),
              let files = try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil) else { return [] }
        var out: [Case] = []
        for url in files.sorted(by: { $0.path < $1.path }) where url.pathExtension == "json" {
            guard let text = try? String(contentsOf: url, encoding: .utf8), case .array(let items)? = try? Value.parseJSON(text) else {
                out.append(Case(file: url.lastPathComponent, fields: RegoObject(fields: ["note": .string("unreadable golden file")])))
                continue
            }
            for item in items { if case .object(let o) = item { out.append(Case(file: url.lastPathComponent, fields: o)) } }
        }
        return out
    }

    @Test("golden file cases", arguments: loadCases())
    func golden(_ c: Case) throws {
        var sources: [Source] = []
        if case .array(let mods)? = c.fields["modules"] {
            for (i, m) in mods.enumerated() { if case .string(let s) = m { sources.append(Source(name: "case-\(i).rego", text: s)) } }
        }
        guard case .string(let query)? = c.fields["query"] else { Issue.record("case has no query"); return }
        let wantCode: String? = { if case .string(let s)? = c.fields["want_error_code"] { return s }; return nil }()
        var options = EvalOptions()
        options.strictBuiltinErrors = c.fields["strict_error"] == .true
        options.nowNs = 1_700_000_000_000_000_000
        do {
            let policy = try Rego.compile(sources: sources, data: c.fields["data"] ?? .emptyObject)
            let prepared = try Rego.prepare(query: query, policy: policy)
            let results = try prepared.evaluate(input: c.fields["input"], options: options)
            if let wantCode { Issue.record("expected \(wantCode), got \(results.count) result(s)"); return }
            // Compare as JSON, as `opa eval` prints results: sets become sorted arrays.
            let got = Set(try results.map { r in try Value.parseJSON(Value.object(RegoObject(r.bindings.map { (.string($0.name), $0.value) })).jsonString()) })
            guard case .array(let want)? = c.fields["want_result"] else { Issue.record("case has neither want_result nor want_error_code"); return }
            #expect(got == Set(want), "got \(got.map(\.regoText))")
        } catch let e as RegoErrors {
            #expect(wantCode != nil && e.errors.contains { $0.code.rawValue == wantCode }, "unexpected \(e)")
        } catch let e as RegoError {
            #expect(e.code.rawValue == wantCode, "unexpected \(e)")
        }
    }
}
