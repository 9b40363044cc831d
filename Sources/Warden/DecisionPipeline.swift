public import AgentIdentity
public import EnvoyProto
import Rego
public import ExtAuthz
import Foundation
public import GRPCRuntime
import Store
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#endif

/// The Check path: bytes in, bytes out. It only sequences the pure pieces (decode, who is
/// calling, build the input, evaluate, map the decision, record it) and decides how each
/// can fail: closed.
public final class DecisionPipeline: Sendable {
    let store: PolicyStore
    let decisionPath: [String]
    let policyPath: String
    let evalOptions: EvalOptions
    let log: EventLog
    let logDecisions: Bool
    /// nil when identity checks are off (`identity.mode: off`).
    let identity: IdentityGate?
    /// Policies evaluated beside the enforced one, recorded and never enforced.
    let shadowBundles: [(name: String, store: PolicyStore)]
    /// `policy.mode: shadow`: nothing is enforced, every denial is recorded as would_block.
    let shadowEverything: Bool
    /// Globs over a reason's `rule`: a denial made only of these is recorded, not enforced.
    let shadowRules: [String]
    /// The decision log; nil when off.
    let audit: AuditSettings?

    /// How decisions reach the decision log.
    public struct AuditSettings: Sendable {
        public let spool: DecisionSpool
        /// `audit.on_spool_full: deny` refuses a request that cannot be recorded.
        public let denyWhenUnrecorded: Bool
        public let includeInput: Bool
        /// The JSON pointers (`/input/…`) removed from the logged input, as a tree of keys.
        let mask: JSONOmissions

        public init(spool: DecisionSpool, denyWhenUnrecorded: Bool, includeInput: Bool, mask: [String]) {
            self.spool = spool
            self.denyWhenUnrecorded = denyWhenUnrecorded
            self.includeInput = includeInput
            self.mask = JSONOmissions(mask.compactMap(DecisionPipeline.pointer))
        }
    }

    public init(store: PolicyStore, config: WardenConfig, log: EventLog, identity: IdentityGate? = nil,
                shadowBundles: [(name: String, store: PolicyStore)] = [], audit: AuditSettings? = nil) {
        self.store = store
        self.decisionPath = config.decisionPath
        self.policyPath = config.decisionPath.joined(separator: "/")
        var options = EvalOptions()
        options.maxSteps = config.maxEvalSteps
        self.evalOptions = options
        self.log = log
        self.logDecisions = config.logDecisions
        self.identity = identity
        self.shadowBundles = shadowBundles
        self.shadowEverything = config.shadowMode
        self.shadowRules = config.shadowRules
        self.audit = audit
    }

    /// The outcome of one Check, for the response and the log.
    public struct Outcome: Sendable {
        /// What Envoy is told: the policy's decision, or Warden's own denial.
        public let answer: Decision
        public let decisionID: String
        public let evalMicros: Int
        public let failure: String?

        public var allowed: Bool { answer.allowed }

        /// The CheckResponse as the generated message; the serve path writes the same
        /// message straight to bytes (`EnvoyDecision.responseBytes`).
        public var response: Envoy_Service_Auth_V3_CheckResponse { EnvoyDecision.checkResponse(answer, decisionID: decisionID) }
    }

    /// What the decision log records of one Check, filled in as the Check proceeds.
    struct Trail {
        var kind = "deny"
        var enforced = true
        var httpStatus: Int?
        var reasons: [Value] = []
        var shadow: [Value] = []
        var evalMicros = 0
        var failure: String?
        var admitted: AgentAdmission?
        var refusal: IdentityRefusal?
        var tool: String?
        /// The policy that decided (nil when none ran): its revision goes in the record and
        /// its `system.log.mask` applies, even if a reload swaps the policy meanwhile.
        var policy: PolicyStore.Loaded?

