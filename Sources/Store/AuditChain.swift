public import AgentIdentity
import Rego

/// The decision log's tamper evidence, as pure functions: each row's hash covers the hash
/// of the row before it and the row's record (`sha256(prev_hash || record)`), and Warden
/// signs the chain's head (Ed25519) every N rows or T seconds. `Walk` checks rows in
/// order and names the first that was altered, removed or inserted.
public enum AuditChain {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func hash(previous: [UInt8], record: String) -> [UInt8] {
        hash(previous: previous, record: ArraySlice(record.utf8))
    }

    /// The same over a record's UTF-8 bytes, as the shipper reads them from the spool.
    public static func hash(previous: [UInt8], record: ArraySlice<UInt8>) -> [UInt8] {
        Digest.sha256.hash(previous, record)
    }

    /// What a checkpoint signature covers.
    public static func checkpointMessage(seq: Int64, rowHash: [UInt8], signedAt: Int64) -> [UInt8] {
        Array("warden-audit-checkpoint\n\(seq)\n\(Hex.encode(rowHash))\n\(signedAt)\n".utf8)
    }

    public struct Row: Sendable {
        public let seq: Int64
        public let record: String
        public let prevHash: [UInt8]
        public let rowHash: [UInt8]
        public init(seq: Int64, record: String, prevHash: [UInt8], rowHash: [UInt8]) {
            self.seq = seq
            self.record = record
            self.prevHash = prevHash
            self.rowHash = rowHash
        }
    }

    public struct Checkpoint: Sendable {
        public let seq: Int64
        public let rowHash: [UInt8]
        public let signedAt: Int64
        public let kid: String
        public let signature: [UInt8]
        public init(seq: Int64, rowHash: [UInt8], signedAt: Int64, kid: String, signature: [UInt8]) {
            self.seq = seq
            self.rowHash = rowHash
            self.signedAt = signedAt
            self.kid = kid
            self.signature = signature
        }
    }

    /// The first thing wrong, at a row.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Sendable { case altered, removed, inserted, checkpoint }
        public let kind: Kind
        public let seq: Int64
        public let detail: String
        public var description: String { "row \(seq): \(detail)" }
    }

    /// Walks rows in `seq` order from an anchor (the genesis, or a verified checkpoint).
    public struct Walk: Sendable {
        var expectedSeq: Int64
        var lastHash: [UInt8]
        var checkpoints: [Int64: Checkpoint]
        let keys: [String: PublicKey]
        public private(set) var rows = 0
        public private(set) var checkpointsVerified = 0
        public private(set) var lastSeq: Int64

        /// `after`: the seq the walk starts after (0 for the genesis) and the hash there.
        public init(after seq: Int64, hash: [UInt8], checkpoints: [Checkpoint], keys: [String: PublicKey]) {
            expectedSeq = seq + 1
            lastSeq = seq
            lastHash = hash
            self.checkpoints = Dictionary(checkpoints.map { ($0.seq, $0) }, uniquingKeysWith: { a, _ in a })
            self.keys = keys
        }

        public static func verifySignature(_ c: Checkpoint, keys: [String: PublicKey]) -> Bool {
            guard let key = keys[c.kid] else { return false }
            return key.verify(.eddsa, message: AuditChain.checkpointMessage(seq: c.seq, rowHash: c.rowHash, signedAt: c.signedAt),
                              signature: c.signature)
        }

        public mutating func feed(_ row: Row) throws(Problem) {
            if row.seq > expectedSeq {
                let gap = row.seq - 1 == expectedSeq ? "row \(expectedSeq) is" : "rows \(expectedSeq)–\(row.seq - 1) are"
                throw Problem(kind: .removed, seq: row.seq, detail: "\(gap) missing: removed from the log")
            }
            if row.seq < expectedSeq {
                throw Problem(kind: .inserted, seq: row.seq, detail: "out of sequence: a row was inserted")
            }
            if row.prevHash != lastHash {
                throw Problem(kind: .inserted, seq: row.seq,
                              detail: "does not chain to row \(row.seq - 1): a row was inserted here, or the one before it was replaced")
            }
            if AuditChain.hash(previous: row.prevHash, record: row.record) != row.rowHash {
                throw Problem(kind: .altered, seq: row.seq, detail: "altered: its record does not match its hash")
            }
            if let c = checkpoints[row.seq] {
                guard c.rowHash == row.rowHash else {
                    throw Problem(kind: .altered, seq: row.seq,
                                  detail: "differs from the checkpoint signed at seq \(c.seq): rows up to here were altered and re-hashed")
                }
                guard Walk.verifySignature(c, keys: keys) else {
                    throw Problem(kind: .checkpoint, seq: row.seq, detail: "the checkpoint's signature does not verify with key \(c.kid)")
                }
                checkpointsVerified += 1
            }
            lastHash = row.rowHash
            lastSeq = row.seq
            expectedSeq = row.seq + 1
            rows += 1
        }

        /// After the last row: the chain head and later checkpoints must not point past it.
        public func finish(headSeq: Int64) throws(Problem) {
            if let beyond = checkpoints.keys.filter({ $0 > lastSeq }).min() {
                throw Problem(kind: .removed, seq: lastSeq + 1, detail: "rows \(lastSeq + 1)–\(beyond) are missing: a checkpoint signed seq \(beyond)")
            }
            if headSeq > lastSeq {
                throw Problem(kind: .removed, seq: lastSeq + 1, detail: "rows \(lastSeq + 1)–\(headSeq) are missing: the chain head is at \(headSeq)")
            }
            if headSeq < lastSeq {
                throw Problem(kind: .inserted, seq: headSeq + 1, detail: "beyond the chain head (\(headSeq)): inserted by hand")
            }
        }
    }
}
