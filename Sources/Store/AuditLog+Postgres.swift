public import AgentIdentity
import Rego

/// The decision log in PostgreSQL: batches appended to one hash chain, each in one
/// transaction with the spool position it came from, and signed checkpoints.
public struct PostgresAuditLog {
    let db: PostgresConnection

    public init(_ db: PostgresConnection) { self.db = db }

    /// Where a spool is in its files: segment number and byte offset.
    public struct SpoolPosition: Sendable, Equatable, Comparable {
        public var segment: Int64
        public var offset: Int64
        public init(segment: Int64, offset: Int64) {
            self.segment = segment
            self.offset = offset
        }
        public static func < (a: SpoolPosition, b: SpoolPosition) -> Bool {
            (a.segment, a.offset) < (b.segment, b.offset)
        }
    }

    /// Signs checkpoints: the Warden's audit key.
    public struct Signer: Sendable {
        public let kid: String
        public let key: PrivateKey
        public let warden: String
        public init(kid: String, key: PrivateKey, warden: String) {
            self.kid = kid
            self.key = key
            self.warden = warden
        }
    }

    public struct CheckpointPolicy: Sendable {
        public var everyRows: Int64 = 1000
        public var everySeconds: Int64 = 10
        public init() {}
    }

    /// From here on, this connection works as the role that may only add rows to the log
    /// (when the login may take it). Returns whether it could.
    @discardableResult
    public func actAsWriter() throws(StoreError) -> Bool {
        guard try db.execute("SELECT pg_has_role(current_user, 'warden_audit_writer', 'MEMBER') AS ok").rows.first?["ok"] == "t" else {
            return false
        }
        try db.execute("SET ROLE warden_audit_writer")
        return true
    }

    /// How far this Warden's spool was shipped, or nil the first time.
    public func progress(warden: String) throws(StoreError) -> SpoolPosition? {
        guard let r = try db.execute("SELECT segment, \"offset\" FROM warden_audit_spool_progress WHERE warden = \(warden)").rows.first,
              let s = r["segment"].flatMap({ Int64($0) }), let o = r["offset"].flatMap({ Int64($0) }) else { return nil }
        return SpoolPosition(segment: s, offset: o)
    }

    /// Registers the public half of an audit signing key (idempotent).
    public func registerKey(kid: String, jwkJSON: String) throws(StoreError) {
        try db.execute("INSERT INTO warden_audit_keys (kid, jwk) VALUES (\(kid), \(jwkJSON)::jsonb) ON CONFLICT (kid) DO NOTHING")
    }

    /// One spooled decision is a line `decision_id TAB time_us TAB agent_id TAB record`: the
    /// JSON record the hash covers, after the indexed fields Warden copied out of it when it
    /// wrote it (a JSON record has no raw tabs or newlines; ids have none either). This is
    /// what comes before the record; the writer appends the record right after it.
    public static func spoolLinePrefix(decisionID: String, timeMicros: Int64, agentID: String?) -> String {
        var prefix = ""
        prefix.reserveCapacity(decisionID.utf8.count + (agentID?.utf8.count ?? 0) + 24)
        prefix += decisionID
        prefix += "\t"
        prefix += String(timeMicros)
        prefix += "\t"
        prefix += agentID ?? ""
        prefix += "\t"
        return prefix
    }

    /// What one `append` did.
    public struct Appended: Sendable {
        /// The last seq of the chain.
        public let lastSeq: Int64
        public let rows: Int
        /// Indices of the lines that were not decision records (damaged): not shipped.
        public let skipped: [Int]
    }

