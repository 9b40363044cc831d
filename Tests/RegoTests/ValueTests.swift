import Testing
@testable import Rego

struct ValueTests {
    @Test func ordersAcrossTypesLikeOPA() {
        let ordered: [Value] = [.null, .false, .true, .int(-1), .int(2), .string("a"), .array([]), .emptyObject, .emptySet]
        for i in 0..<ordered.count - 1 {
            #expect(Value.compare(ordered[i], ordered[i + 1]) < 0, "\(ordered[i].regoText) < \(ordered[i + 1].regoText)")
        }
    }

    @Test func numbersCompareExactly() throws {
        let big = try #require(Number(text: "123456789012345678901234567890"))
        let bigger = try #require(Number(text: "123456789012345678901234567891"))
        #expect(big < bigger)
        #expect(Number(text: "1")! == Number(text: "1.0")!)
        #expect(Number(text: "1e3")! == .int(1000))
        #expect(big.description == "123456789012345678901234567890")
    }

    @Test func jsonRoundTripKeepsNumbersAndOrder() throws {
        let text = #"{"b":[1,2.5,123456789012345678901234567890],"a":{"x":null,"y":"\u00e9\n"}}"#
        let v = try Value.parseJSON(text)
        #expect(v.jsonString() == #"{"a":{"x":null,"y":"é\n"},"b":[1,2.5,123456789012345678901234567890]}"#)
    }

    @Test func jsonRefusesDuplicateKeysWhenAsked() {
        #expect(throws: JSONError.self) { try Value.parseJSON(#"{"exp":1,"exp":2}"#, rejectDuplicateKeys: true) }
        #expect((try? Value.parseJSON(#"{"exp":1,"exp":2}"#)) == .object(RegoObject(fields: ["exp": .int(2)])))
    }

    @Test func jsonBoundsNesting() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONError.self) { try Value.parseJSON(deep) }
    }

    @Test func setsAreSortedAndUnique() {
        let s = RegoSet([.int(3), .int(1), .int(3), .string("a")])
        #expect(s.elements == [.int(1), .int(3), .string("a")])
        #expect(Value.set(s).regoText == #"{1, 3, "a"}"#)
    }
}

struct ErrorLocationTests {
    @Test func parseErrorsNameFileLineAndColumn() {
        do {
            _ = try Rego.compile(sources: [Source(name: "policy.rego", text: "package p\n\nallow if {\n  input.x ==\n}\n")])
            Issue.record("expected a parse error")
        } catch {
            let e = error.errors[0]
            #expect(e.code == .parse)
            #expect(e.location?.file == "policy.rego")
            #expect(e.location?.row == 5)
        }
    }

    @Test func renderedErrorsQuoteTheLine() {
        let src = Source(name: "p.rego", text: "package p\nallow if { x > 1 }\n")
        do {
            _ = try Rego.compile(sources: [src])
            Issue.record("expected an unsafe variable error")
        } catch {
            let text = error.errors[0].rendered(sources: ["p.rego": src])
            #expect(text.contains("p.rego:2:12: rego_unsafe_var_error: var x is unsafe"))
            #expect(text.contains("allow if { x > 1 }"))
        }
    }

    @Test func stepLimitStopsRunawayEvaluation() throws {
        let policy = try Rego.compile(sources: [Source(name: "p.rego", text: "package p\nn := count([x | some x in numbers.range(1, 100000)])\n")])
        var options = EvalOptions()
        options.maxSteps = 1000
        #expect(throws: RegoError.self) { try policy.evaluate(path: ["p", "n"], input: nil, options: options) }
    }
}

struct ObjectBuildingTests {
    @Test(arguments: [5, 40])
    func aRepeatedKeyKeepsItsLastValueWhateverTheSize(_ n: Int) {
        // Small objects are built by insertion, large ones by sorting: the same result.
        var pairs: [(String, Value)] = (0..<n).reversed().map { ("k\($0)", .int($0)) }
        pairs.append(("k1", .string("last")))
        let o = RegoObject(stringKeysLastWins: pairs)
        #expect(o.count == n)
        #expect(o["k1"] == .string("last"))
        #expect(o.keys == (0..<n).map { "k\($0)" }.sorted(by: Value.utf8Precedes).map { .string($0) })
    }

