public import AgentIdentity
import Foundation
import Rego
import Store
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Keeps the identity gate's registry current, off the request path: one thread with its
/// own PostgreSQL connection LISTENs for registry changes (a kill lands within
/// milliseconds) and re-reads everything every `refreshSeconds` as a fallback. When the
/// database is unreachable Warden keeps deciding with the registry it has, retries, and
/// says so in its log, once per outage.
public final class RegistryWatcher: Sendable {
    let url: String
    let gate: IdentityGate
    let fileKeys: [SigningKey]
    let refreshSeconds: Int
    let log: EventLog
    let stopping = Atomic<Bool>(false)
    let loads = Atomic<Int>(0)

    public init(url: String, gate: IdentityGate, fileKeys: [SigningKey], refreshSeconds: Int, log: EventLog) {
        self.url = url
        self.gate = gate
        self.fileKeys = fileKeys
        self.refreshSeconds = refreshSeconds
        self.log = log
    }

    /// How many times the registry was loaded: lets `serve` wait for the first.
    public var loadCount: Int { loads.load(ordering: .acquiring) }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "warden-registry"
        thread.start()
    }

    public func stop() { stopping.store(true, ordering: .releasing) }

    /// Waits up to `seconds` for the first load; false when it did not happen in time.
    public func waitForFirstLoad(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while loadCount == 0 && Date() < deadline { usleep(20_000) }
        return loadCount > 0
    }

    func run() {
        var db: PostgresConnection?
        var lastLoad = Date.distantPast
        var outageSince: Date?
        var backoff = 0.25
        while !stopping.load(ordering: .acquiring) {
            if db == nil {
                do {
                    let conn = try PostgresConnection(url: url)
                    let applied = try Migrations.migrate(conn)
                    for step in applied { log.info("database migrated", ["version": .int(step.version), "step": .string(step.name)]) }
                    try conn.execute("LISTEN warden_registry")
                    db = conn
                    try load(conn)
                    lastLoad = Date()
                    backoff = 0.25
                    if let since = outageSince {
                        log.info("database reconnected; registry reloaded", ["outage_seconds": .int(Int(Date().timeIntervalSince(since)))])
                        outageSince = nil
                    }
                } catch {
                    db = nil
                    if outageSince == nil {
                        outageSince = Date()
                        let snapshot = gate.current
                        let since = snapshot.loadedAt.map { RFC3339.format(seconds: Int($0), nanos: 0) }
                        log.warn(since.map { "database unreachable; deciding with the registry loaded at \($0), retrying" }
                                    ?? "database unreachable and no registry loaded yet: agents are refused until it is, retrying",
                                 ["error": .string("\(error)"), "database": .string(PostgresConnection.redacted(url))])
                    }
                    sleep(seconds: backoff)
                    backoff = min(backoff * 2, 5)
                    continue
                }
            }
            guard let conn = db else { continue }
            do {
                let notes = try conn.waitForNotifications(timeoutMs: 250)
                if !notes.isEmpty || Date().timeIntervalSince(lastLoad) >= Double(refreshSeconds) {
                    try load(conn)
                    lastLoad = Date()
                }
            } catch {
                db = nil
                outageSince = Date()
                let snapshot = gate.current
                log.warn("database connection lost; deciding with the registry loaded at \(RFC3339.format(seconds: Int(snapshot.loadedAt ?? 0), nanos: 0)), reconnecting",
                         ["error": .string("\(error)")])
            }
        }
    }

    func load(_ conn: PostgresConnection) throws {
        let registry = PostgresAgentRegistry(conn)
        let agents = try registry.agents()
        let (dbKeys, problems) = try registry.signingKeys()
        for p in problems { log.warn("skipping a signing key that does not parse", ["problem": .string(p)]) }
        let now = Int64(Date().timeIntervalSince1970)
        let previous = gate.current
        gate.update(RegistrySnapshot(agents: agents, keys: fileKeys + dbKeys, loadedAt: now), now: now)
        loads.add(1, ordering: .releasing)
        if previous.loadedAt == nil || previous.agents.count != agents.count {
            log.info("registry loaded", ["agents": .int(agents.count), "keys": .int(fileKeys.count + dbKeys.count)])
        }
    }

    func sleep(seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && !stopping.load(ordering: .acquiring) { usleep(50_000) }
    }

    /// Keys from JWKS files, or every `.json` file in a directory.
    public static func loadKeyFiles(_ paths: [String]) throws(CryptoError) -> [SigningKey] {
        var out: [SigningKey] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw CryptoError("\(path): no such JWKS file or directory") }
            let files = isDir.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".json") }.sorted().map { path + "/" + $0 }
                : [path]
            for f in files {
                guard let data = FileManager.default.contents(atPath: f) else { throw CryptoError("\(f): cannot read") }
                out.append(contentsOf: try SigningKey.parseJWKS(String(decoding: data, as: UTF8.self), source: f))
            }
        }
        return out
    }
}
