public import Rego

/// A registered agent, as the registry holds it and as policies see it (`input.agent`).
public struct AgentRecord: Sendable, Equatable {
    public enum Status: String, Sendable {
        case active, retired, killed
    }

    /// The human who answers for the agent.
    public struct Owner: Sendable, Equatable {
        public var name: String
        public var contact: String
        public init(name: String, contact: String) {
            self.name = name
            self.contact = contact
        }
    }

    public var id: String
    /// nil when the owner was removed (for example, the person left): the agent is then
    /// refused until someone takes it over.
    public var owner: Owner?
    public var team: String
    public var purpose: String
    /// 1 read-only observer, 2 internal actor, 3 external-facing.
    public var tier: Int
    public var tenant: String?
    /// Environments it may act in: dev, staging, prod.
    public var environments: [String]
    /// Tools or hosts it may call.
    public var tools: [String]
    /// Unix seconds: its access ends then unless renewed.
    public var expiresAt: Int64
    public var status: Status = .active
    public var killedReason: String?
    public var killedAt: Int64?
    /// Unix seconds: tokens issued at or before this are refused, so a kill outlives a revive.
    public var tokensValidAfter: Int64?

    public init(id: String, owner: Owner?, team: String, purpose: String, tier: Int, tenant: String? = nil,
                environments: [String], tools: [String], expiresAt: Int64) {
        self.id = id
        self.owner = owner
        self.team = team
        self.purpose = purpose
        self.tier = tier
        self.tenant = tenant
        self.environments = environments
        self.tools = tools
        self.expiresAt = expiresAt
    }

    public static let tierNames = [1: "observer", 2: "internal", 3: "external"]

    /// `input.agent`'s registry part.
    public var regoValue: Value {
        var fields: [String: Value] = [
            "id": .string(id), "team": .string(team), "purpose": .string(purpose),
            "tier": .int(tier), "tier_name": .string(AgentRecord.tierNames[tier] ?? ""),
            "environments": .array(environments.map { .string($0) }),
            "tools": .array(tools.map { .string($0) }),
            "expires_at": .string(RFC3339.format(seconds: Int(expiresAt), nanos: 0)),
            "status": .string(status.rawValue),
        ]
        if let owner {
            fields["owner"] = .object(RegoObject(fields: ["name": .string(owner.name), "contact": .string(owner.contact)]))
        }
        if let tenant { fields["tenant"] = .string(tenant) }
        return .object(RegoObject(fields: fields))
    }
}

// MARK: - Manifest

/// A manifest that cannot be registered: which field, and why.
public struct ManifestError: Error, Sendable, CustomStringConvertible {
    public let field: String
    public let reason: String
    public var description: String { field.isEmpty ? reason : "\(field): \(reason)" }
}

/// The agent manifest (YAML, parsed to a `Value` by the caller):
///
/// ```yaml
/// id: agent/code-review-bot@team-platform
/// owner: {name: Ana Lima, contact: ana@example.com}
/// team: team-platform
/// purpose: Reviews pull requests and comments on them
/// tier: 2                      # 1 observer (read-only), 2 internal actor, 3 external-facing
/// tenant: acme                 # optional
/// environments: [dev, staging]
/// tools: [search, repos]
/// expires: 2027-03-31          # a date (end of that day, UTC) or an RFC 3339 time
/// ```
public enum AgentManifest {
    public static let environments: Set<String> = ["dev", "staging", "prod"]
    static let known: Set<String> = ["id", "owner", "team", "purpose", "tier", "tenant", "environments", "tools", "expires"]

