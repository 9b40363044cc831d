public import EnvoyProto
public import Rego
public import SwiftProtobuf

/// A policy's answer in OPA-Envoy's result contract, validated.
public struct Decision: Sendable, Equatable {
    public var allowed: Bool
    public var httpStatus: Int?
    /// Headers for the upstream (allowed) or for the client (denied).
    public var headers: [(String, String)] = []
    public var responseHeadersToAdd: [(String, String)] = []
    public var requestHeadersToRemove: [String] = []
    public var queryParametersToSet: [(String, String)] = []
    public var queryParametersToRemove: [String] = []
    public var body: String?
    public var dynamicMetadata: RegoObject?
    /// Warden's additions to the contract, for the decision log: why (`reasons`, each a
    /// string or `{"rule": …, "message": …}`) and which tool or connector (`tool`).
    public var reasons: [Reason] = []
    public var tool: String?

    /// One reason a policy gives; `rule` lets `policy.shadow_rules` put that rule in shadow.
    public struct Reason: Sendable, Equatable {
        public var rule: String?
        public var message: String
        public init(rule: String? = nil, message: String) {
            self.rule = rule
            self.message = message
        }
    }

    public init(allowed: Bool) { self.allowed = allowed }

    public static func == (a: Decision, b: Decision) -> Bool {
        a.allowed == b.allowed && a.httpStatus == b.httpStatus && a.headers.elementsEqual(b.headers, by: ==)
            && a.responseHeadersToAdd.elementsEqual(b.responseHeadersToAdd, by: ==) && a.requestHeadersToRemove == b.requestHeadersToRemove
            && a.queryParametersToSet.elementsEqual(b.queryParametersToSet, by: ==) && a.queryParametersToRemove == b.queryParametersToRemove
            && a.body == b.body && a.dynamicMetadata == b.dynamicMetadata && a.reasons == b.reasons && a.tool == b.tool
    }
}

/// Why a policy's answer could not be used; the request is then denied.
public struct MalformedDecision: Error, Sendable, CustomStringConvertible {
    public let description: String
}

public enum EnvoyDecision {
    /// Reads OPA-Envoy's contract: a boolean, or an object with `allowed` and the optional
    /// fields. Anything else is malformed (and the caller denies).
    public static func decision(from result: Value?) throws(MalformedDecision) -> Decision {
        guard let result else { throw MalformedDecision(description: "the policy decision is undefined") }
        switch result {
        case .bool(let b):
            return Decision(allowed: b)
        case .object(let o):
            guard let allowedValue = o["allowed"] else { throw MalformedDecision(description: "the decision object has no \"allowed\" field") }
            guard case .bool(let allowed) = allowedValue else {
                throw MalformedDecision(description: "\"allowed\" must be a boolean, got \(allowedValue.typeName)")
            }
            var d = Decision(allowed: allowed)
            for e in o.entries {
                guard case .string(let key) = e.key else { continue }
                switch key {
                case "allowed": break
                case "headers": d.headers = try headerList(e.value, key)
                case "response_headers_to_add": d.responseHeadersToAdd = try headerList(e.value, key)
                case "request_headers_to_remove": d.requestHeadersToRemove = try stringList(e.value, key)
                case "query_parameters_to_set": d.queryParametersToSet = try headerList(e.value, key)
                case "query_parameters_to_remove": d.queryParametersToRemove = try stringList(e.value, key)
                case "body":
                    guard case .string(let s) = e.value else { throw MalformedDecision(description: "\"body\" must be a string, got \(e.value.typeName)") }
                    d.body = s
                case "http_status":
                    guard case .number(let n) = e.value, n.isInteger, let code = n.intValue, (100...599).contains(code) else {
                        throw MalformedDecision(description: "\"http_status\" must be an integer HTTP status (100-599), got \(e.value.regoText)")
                    }
                    d.httpStatus = code
                case "dynamic_metadata":
                    guard case .object(let m) = e.value else { throw MalformedDecision(description: "\"dynamic_metadata\" must be an object, got \(e.value.typeName)") }
                    d.dynamicMetadata = m
                case "reasons":
                    d.reasons = try reasons(e.value)
                case "tool":
                    guard case .string(let t) = e.value else { throw MalformedDecision(description: "\"tool\" must be a string, got \(e.value.typeName)") }
                    d.tool = t
                default:
                    break  // Unknown fields are ignored, as OPA-Envoy does.
                }
            }
            return d
        default:
            throw MalformedDecision(description: "the decision must be a boolean or an object, got \(result.typeName)")
        }
    }

