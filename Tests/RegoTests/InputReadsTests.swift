import Testing
@testable import Rego

/// `CompiledPolicy.inputReads`: which parts of `input` a decision can read. The Check path
/// builds only those, so a part missed here would read as undefined: each case names what
/// must be kept, and the whole input wherever the analysis cannot tell.
struct InputReadsTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let note: String
        let policy: String
        let path: String
        /// `true`: the whole input; an object: those members, each with what is read below.
        let want: String
        var testDescription: String { note }
    }

    static let cases: [Case] = [
        Case(note: "constant references read their paths", policy: """
            package p
            allow if { input.a.b == 1; input.c }
            """, path: "p/allow", want: #"{"a": {"b": true}, "c": true}"#),
        Case(note: "a variable key reads everything below the constant prefix", policy: """
            package p
            allow if { some k; input.a.b[k].c == 1 }
            """, path: "p/allow", want: #"{"a": {"b": true}}"#),
        Case(note: "input on its own reads everything", policy: """
            package p
            allow if { x := input; x.a }
            """, path: "p/allow", want: "true"),
        Case(note: "a rule aliasing an input reference reads what its users read", policy: """
            package p
            http := input.attributes.request.http
            allow if { http.method == "GET"; http.headers["x-a"] }
            """, path: "p/allow", want: #"{"attributes": {"request": {"http": {"headers": {"x-a": true}, "method": true}}}}"#),
        Case(note: "an alias used whole reads its path whole", policy: """
            package p
            http := input.attributes.request.http
            allow if { count(http) > 0 }
            """, path: "p/allow", want: #"{"attributes": {"request": {"http": true}}}"#),
        Case(note: "an alias with a variable key reads its path whole", policy: """
            package p
            http := input.attributes.request.http
            allow if { some k; http[k] }
            """, path: "p/allow", want: #"{"attributes": {"request": {"http": true}}}"#),
        Case(note: "alias bodies and else branches are read", policy: """
            package p
            h := input.x if input.flag else := input.y
            allow if h.z
            """, path: "p/allow", want: #"{"flag": true, "x": {"z": true}, "y": {"z": true}}"#),
        Case(note: "a rule computing from input is not an alias: its references count as written", policy: """
            package p
            h := object.union(input.x, {})
            allow if h.z
            """, path: "p/allow", want: #"{"x": true}"#),
        Case(note: "rules the decision does not reach are not read", policy: """
            package p
            allow if input.a
            other if input.b
            """, path: "p/allow", want: #"{"a": true}"#),
        Case(note: "a decision on a package reaches all its rules, aliases whole", policy: """
            package p
            http := input.http
            allow if input.a
            """, path: "p", want: #"{"a": true, "http": true}"#),
        Case(note: "functions and their arguments are followed", policy: """
            package p
            f(x) := y if y := input.m[x]
            allow if f(input.k)
            """, path: "p/allow", want: #"{"k": true, "m": true}"#),
        Case(note: "rules in other packages are followed through data references", policy: """
            package p
            import data.q
            allow if q.ok
            """ + "\npackage q\nok if input.z\n", path: "p/allow", want: #"{"z": true}"#),
        Case(note: "a data reference with a variable key may reach any rule", policy: """
            package p
            allow if { some k; data.p[k] == true }
            other if input.b
            """, path: "p/allow", want: #"{"b": true}"#),
        Case(note: "with targets are not reads; with values are", policy: """
            package p
            allow if q with input as {"a": input.v}
            q if input.a
            """, path: "p/allow", want: #"{"a": true, "v": true}"#),
        Case(note: "comprehensions, every and templates are read", policy: """
            package p
            allow if {
                xs := [x | some x in input.xs]
                every y in input.ys { y > input.min }
                $"{input.name}" != ""
                count(xs) > 0
            }
            """, path: "p/allow", want: #"{"min": true, "name": true, "xs": true, "ys": true}"#),
        Case(note: "imports of input resolve to their paths", policy: """
            package p
            import input.attributes.request.http as req
            allow if req.method == "GET"
            """, path: "p/allow", want: #"{"attributes": {"request": {"http": {"method": true}}}}"#),
        Case(note: "a rule's value includes the rules below it", policy: """
            package p
            q[k] := 1 if some k in input.keys
            q.b := input.x
            """, path: "p/q", want: #"{"keys": true, "x": true}"#),
        Case(note: "a path past a rule's value is an alias use", policy: """
            package p
            http := input.http
            """, path: "p/http/method", want: #"{"http": {"method": true}}"#),
    ]

    @Test("input reads", arguments: cases)
    func reads(_ c: Case) throws {
        let sources = c.policy.components(separatedBy: "\npackage ").enumerated().map { i, text in
            Source(name: "m\(i).rego", text: i == 0 ? text : "package " + text)
        }
        let policy = try Rego.compile(sources: sources)
        let got = InputReadsTests.value(policy.inputReads(forDocument: c.path.split(separator: "/").map(String.init)))
        #expect(got == (try Value.parseJSON(c.want)), "\(got.jsonString())")
    }

    static func value(_ reads: InputReads) -> Value {
        switch reads {
        case .whole: return .true
        case .members(let m): return .object(RegoObject(fields: m.mapValues(value)))
        }
    }
}