        /// The agent the decision log names: the admitted agent, or the subject of a refused
        /// token when it has the shape of an agent id. A token of an unknown agent is
        /// signed, not vetted: a subject with tabs or newlines must not shape a spool line.
        var recordedAgentID: String? {
            if let admitted { return admitted.record.id }
            guard let claimed = refusal?.agentID, (try? AgentManifest.validateID(claimed)) != nil else { return nil }
            return claimed
        }

        /// Who owns the agent, its tenant and the token's id: from the admission, or from a
        /// refusal that came after the registry lookup or the signature check.
        var recordedOwner: String? { admitted?.record.owner?.contact ?? refusal?.owner }
        var recordedTenant: String? { admitted?.record.tenant ?? refusal?.tenant }
        var recordedJTI: String? { admitted?.token.jti ?? refusal?.jti }
    }

    /// Serves `envoy.service.auth.v3.Authorization/Check`.
    public func handleCheck(_ bytes: [UInt8]) -> UnaryResponse {
        let outcome = check(bytes)
        return .ok(EnvoyDecision.responseBytes(outcome.answer, decisionID: outcome.decisionID))
    }

    public func check(_ bytes: [UInt8]) -> Outcome {
        let start = DecisionPipeline.monotonicMicros()
        let wallMicros = DecisionPipeline.wallClockMicros()
        let decisionID = DecisionID.next(nowMs: UInt64(wallMicros / 1000))
        var trail = Trail()
        // One snapshot of each policy for the whole Check: the input is built for what
        // these policies read, and these policies decide, even if a reload swaps them.
        let loaded = store.loaded
        let deciding = Deciding(loaded, at: decisionPath)
        let shadows = shadowBundles.isEmpty ? [] : shadowBundles.map { (name: $0.name, deciding: Deciding($0.store.loaded, at: decisionPath)) }
        var request: ParsedCheck
        do {
            request = try EnvoyInput.parse(bytes, building: inputParts(deciding, shadows))
        } catch {
            let reason = "the CheckRequest could not be decoded: \(error)"
            trail.failure = reason
            trail.httpStatus = 400
            trail.reasons = [.string(reason)]
            return finish(EnvoyDecision.badRequest(reason, decisionID: decisionID), decisionID, start, wallMicros, nil, nil, &trail)
        }

        // Who is calling, before any policy runs: no identity, no access.
        var agent: Value?
        if let identity {
            switch identity.authenticate(header: request.header(identity.rules.header), now: Int64(wallMicros / 1_000_000)) {
            case .refused(let r):
                trail.refusal = r
                trail.reasons = [.string("\(r.code): \(r.reason)")]
                if shadowEverything {
                    return finish(wouldBlock(&trail, source: "warden"), decisionID, start, wallMicros, request, nil, &trail)
                }
                trail.httpStatus = r.httpStatus
                let answer = EnvoyDecision.identityRefusal(code: r.code, status: r.httpStatus, reason: r.reason, next: r.next,
                                                           agentID: r.agentID, decisionID: decisionID)
                return finish(answer, decisionID, start, wallMicros, request, nil, &trail)
            case .admitted(let admitted):
                agent = admitted.agent
                trail.admitted = admitted
            }
        }
        let input = request.attachAgent(agent)
        trail.policy = loaded
        let evalStart = DecisionPipeline.monotonicMicros()
        let answer: Decision
        switch evaluate(deciding, input) {
        case .failure(let failure):
            trail.evalMicros = DecisionPipeline.monotonicMicros() - evalStart
            trail.failure = failure
            trail.reasons = [.string(failure)]
            trail.kind = "error"
            if shadowEverything {
                answer = wouldBlock(&trail, source: "warden")
            } else {
                trail.httpStatus = 500
                answer = EnvoyDecision.policyFailure(decisionID: decisionID)
            }
        case .success(let decision):
            trail.evalMicros = DecisionPipeline.monotonicMicros() - evalStart
            trail.tool = decision.tool
            trail.reasons = decision.reasons.map(DecisionPipeline.reasonValue)
            if decision.allowed {
                trail.kind = "allow"
                answer = decision
            } else {
                let inShadow = decision.reasons.filter { r in r.rule.map(isShadowRule) ?? false }
                if !decision.reasons.isEmpty && inShadow.count == decision.reasons.count {
                    answer = wouldBlock(&trail, source: "rule")
                } else if shadowEverything {
                    answer = wouldBlock(&trail, source: "warden")
                } else {
                    trail.kind = "deny"
                    trail.httpStatus = decision.httpStatus ?? 403
                    if !inShadow.isEmpty {
                        trail.shadow.append(shadowEntry(source: "rule", kind: "would_block", reasons: inShadow.map(DecisionPipeline.reasonValue)))
                    }
                    answer = decision
                }
            }
        }
        for (name, shadow) in shadows {
            switch evaluate(shadow, input) {
            case .failure(let failure):
                trail.shadow.append(shadowEntry(source: "bundle:" + name, kind: "error", reasons: [.string(failure)]))
            case .success(let d):
                trail.shadow.append(shadowEntry(source: "bundle:" + name, kind: d.allowed ? "allow" : "would_block",
                                                reasons: d.reasons.map(DecisionPipeline.reasonValue)))
            }
        }
        return finish(answer, decisionID, start, wallMicros, request, input, &trail)
    }

