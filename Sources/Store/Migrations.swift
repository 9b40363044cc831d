/// Warden's schema, as numbered steps applied in order and recorded in
/// `warden_schema_migrations`. A step is never edited once released; changes are new steps.
/// `warden db migrate` applies them, and so does `warden serve` at start.
public enum Migrations {
    public struct Step: Sendable {
        public let version: Int
        public let name: String
        let sql: [SQL]
    }

    public static let all: [Step] = [
        Step(version: 1, name: "agent registry, signing keys, agent events", sql: [
            """
            CREATE TABLE warden_agents (
                id                 text PRIMARY KEY,
                owner_name         text,
                owner_contact      text,
                team               text NOT NULL,
                purpose            text NOT NULL,
                tier               smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
                tenant             text,
                environments       text[] NOT NULL,
                tools              text[] NOT NULL,
                expires_at         timestamptz NOT NULL,
                status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired', 'killed')),
                killed_reason      text,
                killed_at          timestamptz,
                tokens_valid_after timestamptz,
                manifest           jsonb NOT NULL,
                registered_at      timestamptz NOT NULL DEFAULT now(),
                updated_at         timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            COMMENT ON COLUMN warden_agents.tokens_valid_after IS
                'Tokens issued at or before this instant are refused: set by a kill, kept by a revive'
            """,
            """
            CREATE TABLE warden_signing_keys (
                kid        text PRIMARY KEY,
                alg        text NOT NULL,
                jwk        jsonb NOT NULL,
                status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
                created_at timestamptz NOT NULL DEFAULT now(),
                retired_at timestamptz
            )
            """,
            """
            CREATE TABLE warden_agent_events (
                id       bigserial PRIMARY KEY,
                agent_id text NOT NULL,
                action   text NOT NULL CHECK (action IN ('register', 'update', 'renew', 'retire', 'kill', 'revive')),
                reason   text,
                actor    text NOT NULL,
                at       timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX warden_agent_events_agent ON warden_agent_events (agent_id, at)",
            // Every change to agents or keys tells each running Warden at commit, whoever made
            // it (the CLI or a hand-written UPDATE), so a kill lands everywhere at once.
            """
            CREATE FUNCTION warden_registry_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('warden_registry', TG_TABLE_NAME);
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER warden_agents_notify AFTER INSERT OR UPDATE OR DELETE ON warden_agents
                FOR EACH STATEMENT EXECUTE FUNCTION warden_registry_notify()
            """,
            """
            CREATE TRIGGER warden_signing_keys_notify AFTER INSERT OR UPDATE OR DELETE ON warden_signing_keys
                FOR EACH STATEMENT EXECUTE FUNCTION warden_registry_notify()
            """,
        ]),
    ]

    /// Applies the steps not yet applied, each in its own transaction, under an advisory
    /// lock so that several Wardens starting together do not race. Returns what it applied.
    @discardableResult
    public static func migrate(_ db: PostgresConnection) throws(StoreError) -> [Step] {
        do {
            return try db.transaction { () throws(StoreError) -> [Step] in
                // One lock for the whole run: the key is an arbitrary constant ("warden" in ASCII).
                try db.execute("SELECT pg_advisory_xact_lock(7761722917100)")
                try db.execute("""
                    CREATE TABLE IF NOT EXISTS warden_schema_migrations (
                        version    integer PRIMARY KEY,
                        name       text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """)
                let done = Set(try db.execute("SELECT version FROM warden_schema_migrations").rows.compactMap { $0["version"].flatMap { Int($0) } })
                if let newest = done.max(), newest > (all.last?.version ?? 0) {
                    throw StoreError("the database schema is at version \(newest), newer than this Warden knows (\(all.last?.version ?? 0)): upgrade Warden")
                }
                var applied: [Step] = []
                for step in all where !done.contains(step.version) {
                    for statement in step.sql {
                        do throws(StoreError) { try db.execute(statement) } catch {
                            throw StoreError("migration \(step.version) (\(step.name)) failed: \(error.message)", sqlState: error.sqlState)
                        }
                    }
                    try db.execute("INSERT INTO warden_schema_migrations (version, name) VALUES (\(step.version), \(step.name))")
                    applied.append(step)
                }
                return applied
            }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError("\(error)")
        }
    }
}
