import AgentIdentity
import Foundation
import Rego
public import Store
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Ships the decision spool to PostgreSQL in batches, off the request path: each batch is
/// appended to the hash chain in one transaction together with the spool position it
/// reached, so a crash at any point neither loses nor duplicates a record. While the
/// database is down Warden keeps deciding and spooling; shipping resumes when it returns.
public final class AuditShipper: Sendable {
    let url: String
    let spool: DecisionSpool
    let signer: PostgresAuditLog.Signer
    let checkpoints: PostgresAuditLog.CheckpointPolicy
    let log: EventLog
    let stopping = Atomic<Bool>(false)
    let finished = Atomic<Bool>(false)
    let shippedRecords = Atomic<Int>(0)

    public init(url: String, spool: DecisionSpool, signer: PostgresAuditLog.Signer, checkpoints: PostgresAuditLog.CheckpointPolicy,
                log: EventLog) {
        self.url = url
        self.spool = spool
        self.signer = signer
        self.checkpoints = checkpoints
        self.log = log
    }

    static let batchRecords = 2000
    /// When the shipper has caught up, records gather until this many bytes wait (about 20
    /// records; at most `pollMicros` pass between looks) or `gatherSeconds` pass, whichever
    /// comes first: the table trails the spool by at most that long. Small shipments keep
    /// PostgreSQL's bursts short, which is what the Check path's p99 feels on a shared
    /// machine. Through Envoy at one connection, the p99 with the log on / off was 2.0x
    /// and 1.2x with 32 KiB shipments where 128 KiB gave 3.3x and 1.4x in the same runs,
    /// and 5.2x with 1 MiB where 128 KiB gave 2.9x (medians of 8 alternating rounds),
    /// though larger shipments cost PostgreSQL less CPU per row (16-20 µs at 1 MiB, 26-29
    /// µs at 128 KiB, 35-46 µs at 32 KiB: a shipment is a transaction of five statements
    /// besides the COPY). When PostgreSQL falls behind, a shipment takes whatever has
    /// gathered, up to `batchRecords`, so shipments grow with the load.
    static let shipmentBytes = 32 << 10
    static let gatherSeconds = 0.1
    static let pollMicros: UInt32 = 10_000

    /// Records shipped by this process.
    public var shipped: Int { shippedRecords.load(ordering: .relaxed) }

    public func start() {
        let thread = Thread { [self] in
            run()
            finished.store(true, ordering: .releasing)
        }
        thread.start()
    }

    /// Stops after shipping what is spooled, waiting up to `seconds`.
    public func stop(drainingFor seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while spool.backlogBytes > 0 && Date() < deadline && !finished.load(ordering: .acquiring) { usleep(20_000) }
        stopping.store(true, ordering: .releasing)
        while !finished.load(ordering: .acquiring) && Date() < deadline.addingTimeInterval(1) { usleep(10_000) }
    }

    func run() {
        Thread.current.name = "warden-audit"  // named from inside: visible to top -H and perf
        var db: PostgresConnection?
        var position: DecisionSpool.Position?
        var outageSince: Date?
        var backoff = 0.25
        var lastAppend = Date()
        var lastShipment = Date.distantPast
        while !stopping.load(ordering: .acquiring) {
            do {
                if db == nil {
                    let conn = try PostgresConnection(url: url)
                    try Migrations.migrate(conn)
                    let audit = PostgresAuditLog(conn)
                    try audit.actAsWriter()
                    try audit.registerKey(kid: signer.kid, jwkJSON: Value.object(Ed25519JWK.publicJWK(try signer.key.publicKey(), kid: signer.kid)).jsonString())
                    let resumed = try audit.progress(warden: spool.instance)
                    position = resumed ?? spool.firstPosition
                    spool.resetBacklog(from: position!)
                    db = conn
                    backoff = 0.25
                    if let since = outageSince {
                        log.info("audit shipping resumed", ["outage_seconds": .int(Int(Date().timeIntervalSince(since))),
                                                             "backlog_bytes": .int(spool.backlogBytes)])
                        outageSince = nil
                    }
                }
                guard let conn = db, let from = position else { continue }
                if spool.backlogBytes < AuditShipper.shipmentBytes && Date().timeIntervalSince(lastShipment) < AuditShipper.gatherSeconds {
                    usleep(AuditShipper.pollMicros)
                    continue
                }
                lastShipment = Date()
                let batch = spool.read(from: from, maxRecords: AuditShipper.batchRecords)
                let now = Int64(Date().timeIntervalSince1970)
                if batch.lines.isEmpty {
                    position = batch.end
                    // Idle: sign what is unsigned once a checkpoint is due by time.
                    if Date().timeIntervalSince(lastAppend) >= Double(checkpoints.everySeconds) {
                        try PostgresAuditLog(conn).append(spoolLines: [], upTo: batch.end, signer: signer, checkpoints: checkpoints, now: now)
                        lastAppend = Date()
                    }
                    // Nothing complete to ship, whatever the backlog says (a fragment of a
                    // write cut short stays counted): wait rather than spin.
                    usleep(AuditShipper.pollMicros)
                    continue
                }
                let appended = try PostgresAuditLog(conn).append(spoolLines: batch.lines, upTo: batch.end, signer: signer,
                                                                 checkpoints: checkpoints, now: now)
                for i in appended.skipped {
                    log.error("skipped a spool line that is not a decision record",
                              ["line": .string(String(decoding: batch.lines[i].prefix(200), as: UTF8.self))])
                }
                lastAppend = Date()
                spool.shipped(bytes: batch.bytes, upTo: batch.end)
                shippedRecords.add(appended.rows, ordering: .relaxed)
                position = batch.end
            } catch {
                db = nil
                if outageSince == nil {
                    outageSince = Date()
                    log.warn("audit shipping paused: decisions are spooled and will be shipped when the database answers",
                             ["error": .string("\(error)"), "backlog_bytes": .int(spool.backlogBytes)])
                }
                let deadline = Date().addingTimeInterval(backoff)
                while Date() < deadline && !stopping.load(ordering: .acquiring) { usleep(20_000) }
                backoff = min(backoff * 2, 2)
            }
        }
    }

    /// The Warden's audit signing key: read from `path`, or made there (mode 0600) the first
    /// time. Its kid is the public key's RFC 7638 thumbprint.
    public static func loadOrCreateKey(path: String, warden: String) throws -> PostgresAuditLog.Signer {
        let key: PrivateKey
        if let data = FileManager.default.contents(atPath: path) {
            key = try PrivateKey.pem(String(decoding: data, as: UTF8.self))
        } else {
            key = try PrivateKey.generateEd25519()
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            do { try WholeFile.write(Array(key.pemText().utf8), to: path, mode: 0o600) } catch {
                throw CryptoError("cannot write the audit signing key: \(error.description)")
            }
        }
        return PostgresAuditLog.Signer(kid: Ed25519JWK.thumbprint(try key.publicKey()), key: key, warden: warden)
    }
}