    @Test func entriesOutOfOrderAreSortedAndInOrderKeptAsGiven() {
        // Decoders promise key order; the object checks the promise rather than trust it.
        let entries = ["b", "a", "é", "B"].map { RegoObject.Entry(key: .string($0), value: .string($0)) }
        let o = RegoObject(stringKeyedEntries: entries)
        #expect(o.keys == ["B", "a", "b", "é"].map { .string($0) })
        #expect(o["a"] == .string("a"))
        let again = RegoObject(stringKeyedEntries: o.entries)
        #expect(again == o)
        #expect(again["é"] == .string("é"))
    }
}

struct LocationTests {
    @Test func aLocationNamesItsFileThroughTheInternedName() {
        let a = Location(file: "policies/envoy/authz.rego", row: 3, col: 7)
        let b = Location(file: "policies/envoy/authz.rego", row: 3, col: 7)
        #expect(a == b)
        #expect(a.description == "policies/envoy/authz.rego:3:7")
        #expect(Location(file: "", row: 1, col: 2).description == "1:2")
        #expect(Location(file: "other.rego", row: 3, col: 7) != a)
    }
}

struct QueryTests {
    @Test func aTermWithModifiersReportsItsValue() throws {
        let policy = try Rego.compile(sources: [Source(name: "p.rego", text: "package t\np := input.a\n")])
        let results = try Rego.prepare(query: "data.t.p with input as {\"a\": 7}", policy: policy).evaluate(input: nil)
        #expect(results.first?.expressions.first?.value == .int(7))
    }
}

/// The byte-level writers on the decision-log path, against the plain ways to say the same.
struct WriterTests {
    @Test(arguments: [
        (0, 0, "1970-01-01T00:00:00Z"),
        (1_795_350_000, 5_000_000, "2026-11-22T12:20:00.005Z"),
        (1_795_350_000, 120_000, "2026-11-22T12:20:00.000120Z"),
        (1_795_350_000, 123_456_789, "2026-11-22T12:20:00.123456789Z"),
        (1_795_350_000, 100_000_000, "2026-11-22T12:20:00.100Z"),
        (-1, 0, "1969-12-31T23:59:59Z"),
        (253_402_300_799, 0, "9999-12-31T23:59:59Z"),
    ])
    func rfc3339(_ seconds: Int, _ nanos: Int, _ text: String) {
        #expect(RFC3339.format(seconds: seconds, nanos: nanos) == text)
    }

    @Test func rfc3339WritesFractionsInGroupsOfThreeDigits() {
        // Milli-, micro- or nanoseconds, whichever is exact (as Envoy's protojson timestamps).
        #expect(RFC3339.format(seconds: 0, nanos: 1) == "1970-01-01T00:00:00.000000001Z")
        #expect(RFC3339.format(seconds: 0, nanos: 1000) == "1970-01-01T00:00:00.000001Z")
    }

    @Test func everyByteEscapesAsGoDoes() {
        // The writer's fast scan must agree with the character-by-character escaper.
        var text = ""
        for b in 0..<0x80 { text.unicodeScalars.append(Unicode.Scalar(UInt8(b))) }
        text += "é\u{2028}x\u{2029}\u{2027}€<>&"
        var w = CompactJSONWriter()
        w.writeString(text)
        var plain = ""
        Value.writeJSONString(text, into: &plain)
        #expect(w.text == plain)
    }

