import AgentIdentity
import Foundation
import Testing
@testable import Store

/// The tamper evidence, on rows in memory: each way of changing the log is caught at the
/// row where it happened.
struct AuditChainTests {
    static let key = try! PrivateKey.ed25519(seed: [UInt8](repeating: 9, count: 32))
    static let keys = ["k": try! key.publicKey()]

    /// `n` chained rows and a checkpoint at every `every`-th.
    static func log(_ n: Int, checkpointEvery every: Int = 4) -> ([AuditChain.Row], [AuditChain.Checkpoint]) {
        var rows: [AuditChain.Row] = [], checkpoints: [AuditChain.Checkpoint] = []
        var prev = AuditChain.genesis
        for i in 1...n {
            let record = #"{"decision":"allow","decision_id":"id-\#(i)"}"#
            let hash = AuditChain.hash(previous: prev, record: record)
            rows.append(.init(seq: Int64(i), record: record, prevHash: prev, rowHash: hash))
            if i % every == 0 {
                let sig = try! key.sign(AuditChain.checkpointMessage(seq: Int64(i), rowHash: hash, signedAt: 100))
                checkpoints.append(.init(seq: Int64(i), rowHash: hash, signedAt: 100, kid: "k", signature: sig))
            }
            prev = hash
        }
        return (rows, checkpoints)
    }

    static func walk(_ rows: [AuditChain.Row], _ checkpoints: [AuditChain.Checkpoint], head: Int64) throws(AuditChain.Problem) -> AuditChain.Walk {
        var w = AuditChain.Walk(after: 0, hash: AuditChain.genesis, checkpoints: checkpoints, keys: keys)
        for r in rows { try w.feed(r) }
        try w.finish(headSeq: head)
        return w
    }

    static func problem(_ rows: [AuditChain.Row], _ checkpoints: [AuditChain.Checkpoint], head: Int64) -> AuditChain.Problem? {
        do { _ = try walk(rows, checkpoints, head: head); return nil } catch { return error }
    }

    @Test func intactLogVerifies() throws {
        let (rows, cps) = Self.log(10)
        let w = try Self.walk(rows, cps, head: 10)
        #expect(w.rows == 10)
        #expect(w.checkpointsVerified == 2)
    }

    @Test func alteredRecordIsFoundAtItsRow() {
        var (rows, cps) = Self.log(10)
        let r = rows[5]
        rows[5] = .init(seq: r.seq, record: r.record.replacingOccurrences(of: "allow", with: "deny"), prevHash: r.prevHash, rowHash: r.rowHash)
        #expect(Self.problem(rows, cps, head: 10) == .init(kind: .altered, seq: 6, detail: "altered: its record does not match its hash"))
    }

    @Test func alteredAndRehashedRowsAreCaughtByTheCheckpoint() {
        var (rows, cps) = Self.log(10)
        // Re-hash from row 6 on, as someone with write access but without the key would.
        var prev = rows[4].rowHash
        for i in 5..<10 {
            let record = i == 5 ? rows[i].record.replacingOccurrences(of: "allow", with: "deny") : rows[i].record
            let hash = AuditChain.hash(previous: prev, record: record)
            rows[i] = .init(seq: rows[i].seq, record: record, prevHash: prev, rowHash: hash)
            prev = hash
        }
        let p = Self.problem(rows, cps, head: 10)
        #expect(p?.seq == 8)
        #expect(p?.kind == .altered)
    }

    @Test func removedRowIsFound() {
        var (rows, cps) = Self.log(10)
        rows.remove(at: 6)
        #expect(Self.problem(rows, cps, head: 10)?.kind == .removed)
        #expect(Self.problem(rows, cps, head: 10)?.seq == 8)
    }

    @Test func removedTailIsFound() {
        let (rows, cps) = Self.log(10)
        #expect(Self.problem(Array(rows.prefix(9)), cps, head: 10)?.kind == .removed)
        #expect(Self.problem(Array(rows.prefix(6)), cps, head: 6)?.kind == .removed)  // a checkpoint signed seq 8
    }

    @Test func insertedRowIsFound() {
        var (rows, cps) = Self.log(10)
        let fake = AuditChain.Row(seq: 11, record: #"{"decision":"allow"}"#, prevHash: rows[9].rowHash,
                                  rowHash: AuditChain.hash(previous: rows[9].rowHash, record: #"{"decision":"allow"}"#))
        rows.append(fake)
        #expect(Self.problem(rows, cps, head: 10) == .init(kind: .inserted, seq: 11, detail: "beyond the chain head (10): inserted by hand"))
        var middle = Self.log(10).0
        middle[3] = .init(seq: 4, record: "{}", prevHash: AuditChain.genesis, rowHash: AuditChain.hash(previous: AuditChain.genesis, record: "{}"))
        #expect(Self.problem(middle, cps, head: 10)?.kind == .inserted)
        #expect(Self.problem(middle, cps, head: 10)?.seq == 4)
    }

    @Test func forgedCheckpointSignatureIsFound() {
        var (rows, cps) = Self.log(8)
        let c = cps[0]
        cps[0] = .init(seq: c.seq, rowHash: c.rowHash, signedAt: c.signedAt, kid: c.kid, signature: [UInt8](repeating: 1, count: 64))
        #expect(Self.problem(rows, cps, head: 8)?.kind == .checkpoint)
        rows.removeAll()
    }
}