    /// `reasons`: an array or set of strings or of `{"rule": "…", "message": "…"}` objects.
    static func reasons(_ v: Value) throws(MalformedDecision) -> [Decision.Reason] {
        let items: [Value]
        switch v {
        case .array(let a): items = a
        case .set(let s): items = s.elements
        default: throw MalformedDecision(description: "\"reasons\" must be an array of strings or objects, got \(v.typeName)")
        }
        var out: [Decision.Reason] = []
        for x in items {
            switch x {
            case .string(let s): out.append(.init(message: s))
            case .object(let o):
                guard case .string(let message)? = o["message"] else {
                    throw MalformedDecision(description: "each object in \"reasons\" needs a \"message\" string")
                }
                var rule: String?
                if case .string(let r)? = o["rule"] { rule = r }
                out.append(.init(rule: rule, message: message))
            default: throw MalformedDecision(description: "\"reasons\" must hold strings or objects, got \(x.typeName)")
            }
        }
        return out
    }

    /// Header maps: values are strings, or arrays of strings for repeated headers.
    static func headerList(_ v: Value, _ field: String) throws(MalformedDecision) -> [(String, String)] {
        guard case .object(let o) = v else { throw MalformedDecision(description: "\"\(field)\" must be an object, got \(v.typeName)") }
        var out: [(String, String)] = []
        out.reserveCapacity(o.count)
        for e in o.entries {
            guard case .string(let k) = e.key else { throw MalformedDecision(description: "\"\(field)\" keys must be strings") }
            switch e.value {
            case .string(let s): out.append((k, s))
            case .array(let xs):
                for x in xs {
                    guard case .string(let s) = x else { throw MalformedDecision(description: "\"\(field)\".\(k) must hold strings") }
                    out.append((k, s))
                }
            default:
                throw MalformedDecision(description: "\"\(field)\".\(k) must be a string or an array of strings, got \(e.value.typeName)")
            }
        }
        return out
    }

    static func stringList(_ v: Value, _ field: String) throws(MalformedDecision) -> [String] {
        let items: [Value]
        switch v {
        case .array(let a): items = a
        case .set(let s): items = s.elements
        default: throw MalformedDecision(description: "\"\(field)\" must be an array of strings, got \(v.typeName)")
        }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for x in items {
            guard case .string(let s) = x else { throw MalformedDecision(description: "\"\(field)\" must hold strings") }
            out.append(s)
        }
        return out
    }

    // MARK: - CheckResponse

    /// The response Envoy acts on, as the generated message. Every response carries the
    /// decision id: in the dynamic metadata, and as `x-warden-decision-id` to the client.
    /// The serve path writes the same message with `responseBytes` (CheckResponseWriter.swift).
    public static func checkResponse(_ d: Decision, decisionID: String) -> Envoy_Service_Auth_V3_CheckResponse {
        var resp = Envoy_Service_Auth_V3_CheckResponse()
        let idHeader = (decisionIDHeader, decisionID)
        if d.allowed {
            resp.status.code = 0
            var ok = Envoy_Service_Auth_V3_OkHttpResponse()
            ok.headers = d.headers.map(headerOption)
            ok.headersToRemove = d.requestHeadersToRemove
            ok.responseHeadersToAdd = (d.responseHeadersToAdd + [idHeader]).map(headerOption)
            ok.queryParametersToSet = d.queryParametersToSet.map { kv in
                var q = Envoy_Config_Core_V3_QueryParameter()
                q.key = kv.0
                q.value = kv.1
                return q
            }
            ok.queryParametersToRemove = d.queryParametersToRemove
            resp.okResponse = ok
        } else {
            resp.status.code = 7  // PERMISSION_DENIED
            var denied = Envoy_Service_Auth_V3_DeniedHttpResponse()
            denied.status.code = Envoy_Type_V3_StatusCode(rawValue: d.httpStatus ?? 403) ?? .UNRECOGNIZED(d.httpStatus ?? 403)
            denied.headers = (d.headers + [idHeader]).map(headerOption)
            denied.body = d.body ?? ""
            resp.deniedResponse = denied
        }
        var metadata = d.dynamicMetadata ?? RegoObject()
        metadata["decision_id"] = .string(decisionID)
        resp.dynamicMetadata = protoStruct(metadata)
        return resp
    }