    /// Appends spool lines (`spoolLinePrefix` and a record, in spool order) to the chain with one COPY
    /// and moves this Warden's spool position to `upTo`, atomically; signs a checkpoint
    /// when one is due.
    @discardableResult
    public func append(spoolLines lines: [ArraySlice<UInt8>], upTo position: SpoolPosition, signer: Signer,
                       checkpoints: CheckpointPolicy, now: Int64) throws(StoreError) -> Appended {
        do {
            return try db.transaction { () throws(StoreError) -> Appended in
                guard let head = try db.execute("""
                    SELECT seq, encode(row_hash, 'hex') AS row_hash, checkpoint_seq,
                           floor(extract(epoch FROM checkpoint_at))::bigint AS checkpoint_at
                    FROM warden_audit_head FOR UPDATE
                    """, prepared: true).rows.first,
                    var seq = head["seq"].flatMap({ Int64($0) }), var hash = head["row_hash"].flatMap({ Hex.decode($0) }) else {
                    throw StoreError("the audit chain head is missing: run `warden db migrate`")
                }
                let checkpointSeq = head["checkpoint_seq"].flatMap { Int64($0) } ?? 0
                let checkpointAt = head["checkpoint_at"].flatMap { Int64($0) } ?? 0
                var rows = ChainedCopyRows(after: seq, hash: hash, capacity: ChainedCopyRows.capacity(for: lines))
                var skipped: [Int] = []
                for (i, line) in lines.enumerated() where !rows.add(spoolLine: line) { skipped.append(i) }
                seq = rows.seq
                hash = rows.hash
                let added = rows.count
                if added > 0 { try db.copyIn(ChainedCopyRows.statement, rows.copyData()) }
                var newCheckpointSeq = checkpointSeq, newCheckpointAt = checkpointAt
                if seq > checkpointSeq && (seq - checkpointSeq >= checkpoints.everyRows || now - checkpointAt >= checkpoints.everySeconds) {
                    let signature: [UInt8]
                    do { signature = try signer.key.sign(AuditChain.checkpointMessage(seq: seq, rowHash: hash, signedAt: now)) } catch {
                        throw StoreError("cannot sign the audit checkpoint: \(error)")
                    }
                    try db.execute("""
                        INSERT INTO warden_audit_checkpoints (seq, row_hash, signed_at, kid, signature, warden)
                        VALUES (\(seq), \("\\x" + Hex.encode(hash))::bytea, to_timestamp(\(now)), \(signer.kid),
                                \("\\x" + Hex.encode(signature))::bytea, \(signer.warden))
                        """)
                    newCheckpointSeq = seq
                    newCheckpointAt = now
                }
                try db.execute("""
                    UPDATE warden_audit_head SET seq = \(seq), row_hash = \("\\x" + Hex.encode(hash))::bytea,
                           checkpoint_seq = \(newCheckpointSeq), checkpoint_at = to_timestamp(\(newCheckpointAt))
                    """, prepared: true)
                try db.execute("""
                    INSERT INTO warden_audit_spool_progress (warden, segment, "offset") VALUES (\(signer.warden), \(position.segment), \(position.offset))
                    ON CONFLICT (warden) DO UPDATE SET segment = excluded.segment, "offset" = excluded."offset", updated_at = now()
                    """, prepared: true)
                return Appended(lastSeq: seq, rows: added, skipped: skipped)
            }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError("\(error)")
        }
    }

    // MARK: - Verification

    public struct VerifyReport: Sendable {
        public let rows: Int
        public let checkpoints: Int
        public let firstSeq: Int64
        public let lastSeq: Int64
        /// Rows after the last checkpoint: chained, not yet signed.
        public let unsigned: Int64
    }

