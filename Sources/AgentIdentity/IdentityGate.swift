public import Rego
import Synchronization

/// What the identity layer knows at one moment: the registered agents and the keys. The
/// serve path reads one snapshot per request and never waits on the database; a newer
/// snapshot replaces it whole.
public struct RegistrySnapshot: Sendable {
    public struct Entry: Sendable {
        public let record: AgentRecord
        /// `input.agent` without the token part, built once per load.
        let regoObject: RegoObject
    }

    public let agents: [String: Entry]
    public let keys: [String: SigningKey]
    /// Unix seconds of the load; nil until the registry was read once.
    public let loadedAt: Int64?
    /// Set by the gate on each update: admissions remembered under an older generation
    /// are checked again.
    var generation = 0

    public init(agents: [AgentRecord], keys: [SigningKey], loadedAt: Int64?) {
        var map: [String: Entry] = [:]
        for a in agents {
            guard case .object(let o) = a.regoValue else { continue }
            map[a.id] = Entry(record: a, regoObject: o)
        }
        self.agents = map
        self.keys = Dictionary(keys.map { ($0.kid, $0) }, uniquingKeysWith: { first, _ in first })
        self.loadedAt = loadedAt
    }

    public static let empty = RegistrySnapshot(agents: [], keys: [], loadedAt: nil)
}

/// Settings of the identity layer (`identity:` in warden.yaml).
public struct IdentityRules: Sendable {
    public var token = TokenRules()
    /// The request header that carries the token; `authorization` expects `Bearer <token>`.
    public var header = "authorization"
    /// The environment this Warden guards (dev, staging, prod); "" checks none.
    public var environment = ""
    public init() {}
}

/// A request the identity layer refused: what, why, and what to do next, for a JSON body
/// an agent's developer reads.
public struct IdentityRefusal: Sendable, Equatable {
    public let code: String
    public let httpStatus: Int
    public let reason: String
    public let next: String
    public let agentID: String?
    /// The registered agent's owner and tenant, from the registry (never from the token),
    /// when the token named a registered agent that was refused (killed, retired, expired,
    /// a revoked or mismatched token): the decision log ties the refused call to its owner.
    public let owner: String?
    public let tenant: String?
    /// The id of a token whose signature verified, when the refusal came after that.
    public let jti: String?
}

/// A verified agent allowed to act: its registry record, its token, and `input.agent`.
/// A class, so the cache and each request share one copy.
public final class AgentAdmission: Sendable {
    public let agent: Value
    /// `agent` as compact JSON. An admission is remembered per token, so the decision log
    /// writes this once per token instead of once per request.
    public let agentJSON: String
    public let record: AgentRecord
    public let token: VerifiedToken

    init(agent: Value, record: AgentRecord, token: VerifiedToken) {
        self.agent = agent
        self.agentJSON = agent.jsonString()
        self.record = record
        self.token = token
    }
}

public enum IdentityOutcome: Sendable {
    case admitted(AgentAdmission)
    case refused(IdentityRefusal)
}

/// Decides who is calling: token → verified claims (cached) → registry record, with a
/// reason for each way that fails. Every failure refuses the request (fail closed).
public final class IdentityGate: Sendable {
    public let rules: IdentityRules
    private let snapshot: Mutex<RegistrySnapshot>
    public let cache: VerifiedTokenCache

    public init(rules: IdentityRules, snapshot: RegistrySnapshot = .empty, cacheCapacity: Int = 100_000) {
        self.rules = rules
        self.snapshot = Mutex(snapshot)
        self.cache = VerifiedTokenCache(capacity: cacheCapacity)
    }

    public var current: RegistrySnapshot { snapshot.withLock { $0 } }

    /// Swaps in a newer registry and drops cached tokens it revokes.
    public func update(_ next: RegistrySnapshot, now: Int64) {
        snapshot.withLock { current in
            var next = next
            next.generation = current.generation + 1
            current = next
        }
        cache.removeAll { token in
            guard let key = next.keys[token.kid], key.retiredAt.map({ $0 > now }) ?? true else { return true }
            guard let agent = next.agents[token.subject]?.record, agent.status == .active else { return true }
            if let after = agent.tokensValidAfter, token.issuedAt <= after { return true }
            return false
        }
    }

    static let bearerPrefix = Array("bearer ".utf8)