    /// The parts of the input to build: what the policies read, or all of it when the
    /// decision log records the input.
    func inputParts(_ deciding: Deciding, _ shadows: [(name: String, deciding: Deciding)]) -> EnvoyInput.Parts {
        if audit?.includeInput == true { return .all }
        var parts = deciding.prepared?.inputParts ?? .all
        for shadow in shadows { parts.formUnion(shadow.deciding.prepared?.inputParts ?? .all) }
        return parts
    }

    /// A policy as one Check uses it: what it prepared for this pipeline's decision path,
    /// looked up once per Check (nil when it was loaded for another path: then everything
    /// is built and the decision is evaluated by path).
    struct Deciding {
        let loaded: PolicyStore.Loaded
        let prepared: PolicyStore.Loaded.PreparedDecision?

        init(_ loaded: PolicyStore.Loaded, at path: [String]) {
            self.loaded = loaded
            self.prepared = loaded.decision(at: path)
        }
    }

    enum Evaluation {
        case success(Decision)
        case failure(String)
    }

    func evaluate(_ deciding: Deciding, _ input: Value) -> Evaluation {
        let result: Value?
        do {
            if let prepared = deciding.prepared {
                result = try deciding.loaded.policy.evaluate(prepared.document, input: input, options: evalOptions)
            } else {
                result = try deciding.loaded.policy.evaluate(path: decisionPath, input: input, options: evalOptions)
            }
        } catch {
            return .failure("policy error: \(error)")
        }
        do {
            return .success(try EnvoyDecision.decision(from: result))
        } catch {
            return .failure("malformed decision at \(policyPath): \(error.description)")
        }
    }

    /// A denial that is recorded and not enforced: Envoy lets the request through.
    func wouldBlock(_ trail: inout Trail, source: String) -> Decision {
        if trail.kind != "error" { trail.kind = "would_block" }
        trail.enforced = false
        trail.shadow.append(shadowEntry(source: source, kind: "would_block", reasons: trail.reasons))
        return Decision(allowed: true)
    }

    func shadowEntry(source: String, kind: String, reasons: [Value]) -> Value {
        .object(RegoObject(fields: ["source": .string(source), "decision": .string(kind), "reasons": .array(reasons)]))
    }

    func isShadowRule(_ rule: String) -> Bool {
        shadowRules.contains { pattern in DecisionPipeline.glob(pattern, rule) }
    }

