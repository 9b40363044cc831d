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
        Step(version: 2, name: "decision log: hash-chained, append-only, signed checkpoints, report views", sql: [
            // `record` is the exact JSON line Warden spooled and hashed; the few columns that
            // are indexed are copied out of it by Warden, so inserting parses no JSON (the
            // shipper's cost is the database's). `warden audit verify` checks the chain over
            // `record` and that the copies still agree with it. The record compresses with LZ4.
            """
            CREATE TABLE warden_decisions (
                seq         bigint PRIMARY KEY,
                decision_id uuid NOT NULL UNIQUE,
                time        timestamptz NOT NULL,
                agent_id    text,
                record      text COMPRESSION lz4 NOT NULL,
                prev_hash   bytea NOT NULL,
                row_hash    bytea NOT NULL
            )
            """,
            "CREATE INDEX warden_decisions_time ON warden_decisions (time)",
            "CREATE INDEX warden_decisions_agent_time ON warden_decisions (agent_id, time)",
            // Every field of a decision as a column: what the platform team queries. Filter
            // on time or agent_id first: those are indexed, the rest is read from the record.
            """
            CREATE VIEW warden_decision_log AS
            SELECT d.seq, d.decision_id, d.time, d.agent_id,
                   j.doc ->> 'owner' AS owner, j.doc ->> 'tenant' AS tenant,
                   j.doc ->> 'method' AS method, j.doc ->> 'host' AS host, j.doc ->> 'path' AS path, j.doc ->> 'tool' AS tool,
                   j.doc ->> 'decision' AS decision, (j.doc ->> 'enforced')::boolean AS enforced,
                   (j.doc ->> 'http_status')::integer AS http_status, coalesce(j.doc -> 'reasons', '[]') AS reasons,
                   j.doc ->> 'bundle_revision' AS bundle_revision, j.doc ->> 'policy_path' AS policy_path,
                   (j.doc ->> 'eval_us')::integer AS eval_us, (j.doc ->> 'total_us')::integer AS total_us,
                   j.doc ->> 'trace_id' AS trace_id, j.doc ->> 'request_id' AS request_id, j.doc ->> 'jti' AS jti,
                   coalesce(j.doc -> 'shadow', '[]') AS shadow, j.doc -> 'input' AS input, j.doc ->> 'warden' AS warden
            FROM warden_decisions d CROSS JOIN LATERAL (SELECT d.record::jsonb AS doc) j
            """,
            """
            COMMENT ON TABLE warden_decisions IS
                'One row per Check Warden answered. Append-only; row_hash = sha256(prev_hash || record); `warden audit verify` checks the chain and the signed checkpoints'
            """,
            // The head of the chain: one row, locked by each shipping transaction, so
            // several Wardens append to one chain in turn.
            """
            CREATE TABLE warden_audit_head (
                id                  boolean PRIMARY KEY DEFAULT true CHECK (id),
                seq                 bigint NOT NULL,
                row_hash            bytea NOT NULL,
                checkpoint_seq      bigint NOT NULL,
                checkpoint_at       timestamptz NOT NULL
            )
            """,
            "INSERT INTO warden_audit_head VALUES (true, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000', 0, now())",
            """
            CREATE TABLE warden_audit_checkpoints (
                seq       bigint PRIMARY KEY,
                row_hash  bytea NOT NULL,
                signed_at timestamptz NOT NULL,
                kid       text NOT NULL,
                signature bytea NOT NULL,
                warden    text NOT NULL
            )
            """,
            """
            CREATE TABLE warden_audit_keys (
                kid        text PRIMARY KEY,
                jwk        jsonb NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            // Where each Warden's spool has been shipped to, committed with the rows.
            """
            CREATE TABLE warden_audit_spool_progress (
                warden  text PRIMARY KEY,
                segment bigint NOT NULL,
                "offset" bigint NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE FUNCTION warden_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
            END $$
            """,
            """
            CREATE TRIGGER warden_decisions_append_only BEFORE UPDATE OR DELETE ON warden_decisions
                FOR EACH ROW EXECUTE FUNCTION warden_append_only()
            """,
            """
            CREATE TRIGGER warden_decisions_no_truncate BEFORE TRUNCATE ON warden_decisions
                FOR EACH STATEMENT EXECUTE FUNCTION warden_append_only()
            """,
            """
            CREATE TRIGGER warden_audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON warden_audit_checkpoints
                FOR EACH ROW EXECUTE FUNCTION warden_append_only()
            """,
            // The role Warden ships as: it may add rows, never change or remove them.
            """
            DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'warden_audit_writer') THEN
                    CREATE ROLE warden_audit_writer NOLOGIN;
                END IF;
            END $$
            """,
            "REVOKE ALL ON warden_decisions, warden_audit_checkpoints FROM warden_audit_writer",
            "GRANT SELECT, INSERT ON warden_decisions, warden_audit_checkpoints TO warden_audit_writer",
            "GRANT SELECT ON warden_decision_log TO warden_audit_writer",
            "GRANT SELECT, INSERT, UPDATE ON warden_audit_head, warden_audit_spool_progress TO warden_audit_writer",
            "GRANT SELECT, INSERT ON warden_audit_keys TO warden_audit_writer",

            // Reports: views the platform team can query directly.
            """
            CREATE VIEW warden_report_activity AS
            SELECT date_trunc('hour', time) AS hour, agent_id, owner,
                   count(*) AS calls,
                   count(*) FILTER (WHERE decision = 'allow') AS allowed,
                   count(*) FILTER (WHERE decision IN ('deny', 'error')) AS denied,
                   count(*) FILTER (WHERE decision = 'would_block') AS would_block
            FROM warden_decision_log GROUP BY 1, 2, 3
            """,
            """
            CREATE VIEW warden_report_denials AS
            SELECT date_trunc('hour', d.time) AS hour, d.agent_id, d.decision, d.policy_path, d.bundle_revision,
                   coalesce(r.value ->> 'message', r.value #>> '{}') AS reason, r.value ->> 'rule' AS rule, count(*) AS n
            FROM warden_decision_log d
            CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_array_length(d.reasons) = 0
                                                         THEN '["(no reason given)"]'::jsonb ELSE d.reasons END) AS r(value)
            WHERE d.decision IN ('deny', 'would_block', 'error')
            GROUP BY 1, 2, 3, 4, 5, 6, 7
            """,
            """
            CREATE VIEW warden_report_shadow AS
            SELECT date_trunc('hour', d.time) AS hour, d.agent_id, s.value ->> 'source' AS source,
                   s.value ->> 'decision' AS decision, d.decision AS enforced_decision, d.method, d.host, d.path, d.tool,
                   s.value -> 'reasons' AS reasons, d.decision_id
            FROM warden_decision_log d CROSS JOIN LATERAL jsonb_array_elements(d.shadow) AS s(value)
            """,
            """
            CREATE VIEW warden_report_would_block_ratio AS
            SELECT coalesce(policy_path, '') AS policy_path, coalesce(bundle_revision, '') AS bundle_revision,
                   count(*) AS calls,
                   count(*) FILTER (WHERE decision = 'would_block' OR shadow @> '[{"decision": "would_block"}]') AS would_block,
                   round(count(*) FILTER (WHERE decision = 'would_block' OR shadow @> '[{"decision": "would_block"}]')::numeric
                         / greatest(count(*), 1), 4) AS would_block_ratio
            FROM warden_decision_log GROUP BY 1, 2
            """,
            """
            CREATE VIEW warden_report_coverage AS
            SELECT (SELECT count(*) FROM warden_decision_log WHERE enforced AND decision <> 'error')::numeric
                       / greatest((SELECT count(*) FROM warden_decision_log), 1) AS enforced_call_share,
                   (SELECT count(DISTINCT agent_id) FROM warden_decision_log WHERE enforced AND decision <> 'error')::numeric
                       / greatest((SELECT count(*) FROM warden_agents WHERE status = 'active'), 1) AS enforced_agent_share,
                   (SELECT count(*) FROM warden_decision_log) AS calls,
                   (SELECT count(*) FROM warden_agents WHERE status = 'active') AS active_agents
            """,
            """
            CREATE VIEW warden_report_latency AS
            SELECT date_trunc('hour', time) AS hour, coalesce(policy_path, '') AS policy_path, count(*) AS calls,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY eval_us) AS eval_p50_us,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY eval_us) AS eval_p99_us,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY total_us) AS total_p99_us
            FROM warden_decision_log GROUP BY 1, 2
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