    /// The token from the value of the identity header (`rules.header`), if any. Works on
    /// the header's bytes: this runs on every request.
    public func token(fromHeader raw: String?) -> String? {
        guard let raw else { return nil }
        let utf8 = raw.utf8
        let bearer = IdentityGate.bearerPrefix
        // Case-insensitively, on the bytes in place (every Check comes here).
        let isBearer = utf8.count > bearer.count && (utf8.withContiguousStorageIfAvailable { bytes in
            zip(bytes, bearer).allSatisfy { $0 | 0x20 == $1 }
        } ?? zip(utf8, bearer).allSatisfy { $0 | 0x20 == $1 })
        if isBearer {
            var token = Substring(raw)
            token = token[token.utf8.index(token.startIndex, offsetBy: bearer.count)...]
            while token.utf8.first == 0x20 { token = token.dropFirst() }
            while token.utf8.last == 0x20 { token = token.dropLast() }
            return String(token)
        }
        return rules.header == "authorization" ? nil : raw
    }

    public func authenticate(headers: [String: String], now: Int64) -> IdentityOutcome {
        authenticate(header: headers[rules.header], now: now)
    }

    /// `header`: the value of the identity header (`rules.header`), nil when absent.
    public func authenticate(header: String?, now: Int64) -> IdentityOutcome {
        guard let token = token(fromHeader: header), !token.isEmpty else {
            if header != nil {
                return .refused(refusal("token_missing", 401, "the \(rules.header) header does not hold a Bearer token",
                                        next: "send `\(rules.header): Bearer <token>`; mint a token with `warden token mint --agent <id>`", nil))
            }
            return .refused(refusal("token_missing", 401, "no agent token: the request has no \(rules.header) header",
                                    next: "send `\(rules.header): Bearer <token>`; mint a token with `warden token mint --agent <id>`", nil))
        }
        return authenticate(token: token, now: now)
    }

    public func authenticate(token: String, now: Int64) -> IdentityOutcome {
        let registry = snapshot.withLock { $0 }
        guard registry.loadedAt != nil else {
            return .refused(refusal("registry_unavailable", 503, "Warden has not been able to load the agent registry yet",
                                    next: "retry shortly; if it persists, the platform team should check Warden's database connection", nil))
        }
        let cacheKey = VerifiedTokenCache.key(token)
        let verified: VerifiedToken
        if let hit = cache.lookup(cacheKey, now: now, leeway: rules.token.leewaySeconds) {
            // Admitted before under this very registry: only time can have changed.
            if let memo = hit.admission, memo.generation == registry.generation, now <= memo.admitted.record.expiresAt,
               registry.keys[hit.token.kid]?.retiredAt.map({ $0 > now }) ?? true {
                return .admitted(memo.admitted)
            }
            verified = hit.token
        } else {
            do {
                verified = try TokenVerifier.verify(token, keys: registry.keys, rules: rules.token, now: now)
            } catch {
                return .refused(refusal(error.code, 401, error.reason, next: TokenAdvice.next(for: error.code), nil))
            }
            cache.insert(cacheKey, verified, now: now)
        }
        // A key retired or removed after the token was cached.
        if let key = registry.keys[verified.kid], let retired = key.retiredAt, retired <= now {
            return .refused(refusal("token_key_retired", 401, "key \(verified.kid) was retired at \(RFC3339.format(seconds: Int(retired), nanos: 0))",
                                    next: TokenAdvice.next(for: "token_key_retired"), verified.subject, token: verified))
        } else if registry.keys[verified.kid] == nil {
            return .refused(refusal("token_unknown_key", 401, "no key with kid \"\(verified.kid)\" is configured",
                                    next: TokenAdvice.next(for: "token_unknown_key"), verified.subject, token: verified))
        }
        let outcome = admit(verified, registry: registry, now: now)
        if case .admitted(let admitted) = outcome {
            cache.remember(cacheKey, .init(generation: registry.generation, admitted: admitted))
        }
        return outcome
    }