    @Test func escapesAreFoundAtEveryOffsetOfTheWordScan() {
        // The scan skips eight clean bytes at a time: each byte that must be escaped, and
        // its neighbours that must not (0x24, 0x27, 0x3D, 0x3F, 0x5D, 0xE3 and a 0xE2 that
        // starts neither separator), at every offset of a word, after and before clean runs.
        let specials = ["\"", "&", "<", ">", "\\", "\n", "\u{1F}", "\u{7F}", "\u{2028}", "\u{2029}", "€", "é",
                        "$", "'", "=", "?", "]", "\u{3000}"]
        for special in specials {
            for offset in 0..<17 {
                let text = String(repeating: "a", count: offset) + special + String(repeating: "b", count: 19) + special
                var w = CompactJSONWriter()
                w.writeString(text)
                var plain = ""
                Value.writeJSONString(text, into: &plain)
                #expect(w.text == plain, "\(special.unicodeScalars.map { $0.value }) at \(offset)")
            }
        }
    }

    @Test func membersGivenAsJSONAreWrittenAsGivenUnlessSomethingBelowIsOmitted() throws {
        let doc = try Value.parseJSON(#"{"agent": {"id": "a", "token": {"jti": "j"}}, "attributes": {"h": {"authorization": "x", "k": "v"}}}"#)
        let masks = JSONOmissions([["attributes", "h", "authorization"]])
        var plain = CompactJSONWriter()
        plain.write(doc, omitting: masks)
        var given = CompactJSONWriter()
        given.write(doc, omitting: masks, written: ("agent", doc["agent"]!.jsonString()))
        #expect(given.text == plain.text)
        #expect(plain.text == #"{"agent":{"id":"a","token":{"jti":"j"}},"attributes":{"h":{"k":"v"}}}"#)
        // A mask below the member wins over the given text.
        var masked = CompactJSONWriter()
        masked.write(doc, omitting: masks.adding([["agent", "token", "jti"]]), written: ("agent", "WRONG"))
        #expect(masked.text == #"{"agent":{"id":"a","token":{}},"attributes":{"h":{"k":"v"}}}"#)
    }

    @Test func omissionsReachIntoArraysAndAWholeMemberWinsOverPathsBelowIt() throws {
        let doc = try Value.parseJSON(#"{"a": [{"k": 1, "s": 2}, {"k": 3, "s": 4}], "b": {"c": {"d": 1}, "e": 2}, "n": -7}"#)
        let omissions = JSONOmissions([["a", "1", "s"], ["b", "c", "d"], ["b", "c"], ["a", "x"]])
        var w = CompactJSONWriter()
        w.write(doc, omitting: omissions)
        #expect(w.text == #"{"a":[{"k":1,"s":2},{"k":3}],"b":{"e":2},"n":-7}"#)
        #expect(omissions == JSONOmissions([["b", "c"], ["a", "x"], ["a", "1", "s"]]))
        #expect(omissions != JSONOmissions([["b", "c"]]))
        #expect(JSONOmissions().isEmpty && !omissions.isEmpty)
    }

    @Test(arguments: [0, 7, -7, 10, 1_000_000, Int.max, Int.min])
    func integersAreWrittenAsTheirDecimalText(_ i: Int) {
        var w = CompactJSONWriter()
        w.write(.int(i))
        #expect(w.text == String(i))
    }

    @Test func longDocumentsGrowTheBuffer() {
        let big = Value.array((0..<2000).map { .string("item \($0) <&>") })
        var w = CompactJSONWriter(capacity: 8)
        w.write(big)
        var plain = ""
        big.writeJSON(into: &plain, indent: nil, level: 0)
        #expect(w.text == plain)
        #expect(w.bytes.count == plain.utf8.count)
    }
}

struct Base64ErrorTests {
    /// Go's "illegal base64 data at input byte N", as OPA reports it (checked against its
    /// engine): the first character outside the alphabet, or where the last group is short.
    @Test(arguments: [
        ("ab+c", true, 2), ("ab/c", true, 2), ("ab-c", false, 2), ("ab_c", false, 2),
        ("ab*c", true, 2), ("abcde", false, 4), ("ab=c", false, 2),
    ])
    func theOffsetIsTheFirstCharacterOutsideTheAlphabet(_ text: String, _ url: Bool, _ offset: Int) {
        #expect(Base64.errorOffset(text, url: url) == offset)
    }
}
