public import ExtAuthz
public import Rego
import RegoLoader
import Synchronization

/// The policy being enforced, swapped whole: a request sees either the old policy or the
/// new one, never a mix, and a policy that fails to compile never replaces a good one.
public final class PolicyStore: Sendable {
    /// A class, not a struct: every Check takes the current one, and a reference is one
    /// retain where a struct's copy is one per field.
    public final class Loaded: Sendable {
        public let policy: CompiledPolicy
        /// Bundle revisions, joined, for the decision log.
        public let revision: String
        /// The policy sources, to quote lines in error reports.
        public let sources: [String: Source]
        /// Whether the policy defines OPA's `system.log.mask` (looked up once, not per Check).
        public let definesLogMask: Bool
        /// The decision path resolved in this policy's rule tree, and the parts of the
        /// input evaluating it can read: worked out once per policy, so that the Check path
        /// neither looks the path up by name nor builds input the policy never reads. nil
        /// when no decision path was given.
        public let decision: PreparedDecision?

        public struct PreparedDecision: Sendable {
            public let document: CompiledPolicy.Document
            public let inputParts: EnvoyInput.Parts
        }

        init(policy: CompiledPolicy, revision: String, sources: [String: Source], decisionPath: [String]?) {
            self.policy = policy
            self.revision = revision
            self.sources = sources
            self.definesLogMask = policy.hasDocument(Loaded.logMaskPath)
            self.decision = decisionPath.map { path in
                PreparedDecision(document: policy.document(at: path), inputParts: EnvoyInput.Parts(policy.inputReads(forDocument: path)))
            }
        }

        /// What was prepared for the decision at `path`, or nil when it was prepared for
        /// another path (or none): then the caller evaluates by path and builds all input.
        public func decision(at path: [String]) -> PreparedDecision? {
            guard let decision, decision.document.path == path else { return nil }
            return decision
        }

        /// OPA's decision-log mask rule.
        static let logMaskPath = ["system", "log", "mask"]
    }

    private let current: Mutex<Loaded>

    public init(_ loaded: Loaded) { current = Mutex(loaded) }

    public var loaded: Loaded { current.withLock { $0 } }

    public func replace(with next: Loaded) { current.withLock { $0 = next } }

    /// Loads and compiles bundles and paths; errors carry file:line:col. The server requires
    /// at least one policy file; `warden eval` may query data alone. `decisionPath`, the
    /// document the server evaluates, lets the Check path build only the input it reads.
    public static func load(bundles: [String], paths: [String], requirePolicies: Bool = true,
                            decisionPath: [String]? = nil) throws(PolicyLoadError) -> Loaded {
        var loader = PolicyLoader()
        do {
            for b in bundles { try loader.add(bundle: b) }
            for p in paths { try loader.add(path: p) }
        } catch {
            throw PolicyLoadError(errors: [RegoError(.compile, "\(error)")], sources: [:])
        }
        let sources = Dictionary(loader.sources.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        if requirePolicies && loader.sources.isEmpty {
            throw PolicyLoadError(errors: [RegoError(.compile, "no policy files (.rego) found in \((bundles + paths).joined(separator: ", "))")], sources: sources)
        }
        do {
            let policy = try Rego.compile(sources: loader.sources, data: loader.data, builtins: WardenBuiltins.registry)
            let revision = loader.manifests.map(\.revision).filter { !$0.isEmpty }.joined(separator: ",")
            return Loaded(policy: policy, revision: revision, sources: sources, decisionPath: decisionPath)
        } catch {
            throw PolicyLoadError(errors: error.errors, sources: sources)
        }
    }
}

public struct PolicyLoadError: Error, CustomStringConvertible {
    public let errors: [RegoError]
    public let sources: [String: Source]
    public var description: String { errors.map { $0.rendered(sources: sources) }.joined(separator: "\n") }
}
