import Dispatch
import Synchronization
import Testing
@testable import Rego

/// Evaluations borrow their per-node tables from the policy and builtins are found by the
/// slot the compiler gave them: neither may leak one evaluation into the next.
struct EvaluationReuseTests {
    static let policy = """
        package p
        import rego.v1

        x := input.a
        y := x + 1
        z if input.b
        conflict := 1 if input.clash
        conflict := 2 if input.clash
        nested := v if v := y with input.a as 100
        """

    func compile(_ text: String, builtins: BuiltinRegistry = .core) throws -> CompiledPolicy {
        try Rego.compile(sources: [Source(name: "p.rego", text: text)], builtins: builtins)
    }

    func input(_ fields: [String: Value]) -> Value { .object(RegoObject(fields: fields)) }

    @Test func eachEvaluationStartsWithAnEmptyRuleCache() throws {
        let policy = try compile(Self.policy)
        for a in 0..<5 {
            #expect(try policy.evaluate(path: ["p", "y"], input: input(["a": .int(a)])) == .int(a + 1))
            #expect(try policy.evaluate(path: ["p", "z"], input: input(["a": .int(a), "b": .bool(a % 2 == 0)])) == (a % 2 == 0 ? .true : nil))
        }
    }

    /// A resolved document is the path's value in its own policy, and in another policy
    /// (after a reload) that policy's value at the same path, never a node of the first.
    @Test func aResolvedDocumentEvaluatesOnlyInItsOwnTree() throws {
        let first = try compile(Self.policy)
        let y = first.document(at: ["p", "y"])
        #expect(try first.evaluate(y, input: input(["a": .int(1)])) == .int(2))
        // A smaller tree, with `y` at another node: the first policy's node would be wrong.
        let reloaded = try compile("package p\nq := 0\ny := 42\n")
        #expect(try reloaded.evaluate(y, input: input(["a": .int(1)])) == .int(42))
        #expect(try first.evaluate(first.document(at: ["p", "missing"]), input: nil) == nil)
    }

    @Test func anEvaluationThatFailsLeavesNothingBehind() throws {
        let policy = try compile(Self.policy)
        #expect(throws: RegoError.self) { try policy.evaluate(path: ["p", "conflict"], input: input(["clash": .true])) }
        #expect(try policy.evaluate(path: ["p", "conflict"], input: input([:])) == nil)
        #expect(try policy.evaluate(path: ["p", "y"], input: input(["a": .int(7)])) == .int(8))
    }

    @Test func withKeepsItsOwnCache() throws {
        let policy = try compile(Self.policy)
        let doc = try policy.evaluate(path: ["p"], input: input(["a": .int(1)]))
        guard case .object(let o)? = doc else { Issue.record("no document: \(String(describing: doc))"); return }
        #expect(o["y"] == .int(2))
        #expect(o["nested"] == .int(101))
        #expect(try policy.evaluate(path: ["p", "y"], input: input(["a": .int(1)])) == .int(2))
    }

    @Test func concurrentEvaluationsDoNotShareTables() throws {
        let policy = try compile(Self.policy)
        let wrong = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            for round in 0..<50 {
                let a = i * 1000 + round
                let got = try? policy.evaluate(path: ["p", "y"], input: .object(RegoObject(fields: ["a": .int(a)])))
                if got != .int(a + 1) { wrong.add(1, ordering: .relaxed) }
            }
        }
        #expect(wrong.load(ordering: .relaxed) == 0)
    }

    @Test func aBuiltinRegisteredAgainReplacesTheOneInItsSlot() throws {
        var registry = BuiltinRegistry.core
        registry.register(Builtin("custom.answer", arity: 0) { _, _ in .int(1) })
        registry.register(Builtin("custom.answer", arity: 0) { _, _ in .int(42) })
        let policy = try compile("package p\nr := custom.answer()\ns := count([1, 2, 3])", builtins: registry)
        #expect(try policy.evaluate(path: ["p", "r"], input: nil) == .int(42))
        #expect(try policy.evaluate(path: ["p", "s"], input: nil) == .int(3))
        #expect(registry.names.filter { $0 == "custom.answer" }.count == 1)
    }

    @Test func aMockedBuiltinIsCalledInsteadOfTheSlot() throws {
        let policy = try compile("package p\nr := c if c := count([1, 2, 3]) with count as 7\nf(_) := 9\ns := c if c := count([1]) with count as f")
        #expect(try policy.evaluate(path: ["p", "r"], input: nil) == .int(7))
        #expect(try policy.evaluate(path: ["p", "s"], input: nil) == .int(9))
    }
}
