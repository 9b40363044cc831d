public import AgentIdentity
public import EnvoyProto
import Rego
import ExtAuthz
import Foundation
public import GRPCRuntime
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#endif

/// The Check path: bytes in, bytes out. It only sequences the pure pieces (decode, build
/// the input, evaluate, map the decision) and decides how each can fail: closed.
public final class DecisionPipeline: Sendable {
    let store: PolicyStore
    let decisionPath: [String]
    let evalOptions: EvalOptions
    let log: EventLog
    let logDecisions: Bool
    /// nil when identity checks are off (`identity.mode: off`).
    let identity: IdentityGate?

    public init(store: PolicyStore, config: WardenConfig, log: EventLog, identity: IdentityGate? = nil) {
        self.identity = identity
        self.store = store
        self.decisionPath = config.decisionPath
        var options = EvalOptions()
        options.maxSteps = config.maxEvalSteps
        self.evalOptions = options
        self.log = log
        self.logDecisions = config.logDecisions
    }

    /// The outcome of one Check, for the response and the log.
    public struct Outcome: Sendable {
        public let response: Envoy_Service_Auth_V3_CheckResponse
        public let decisionID: String
        public let allowed: Bool
        public let evalMicros: Int
        public let failure: String?
    }

    /// Serves `envoy.service.auth.v3.Authorization/Check`.
    public func handleCheck(_ bytes: [UInt8]) -> UnaryResponse {
        let outcome = check(bytes)
        do {
            return .ok(try outcome.response.serializedBytes())
        } catch {
            return .error(.internal, "cannot encode the CheckResponse: \(error)")
        }
    }

    public func check(_ bytes: [UInt8]) -> Outcome {
        let start = DecisionPipeline.monotonicMicros()
        let decisionID = DecisionID.next(nowMs: DecisionPipeline.wallClockMs())
        let request: Envoy_Service_Auth_V3_CheckRequest
        do {
            request = try Envoy_Service_Auth_V3_CheckRequest(serializedBytes: bytes)
        } catch {
            let reason = "the CheckRequest could not be decoded: \(error)"
            return finish(EnvoyDecision.badRequest(reason, decisionID: decisionID), decisionID, false, start, 0, reason, nil)
        }
        // Who is calling, before any policy runs: no identity, no access.
        var agent: Value?
        var caller: Caller?
        if let identity {
            switch identity.authenticate(headers: request.attributes.request.http.headers, now: Int64(DecisionPipeline.wallClockMs() / 1000)) {
            case .refused(let r):
                let response = EnvoyDecision.identityRefusal(code: r.code, status: r.httpStatus, reason: r.reason, next: r.next,
                                                             agentID: r.agentID, decisionID: decisionID)
                return finish(response, decisionID, false, start, 0, nil, request,
                              caller: r.agentID.map { .named($0) }, refusal: r)
            case .admitted(let admitted):
                agent = admitted.agent
                caller = Caller(admitted)
            }
        }
        let input = EnvoyInput.build(request, agent: agent)
        let loaded = store.loaded
        let evalStart = DecisionPipeline.monotonicMicros()
        let result: Value?
        do {
            result = try loaded.policy.evaluate(path: decisionPath, input: input, options: evalOptions)
        } catch {
            let evalMicros = DecisionPipeline.monotonicMicros() - evalStart
            return finish(EnvoyDecision.policyFailure(decisionID: decisionID), decisionID, false, start, evalMicros, "policy error: \(error)", request, caller: caller)
        }
        let evalMicros = DecisionPipeline.monotonicMicros() - evalStart
        do {
            let decision = try EnvoyDecision.decision(from: result)
            return finish(EnvoyDecision.checkResponse(decision, decisionID: decisionID), decisionID, decision.allowed, start, evalMicros, nil, request, caller: caller)
        } catch {
            return finish(EnvoyDecision.policyFailure(decisionID: decisionID), decisionID, false, start, evalMicros,
                          "malformed decision at \(decisionPath.joined(separator: "/")): \(error.description)", request, caller: caller)
        }
    }

    /// Who called, for the log: the admitted agent, or the agent a refusal names.
    enum Caller {
        case admitted(AgentAdmission)
        case named(String)

        init(_ a: AgentAdmission) { self = .admitted(a) }
    }

    func finish(_ response: Envoy_Service_Auth_V3_CheckResponse, _ id: String, _ allowed: Bool, _ start: Int, _ evalMicros: Int,
                _ failure: String?, _ request: Envoy_Service_Auth_V3_CheckRequest?,
                caller: Caller? = nil, refusal: IdentityRefusal? = nil) -> Outcome {
        let total = DecisionPipeline.monotonicMicros() - start
        if logDecisions || failure != nil {
            var fields: [String: Value] = [
                "decision_id": .string(id), "allowed": .bool(allowed),
                "eval_us": .int(evalMicros), "total_us": .int(total),
            ]
            if let http = request?.attributes.request.http {
                fields["method"] = .string(http.method)
                fields["path"] = .string(http.path)
                fields["host"] = .string(http.host)
                if !http.id.isEmpty { fields["request_id"] = .string(http.id) }
            }
            if case .deniedResponse(let d)? = response.httpResponse { fields["http_status"] = .int(Int(d.status.code.rawValue)) }
            switch caller {
            case .admitted(let a)?:
                fields["agent"] = .string(a.record.id)
                if let owner = a.record.owner { fields["owner"] = .string(owner.contact) }
                fields["jti"] = .string(a.token.jti)
            case .named(let id)?:
                fields["agent"] = .string(id)
            case nil:
                break
            }
            if let refusal {
                fields["identity_error"] = .string(refusal.code)
                fields["reason"] = .string(refusal.reason)
            }
            if let failure {
                fields["reason"] = .string(failure)
                log.warn("decision failed closed", fields)
            } else {
                log.info("decision", fields)
            }
        }
        return Outcome(response: response, decisionID: id, allowed: allowed, evalMicros: evalMicros, failure: failure)
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

    static func wallClockMs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec / 1_000_000)
    }
}