    /// Validates a manifest and returns the record it registers. `now` is Unix seconds.
    public static func parse(_ v: Value, now: Int64) throws(ManifestError) -> AgentRecord {
        guard case .object(let o) = v else { throw ManifestError(field: "", reason: "a manifest must be a mapping of fields, got \(v.typeName)") }
        for k in o.keys {
            guard case .string(let s) = k, known.contains(s) else {
                throw ManifestError(field: k.regoText, reason: "unknown field (known: \(known.sorted().joined(separator: ", ")))")
            }
        }
        let id = try string(o, "id")
        try validateID(id)
        guard let ownerValue = o["owner"], ownerValue != .null else {
            throw ManifestError(field: "owner", reason: "missing: every agent needs a human owner (owner.name and owner.contact)")
        }
        guard case .object(let ownerObject) = ownerValue else {
            throw ManifestError(field: "owner", reason: "must be a mapping with name and contact, got \(ownerValue.typeName)")
        }
        let owner = AgentRecord.Owner(name: try string(ownerObject, "name", prefix: "owner."),
                                      contact: try string(ownerObject, "contact", prefix: "owner."))
        let tier: Int
        switch o["tier"] {
        case .number(let n)? where n.intValue.map({ (1...3).contains($0) }) == true: tier = n.intValue!
        case nil: throw ManifestError(field: "tier", reason: "missing: 1 (read-only observer), 2 (internal actor) or 3 (external-facing)")
        case let other?:
            throw ManifestError(field: "tier", reason: "unknown tier \(other.regoText): use 1 (read-only observer), 2 (internal actor) or 3 (external-facing)")
        }
        let environments = try strings(o, "environments")
        for (i, e) in environments.enumerated() where !AgentManifest.environments.contains(e) {
            throw ManifestError(field: "environments[\(i)]", reason: "unknown environment \"\(e)\" (use dev, staging or prod)")
        }
        let tools = try strings(o, "tools")
        let expiresText = try string(o, "expires")
        guard let expiresAt = parseExpiry(expiresText) else {
            throw ManifestError(field: "expires", reason: "\"\(expiresText)\" is not a date (YYYY-MM-DD) or an RFC 3339 time")
        }
        guard expiresAt > now else {
            throw ManifestError(field: "expires", reason: "\(expiresText) is in the past: choose a future date")
        }
        var tenant: String?
        if o["tenant"] != nil { tenant = try string(o, "tenant") }
        return AgentRecord(id: id, owner: owner, team: try string(o, "team"), purpose: try string(o, "purpose"),
                           tier: tier, tenant: tenant, environments: environments, tools: tools, expiresAt: expiresAt)
    }

    /// `agent/name@team` style: letters, digits and `._-/@:`, up to 200 characters.
    public static func validateID(_ id: String) throws(ManifestError) {
        guard !id.isEmpty, id.utf8.count <= 200 else { throw ManifestError(field: "id", reason: "must be 1 to 200 characters") }
        for c in id.unicodeScalars {
            let ok = (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || "._-/@:".unicodeScalars.contains(c)
            guard ok else { throw ManifestError(field: "id", reason: "\"\(id)\" has the character \"\(c)\"; use letters, digits and . _ - / @ :") }
        }
    }

    /// A date means the end of that day (UTC); an RFC 3339 time means that instant.
    public static func parseExpiry(_ text: String) -> Int64? {
        if text.utf8.count == 10, let day = RFC3339.parseDate(text) { return day + 86_400 - 1 }
        return RFC3339.parse(text)
    }

    static func string(_ o: RegoObject, _ key: String, prefix: String = "") throws(ManifestError) -> String {
        switch o[key] {
        case .string(let s)? where !s.trimmingSpaces.isEmpty: return s
        case nil, .null?: throw ManifestError(field: prefix + key, reason: "missing")
        case .string?: throw ManifestError(field: prefix + key, reason: "must not be empty")
        case .number(let n)?: return n.description  // YAML reads some dates and ids as numbers
        case let v?: throw ManifestError(field: prefix + key, reason: "must be a string, got \(v.typeName)")
        }
    }

    static func strings(_ o: RegoObject, _ key: String) throws(ManifestError) -> [String] {
        guard let v = o[key] else { throw ManifestError(field: key, reason: "missing: list at least one") }
        guard case .array(let a) = v else { throw ManifestError(field: key, reason: "must be a list of strings, got \(v.typeName)") }
        if a.isEmpty { throw ManifestError(field: key, reason: "must list at least one") }
        var out: [String] = []
        for (i, x) in a.enumerated() {
            guard case .string(let s) = x, !s.isEmpty else { throw ManifestError(field: "\(key)[\(i)]", reason: "must be a non-empty string") }
            out.append(s)
        }
        return out
    }
}

extension String {
    var trimmingSpaces: Substring {
        let start = firstIndex { $0 != " " && $0 != "\t" && $0 != "\n" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" && $0 != "\n" }.map { index(after: $0) } ?? start
        return self[start..<max(start, end)]
    }
}