    static func headerOption(_ kv: (String, String)) -> Envoy_Config_Core_V3_HeaderValueOption {
        var o = Envoy_Config_Core_V3_HeaderValueOption()
        o.header.key = kv.0
        o.header.value = kv.1
        o.appendAction = .overwriteIfExistsOrAdd
        return o
    }

    public static func protoStruct(_ o: RegoObject) -> Google_Protobuf_Struct {
        var s = Google_Protobuf_Struct()
        for e in o.entries {
            let key: String
            if case .string(let k) = e.key { key = k } else { key = e.key.jsonString() }
            s.fields[key] = protoValue(e.value)
        }
        return s
    }

    static func protoValue(_ v: Value) -> Google_Protobuf_Value {
        var out = Google_Protobuf_Value()
        switch v {
        case .null: out.nullValue = .nullValue
        case .bool(let b): out.boolValue = b
        case .number(let n): out.numberValue = n.doubleValue
        case .string(let s): out.stringValue = s
        case .array(let a): out.listValue = Google_Protobuf_ListValue(values: a.map(protoValue))
        case .set(let s): out.listValue = Google_Protobuf_ListValue(values: s.elements.map(protoValue))
        case .object(let o): out.structValue = protoStruct(o)
        }
        return out
    }

    /// Warden's own denials (decided by Warden, not by a policy) share one shape: a status
    /// and a JSON body with `error`, `reason`, the decision id and, where there is one, what
    /// to do `next`.
    static func jsonDenial(status: Int, _ body: [String: Value], decisionID: String, headers: [(String, String)] = [],
                           metadata: RegoObject? = nil) -> Decision {
        var d = Decision(allowed: false)
        d.httpStatus = status
        d.headers = [("content-type", "application/json")] + headers
        var body = body
        body["decision_id"] = .string(decisionID)
        d.body = Value.object(RegoObject(fields: body)).jsonString()
        d.dynamicMetadata = metadata
        return d
    }

    /// The denial for a request Warden could not read: 400, with the reason.
    public static func badRequest(_ reason: String, decisionID: String) -> Decision {
        jsonDenial(status: 400, ["error": .string("bad_request"), "reason": .string(reason)], decisionID: decisionID)
    }

    /// The denial when the caller's identity is refused (no token, a bad token, an agent
    /// that may not act): the status, and a JSON body that says what was refused, why, and
    /// what to do next. A 401 carries `WWW-Authenticate` as RFC 6750 asks.
    public static func identityRefusal(code: String, status: Int, reason: String, next: String, agentID: String?,
                                       decisionID: String) -> Decision {
        var body: [String: Value] = [
            "error": .string(code), "refused": .string(status == 401 ? "the agent's token" : "the agent"),
            "reason": .string(reason), "next": .string(next),
        ]
        if let agentID { body["agent"] = .string(agentID) }
        let challenge = status == 401 ? [("www-authenticate", "Bearer error=\"invalid_token\", error_description=\"\(code)\"")] : []
        return jsonDenial(status: status, body, decisionID: decisionID, headers: challenge,
                          metadata: RegoObject(fields: ["identity_error": .string(code)]))
    }

    /// The denial when a decision cannot be recorded (`audit.on_spool_full: deny`): Warden
    /// refuses to act unrecorded.
    public static func auditUnavailable(decisionID: String) -> Decision {
        jsonDenial(status: 503, [
            "error": .string("audit_unavailable"),
            "reason": .string("Warden cannot record this decision right now (its decision spool is full or unwritable), and does not act unrecorded"),
            "next": .string("retry later; the platform team should check Warden's database connection and spool"),
        ], decisionID: decisionID)
    }

    /// The denial when the policy failed or answered something unusable: fail closed. The
    /// cause goes to Warden's log, not to the client.
    public static func policyFailure(decisionID: String) -> Decision {
        jsonDenial(status: 500, [
            "error": .string("policy_error"),
            "reason": .string("the authorization policy could not decide; the request is denied"),
            "next": .string("report the decision id to the platform team; the cause is in Warden's log"),
        ], decisionID: decisionID)
    }
}