    /// Walks the chain (from the last checkpoint before `since`, Unix seconds, when given)
    /// and throws the first problem. `trustedKeys`: verify checkpoints with these only;
    /// nil uses the keys registered in the database.
    public func verify(since: Int64?, trustedKeys: [String: PublicKey]?) throws -> VerifyReport {
        let keys = try trustedKeys ?? registeredKeys()
        let checkpoints = try db.execute("""
            SELECT seq, encode(row_hash, 'hex') AS row_hash, floor(extract(epoch FROM signed_at))::bigint AS signed_at, kid,
                   encode(signature, 'hex') AS signature
            FROM warden_audit_checkpoints ORDER BY seq
            """).rows.map { r in
            AuditChain.Checkpoint(seq: Int64(r["seq"] ?? "") ?? 0, rowHash: Hex.decode(r["row_hash"] ?? "") ?? [],
                                  signedAt: Int64(r["signed_at"] ?? "") ?? 0, kid: r["kid"] ?? "", signature: Hex.decode(r["signature"] ?? "") ?? [])
        }
        let headSeq = Int64(try db.execute("SELECT seq FROM warden_audit_head").rows.first?["seq"] ?? "0") ?? 0
        // Where to start: the genesis, or the last good checkpoint before `since`.
        var anchorSeq: Int64 = 0, anchorHash = AuditChain.genesis
        if let since {
            let firstSince = Int64(try db.execute("""
                SELECT coalesce(min(seq), 0) AS seq FROM warden_decisions WHERE time >= to_timestamp(\(since))
                """).rows.first?["seq"] ?? "0") ?? 0
            if let anchor = checkpoints.last(where: { $0.seq < firstSince }) {
                guard AuditChain.Walk.verifySignature(anchor, keys: keys) else {
                    throw AuditChain.Problem(kind: .checkpoint, seq: anchor.seq, detail: "the checkpoint's signature does not verify with key \(anchor.kid)")
                }
                anchorSeq = anchor.seq
                anchorHash = anchor.rowHash
            }
        }
        var walk = AuditChain.Walk(after: anchorSeq, hash: anchorHash, checkpoints: checkpoints.filter { $0.seq > anchorSeq }, keys: keys)
        var cursor = anchorSeq
        while true {
            // `consistent`: the parsed copy and the indexed columns still agree with the record.
            let rows = try db.execute("""
                SELECT seq, record, encode(prev_hash, 'hex') AS prev_hash, encode(row_hash, 'hex') AS row_hash,
                       (decision_id = (j.doc ->> 'decision_id')::uuid
                        AND (time = timestamptz 'epoch' + (j.doc ->> 'time_us')::bigint * interval '1 microsecond'
                             -- rows shipped before Warden used COPY went through a double
                             OR time = to_timestamp((j.doc ->> 'time_us')::double precision / 1000000))
                        AND agent_id IS NOT DISTINCT FROM j.doc ->> 'agent_id') AS consistent
                FROM warden_decisions d CROSS JOIN LATERAL (SELECT d.record::jsonb AS doc) j
                WHERE seq > \(cursor) ORDER BY seq LIMIT 5000
                """).rows
            if rows.isEmpty { break }
            for r in rows {
                if r["consistent"] != "t" {
                    throw AuditChain.Problem(kind: .altered, seq: Int64(r["seq"] ?? "") ?? 0,
                                             detail: "altered: its columns no longer match its hashed record")
                }
                let row = AuditChain.Row(seq: Int64(r["seq"] ?? "") ?? 0, record: r["record"] ?? "",
                                         prevHash: Hex.decode(r["prev_hash"] ?? "") ?? [], rowHash: Hex.decode(r["row_hash"] ?? "") ?? [])
                try walk.feed(row)
                cursor = row.seq
            }
        }
        try walk.finish(headSeq: headSeq)
        let lastCheckpoint = checkpoints.last?.seq ?? 0
        return VerifyReport(rows: walk.rows, checkpoints: walk.checkpointsVerified, firstSeq: anchorSeq + 1, lastSeq: walk.lastSeq,
                            unsigned: max(0, walk.lastSeq - lastCheckpoint))
    }

    func registeredKeys() throws -> [String: PublicKey] {
        var keys: [String: PublicKey] = [:]
        for r in try db.execute("SELECT kid, jwk::text AS jwk FROM warden_audit_keys").rows {
            if case .object(let o)? = try? Value.parseJSON(r["jwk"] ?? ""), let k = try? SigningKey.fromJWK(o, source: "database"),
               case .publicKey(let pk) = k.material {
                keys[k.kid] = pk
            }
        }
        return keys
    }
}