    func admit(_ token: VerifiedToken, registry: RegistrySnapshot, now: Int64) -> IdentityOutcome {
        let id = token.subject
        guard let entry = registry.agents[id] else {
            return .refused(refusal("agent_unknown", 403, "agent \"\(id)\" is not registered",
                                    next: "register it with `warden agent register -f <manifest.yaml>`", id, token: token))
        }
        let agent = entry.record
        // A refusal of this registered agent: the decision log records its owner, tenant and token.
        func registered(_ code: String, _ status: Int, _ reason: String, next: String) -> IdentityRefusal {
            refusal(code, status, reason, next: next, id, record: agent, token: token)
        }
        guard let owner = agent.owner else {
            return .refused(registered("agent_no_owner", 403, "agent \"\(id)\" has no human owner",
                                       next: "name an owner in its manifest and register it again with `warden agent register -f <manifest.yaml>`"))
        }
        switch agent.status {
        case .retired:
            return .refused(registered("agent_retired", 403, "agent \"\(id)\" is retired",
                                       next: "a retired agent cannot act; register a new agent id if it is needed again"))
        case .killed:
            let why = agent.killedReason.map { ": \($0)" } ?? ""
            return .refused(registered("agent_killed", 403, "agent \"\(id)\" was stopped by the kill switch\(why)",
                                       next: "ask the platform team; once the cause is fixed, `warden agent revive \(id)` and mint a new token"))
        case .active:
            break
        }
        if now > agent.expiresAt {
            return .refused(registered("agent_expired", 403,
                                       "agent \"\(id)\"'s access expired at \(RFC3339.format(seconds: Int(agent.expiresAt), nanos: 0)) (deprovisioned)",
                                       next: "its owner \(owner.contact) can renew it: `warden agent renew \(id) --until <YYYY-MM-DD>`"))
        }
        if let after = agent.tokensValidAfter, token.issuedAt <= after {
            return .refused(registered("token_revoked", 401,
                                       "the token was issued before agent \"\(id)\" was killed at \(RFC3339.format(seconds: Int(after), nanos: 0)); tokens from before a kill stay refused",
                                       next: "mint a new token with `warden token mint --agent \(id)`"))
        }
        if let claimed = token.owner, claimed != owner.contact {
            return .refused(registered("token_owner_mismatch", 401, "the token names owner \"\(claimed)\" but the registry's owner is \"\(owner.contact)\"",
                                       next: "mint a new token with `warden token mint --agent \(id)`"))
        }
        if let claimed = token.tenant, claimed != agent.tenant {
            return .refused(registered("token_tenant_mismatch", 403, "the token names tenant \"\(claimed)\" but the agent belongs to \(agent.tenant.map { "\"\($0)\"" } ?? "no tenant")",
                                       next: "mint a new token with `warden token mint --agent \(id)`"))
        }
        if let scope = token.scope, let outside = scope.first(where: { !agent.tools.contains($0) }) {
            return .refused(registered("token_scope_not_allowed", 403, "the token's scope \"\(outside)\" is not among agent \"\(id)\"'s registered tools",
                                       next: "add it to the agent's manifest (tools) and register it again, or mint a token with a narrower --scope"))
        }
        if !rules.environment.isEmpty, !agent.environments.contains(rules.environment) {
            return .refused(registered("agent_wrong_environment", 403,
                                       "agent \"\(id)\" may act in \(agent.environments.joined(separator: ", ")), not in \(rules.environment)",
                                       next: "add \(rules.environment) to the agent's environments in its manifest and register it again"))
        }
        var object = entry.regoObject
        object["token"] = token.regoValue
        return .admitted(AgentAdmission(agent: .object(object), record: agent, token: token))
    }

    func refusal(_ code: String, _ status: Int, _ reason: String, next: String, _ agent: String?,
                 record: AgentRecord? = nil, token: VerifiedToken? = nil) -> IdentityRefusal {
        IdentityRefusal(code: code, httpStatus: status, reason: reason, next: next, agentID: agent,
                        owner: record?.owner?.contact, tenant: record?.tenant, jti: token?.jti)
    }
}

/// What an agent's developer should do about a refused token.
enum TokenAdvice {
    static func next(for code: String) -> String {
        switch code {
        case "token_expired", "token_lifetime_too_long", "token_key_retired":
            return "mint a new token with `warden token mint --agent <id>` (tokens live at most an hour)"
        case "token_unknown_key":
            return "mint the token with a key Warden knows (`warden keys list`), or register the key with `warden keys add`"
        case "token_not_yet_valid":
            return "check the clock of the machine that minted the token"
        case "token_wrong_issuer", "token_wrong_audience":
            return "mint the token for this Warden's issuer and audience with `warden token mint`"
        default:
            return "send a token minted by `warden token mint --agent <id>`; `warden token inspect <token>` shows what is wrong with one"
        }
    }
}
