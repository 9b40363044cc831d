public import AgentIdentity
import Rego

/// The agent registry and signing keys in PostgreSQL. Every write records who did what in
/// `warden_agent_events`, and the tables' triggers notify running Wardens at commit.
public struct PostgresAgentRegistry {
    let db: PostgresConnection

    public init(_ db: PostgresConnection) { self.db = db }

    /// The LISTEN channel the registry triggers notify.
    public static let channel = "warden_registry"

    // MARK: - Reading

    static let agentColumns: SQL = """
        SELECT id, owner_name, owner_contact, team, purpose, tier, tenant, environments, tools,
               floor(extract(epoch FROM expires_at))::bigint AS expires_at, status, killed_reason,
               floor(extract(epoch FROM killed_at))::bigint AS killed_at,
               floor(extract(epoch FROM tokens_valid_after))::bigint AS tokens_valid_after
        FROM warden_agents
        """

    public func agents() throws(StoreError) -> [AgentRecord] {
        try db.execute("\(sql: PostgresAgentRegistry.agentColumns) ORDER BY id").rows.map(PostgresAgentRegistry.record)
    }

    public func agent(_ id: String) throws(StoreError) -> AgentRecord? {
        try db.execute("\(sql: PostgresAgentRegistry.agentColumns) WHERE id = \(id)").rows.first.map(PostgresAgentRegistry.record)
    }

    static func record(_ r: QueryResult.Row) -> AgentRecord {
        var owner: AgentRecord.Owner?
        if let name = r["owner_name"], let contact = r["owner_contact"] { owner = .init(name: name, contact: contact) }
        var a = AgentRecord(id: r["id"] ?? "", owner: owner, team: r["team"] ?? "", purpose: r["purpose"] ?? "",
                            tier: Int(r["tier"] ?? "") ?? 0, tenant: r["tenant"],
                            environments: SQL.parseArray(r["environments"] ?? "{}"), tools: SQL.parseArray(r["tools"] ?? "{}"),
                            expiresAt: Int64(r["expires_at"] ?? "") ?? 0)
        a.status = AgentRecord.Status(rawValue: r["status"] ?? "") ?? .retired
        a.killedReason = r["killed_reason"]
        a.killedAt = r["killed_at"].flatMap { Int64($0) }
        a.tokensValidAfter = r["tokens_valid_after"].flatMap { Int64($0) }
        return a
    }

    /// Signing keys, retired ones included (so their tokens are refused with that reason).
    /// A row that does not parse is reported, not skipped silently.
    public func signingKeys() throws(StoreError) -> (keys: [SigningKey], problems: [String]) {
        let rows = try db.execute("""
            SELECT kid, jwk::text AS jwk, floor(extract(epoch FROM retired_at))::bigint AS retired_at
            FROM warden_signing_keys ORDER BY kid
            """).rows
        var keys: [SigningKey] = [], problems: [String] = []
        for r in rows {
            do {
                guard case .object(let o) = try Value.parseJSON(r["jwk"] ?? "") else { throw StoreError("not a JSON object") }
                keys.append(try SigningKey.fromJWK(o, source: "database", retiredAt: r["retired_at"].flatMap { Int64($0) }))
            } catch {
                problems.append("signing key \(r["kid"] ?? "?") in the database: \(error)")
            }
        }
        return (keys, problems)
    }

    // MARK: - Agents

    /// Registers a new agent or updates one (same id); a retired agent stays retired.
    @discardableResult
    public func register(_ a: AgentRecord, manifestJSON: String, actor: String) throws(StoreError) -> Bool {
        try inTransaction { () throws(StoreError) -> Bool in
            let existing = try db.execute("SELECT status FROM warden_agents WHERE id = \(a.id) FOR UPDATE").rows.first
            if existing?["status"] == "retired" {
                throw StoreError("agent \(a.id) is retired; a retired id cannot be registered again: choose a new id")
            }
            try db.execute("""
                INSERT INTO warden_agents (id, owner_name, owner_contact, team, purpose, tier, tenant, environments, tools, expires_at, manifest)
                VALUES (\(a.id), \(a.owner?.name), \(a.owner?.contact), \(a.team), \(a.purpose), \(a.tier), \(a.tenant),
                        \(a.environments), \(a.tools), to_timestamp(\(a.expiresAt)), \(manifestJSON)::jsonb)
                ON CONFLICT (id) DO UPDATE SET
                    owner_name = excluded.owner_name, owner_contact = excluded.owner_contact, team = excluded.team,
                    purpose = excluded.purpose, tier = excluded.tier, tenant = excluded.tenant,
                    environments = excluded.environments, tools = excluded.tools, expires_at = excluded.expires_at,
                    manifest = excluded.manifest, updated_at = now()
                """)
            try event(a.id, existing == nil ? "register" : "update", reason: nil, actor: actor)
            return existing == nil
        }
    }