    /// `*` matches any run of characters; everything else matches itself.
    static func glob(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi
                mark = ti
                pi += 1
            } else if pi < p.count && p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }

    static func reasonValue(_ r: Decision.Reason) -> Value {
        guard let rule = r.rule else { return .string(r.message) }
        return .object(RegoObject(fields: ["rule": .string(rule), "message": .string(r.message)]))
    }

    // MARK: - Recording

    func finish(_ answer: consuming Decision, _ id: String, _ start: Int, _ wallMicros: Int,
                _ request: ParsedCheck?, _ input: Value?, _ trail: inout Trail) -> Outcome {
        let total = DecisionPipeline.monotonicMicros() - start
        let allowed = answer.allowed
        if let audit {
            var line = CompactJSONWriter(capacity: 2048)
            line.writeRaw(PostgresAuditLog.spoolLinePrefix(decisionID: id, timeMicros: Int64(wallMicros), agentID: trail.recordedAgentID))
            writeAuditRecord(into: &line, id, wallMicros, total, request, input, trail, audit)
            if !line.withBytes({ audit.spool.append(bytes: $0) }) {
                let fields: [String: Value] = ["decision_id": .string(id), "backlog_bytes": .int(audit.spool.backlogBytes)]
                guard audit.denyWhenUnrecorded else {
                    // audit.on_spool_full: allow — the operator chose to act unrecorded; say so.
                    log.error("decision NOT recorded (the spool is full or unwritable); answered anyway (audit.on_spool_full: allow)", fields)
                    return Outcome(answer: answer, decisionID: id, evalMicros: trail.evalMicros, failure: trail.failure)
                }
                // Act recorded or not at all.
                log.error("decision denied: it could not be recorded (the spool is full or unwritable)", fields)
                return Outcome(answer: EnvoyDecision.auditUnavailable(decisionID: id), decisionID: id, evalMicros: trail.evalMicros,
                               failure: "audit unavailable")
            }
        }
        if logDecisions || trail.failure != nil {
            var fields: [String: Value] = [
                "decision_id": .string(id), "allowed": .bool(allowed), "decision": .string(trail.kind),
                "eval_us": .int(trail.evalMicros), "total_us": .int(total),
            ]
            if let http = request {
                fields["method"] = .string(http.method)
                fields["path"] = .string(http.path)
                fields["host"] = .string(http.host)
                if !http.id.isEmpty { fields["request_id"] = .string(http.id) }
            }
            if !allowed { fields["http_status"] = .int(answer.httpStatus ?? 403) }
            if let a = trail.admitted { fields["agent"] = .string(a.record.id) }
            if let owner = trail.recordedOwner { fields["owner"] = .string(owner) }
            if let jti = trail.recordedJTI { fields["jti"] = .string(jti) }
            if let r = trail.refusal {
                if let agent = r.agentID { fields["agent"] = .string(agent) }
                fields["identity_error"] = .string(r.code)
                fields["reason"] = .string(r.reason)
            }
            if let failure = trail.failure {
                fields["reason"] = .string(failure)
                log.warn("decision failed closed", fields)
            } else {
                log.info("decision", fields)
            }
        }
        return Outcome(answer: answer, decisionID: id, evalMicros: trail.evalMicros, failure: trail.failure)
    }

    /// One decision-log row, the JSON record that is spooled, shipped and hashed. Written
    /// field by field in key order (what `Value.jsonString` would give), straight to bytes
    /// after the spool line's prefix: this runs before every answer.
    func writeAuditRecord(into w: inout CompactJSONWriter, _ id: String, _ wallMicros: Int, _ total: Int, _ request: ParsedCheck?,
                          _ input: Value?, _ trail: Trail, _ audit: AuditSettings) {
        let http = request
        let agentID = trail.recordedAgentID
        func string(_ name: StaticString, _ value: String?) {
            guard let value else { return }
            w.field(name)
            w.writeString(value)
        }
        func int(_ name: StaticString, _ value: Int?) {
            guard let value else { return }
            w.field(name)
            w.writeInt(value)
        }
        w.beginObject()
        string("agent_id", agentID)
        let revision = trail.policy?.revision ?? ""
        string("bundle_revision", revision.isEmpty ? nil : revision)
        string("decision", trail.kind)
        string("decision_id", id)
        w.field("enforced")
        w.write(.bool(trail.enforced))
        int("eval_us", trail.evalMicros)
        string("host", http?.host)
        int("http_status", trail.httpStatus)
        if audit.includeInput, let input {
            w.field("input")
            // input.agent is the admission's document, the same for every request that
            // carries this token: its JSON was written once, with the admission.
            let policyMask = policyMask(input, trail.policy)
            let mask = policyMask.isEmpty ? audit.mask : audit.mask.adding(policyMask)
            w.write(input, omitting: mask, written: trail.admitted.map { ("agent", $0.agentJSON) })
        }
        string("jti", trail.recordedJTI)
        string("method", http?.method)
        string("owner", trail.recordedOwner)
        string("path", http?.path)
        string("policy_path", policyPath)
        w.field("reasons")
        w.write(.array(trail.reasons))
        string("request_id", http?.header("x-request-id"))
        if !trail.shadow.isEmpty {
            w.field("shadow")
            w.write(.array(trail.shadow))
        }
        string("tenant", trail.recordedTenant)
        string("time", RFC3339.format(seconds: wallMicros / 1_000_000, nanos: wallMicros % 1_000_000 * 1000))
        int("time_us", wallMicros)
        string("tool", trail.tool)
        int("total_us", total)
        string("trace_id", http?.header("traceparent").flatMap(DecisionPipeline.traceID))
        string("warden", audit.spool.instance)
        w.endObject()
    }

    /// What the policy asks to mask, as OPA's `system.log.mask`: a set of JSON pointers
    /// (`/input/…`), evaluated with `{"input": <the input>}`. A mask rule that fails masks
    /// the whole input rather than risk logging a secret.
    func policyMask(_ input: Value, _ loaded: PolicyStore.Loaded?) -> [[String]] {
        guard let loaded, loaded.definesLogMask else { return [] }
        let result: Value?
        do {
            result = try loaded.policy.evaluate(path: PolicyStore.Loaded.logMaskPath, input: .object(RegoObject(fields: ["input": input])), options: evalOptions)
        } catch {
            log.warn("system.log.mask failed; the input is left out of the decision log", ["error": .string("\(error)")])
            return [["attributes"], ["parsed_body"], ["parsed_query"], ["parsed_path"], ["agent"]]
        }
        let items: [Value]
        switch result {
        case .set(let s)?: items = s.elements
        case .array(let a)?: items = a
        default: return []
        }
        return items.compactMap { if case .string(let p) = $0 { return DecisionPipeline.pointer(p) } else { return nil } }
    }

    /// W3C `traceparent`: `00-<32 hex trace id>-<16 hex span>-<flags>`.
    static func traceID(_ header: String) -> String? {
        let parts = header.split(separator: "-")
        guard parts.count >= 4, parts[1].utf8.count == 32 else { return nil }
        return String(parts[1])
    }

    /// `/input/a/b~1c` → ["a", "b/c"]; pointers outside /input are ignored.
    static func pointer(_ text: String) -> [String]? {
        var parts = text.split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
        guard parts.count >= 3, parts[0].isEmpty, parts[1] == "input" else { return nil }
        parts.removeFirst(2)
        return parts
    }

    /// Serves `grpc.health.v1.Health/Check`: SERVING while a policy is loaded.
    public static func handleHealth(_ bytes: [UInt8]) -> UnaryResponse {
        var resp = Grpc_Health_V1_HealthCheckResponse()
        resp.status = .serving
        return .ok((try? resp.serializedBytes()) ?? [])
    }

    static func monotonicMicros() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1_000_000 + ts.tv_nsec / 1000
    }

    static func wallClockMicros() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts.tv_sec * 1_000_000 + ts.tv_nsec / 1000
    }

    static func wallClockMs() -> UInt64 { UInt64(wallClockMicros() / 1000) }
}