    public func renew(_ id: String, until: Int64, actor: String) throws(StoreError) {
        try change(id, "renew", reason: nil, actor: actor,
                   "UPDATE warden_agents SET expires_at = to_timestamp(\(until)), updated_at = now() WHERE id = \(id) AND status <> 'retired'")
    }

    public func retire(_ id: String, reason: String?, actor: String) throws(StoreError) {
        try change(id, "retire", reason: reason, actor: actor,
                   "UPDATE warden_agents SET status = 'retired', updated_at = now() WHERE id = \(id)")
    }

    /// Stops the agent everywhere; every token issued until now stays refused, even after a revive.
    public func kill(_ id: String, reason: String, actor: String) throws(StoreError) {
        try change(id, "kill", reason: reason, actor: actor, """
            UPDATE warden_agents SET status = 'killed', killed_reason = \(reason), killed_at = now(),
                   tokens_valid_after = now(), updated_at = now()
            WHERE id = \(id) AND status <> 'retired'
            """)
    }

    public func revive(_ id: String, reason: String?, actor: String) throws(StoreError) {
        try change(id, "revive", reason: reason, actor: actor, """
            UPDATE warden_agents SET status = 'active', killed_reason = NULL, updated_at = now()
            WHERE id = \(id) AND status = 'killed'
            """)
    }

    func change(_ id: String, _ action: String, reason: String?, actor: String, _ update: SQL) throws(StoreError) {
        try inTransaction { () throws(StoreError) in
            guard let status = try db.execute("SELECT status FROM warden_agents WHERE id = \(id) FOR UPDATE").rows.first?["status"] else {
                throw StoreError("no agent \(id) is registered (`warden agent list` shows them)")
            }
            if try db.execute(update).affected == 0 {
                throw StoreError("agent \(id) is \(status): cannot \(action) it")
            }
            try event(id, action, reason: reason, actor: actor)
        }
    }

    func event(_ id: String, _ action: String, reason: String?, actor: String) throws(StoreError) {
        try db.execute("INSERT INTO warden_agent_events (agent_id, action, reason, actor) VALUES (\(id), \(action), \(reason), \(actor))")
    }

    public struct Event: Sendable {
        public let action: String
        public let reason: String?
        public let actor: String
        public let at: String
    }

    public func events(_ id: String) throws(StoreError) -> [Event] {
        try db.execute("""
            SELECT action, reason, actor, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at
            FROM warden_agent_events WHERE agent_id = \(id) ORDER BY id
            """).rows.map { Event(action: $0["action"] ?? "", reason: $0["reason"], actor: $0["actor"] ?? "", at: $0["at"] ?? "") }
    }

    // MARK: - Keys

    public func addKey(_ key: SigningKey, jwkJSON: String) throws(StoreError) {
        do {
            try db.execute("INSERT INTO warden_signing_keys (kid, alg, jwk) VALUES (\(key.kid), \(key.algorithm.rawValue), \(jwkJSON)::jsonb)")
        } catch where error.sqlState == "23505" {
            throw StoreError("a key with kid \(key.kid) is already registered")
        }
    }

    public func retireKey(_ kid: String) throws(StoreError) {
        let n = try db.execute("UPDATE warden_signing_keys SET status = 'retired', retired_at = now() WHERE kid = \(kid) AND status = 'active'").affected
        if n == 0 { throw StoreError("no active key with kid \(kid)") }
    }

    func inTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        do { return try db.transaction(body) } catch let e as StoreError { throw e } catch { throw StoreError("\(error)") }
    }
}
