import AgentIdentity
import ArgumentParser
import Foundation
import GRPCRuntime
import Rego
import Store
import Warden

#if canImport(Glibc)
import Glibc
#endif

/// `warden serve`: Envoy's external authorizer (ext_authz v3, gRPC Check).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve Envoy's ext_authz Check over gRPC, deciding with Rego policies.",
        discussion: """
            Settings come from --config (YAML), then WARDEN_* environment variables, then flags.
            SIGTERM or SIGINT: stop accepting, finish calls in flight, exit 0.
            SIGHUP: reload the policies; a policy that does not compile keeps the old one in force.
            """)

    @Option(help: "Configuration file (warden.yaml).")
    var config: String?

    @Option(help: "gRPC listen address, host:port (default 127.0.0.1:9191).")
    var listen: String?

    @Option(name: .customLong("unix-socket"), help: "Also listen on this Unix socket path.")
    var unixSocket: String?

    @Option(name: [.customShort("b"), .customLong("bundle")], help: "Policy bundle directory or .tar.gz (repeatable).")
    var bundles: [String] = []

    @Option(name: [.customShort("d"), .customLong("data")], help: "Policy or data file or directory, as `opa eval -d` (repeatable).")
    var paths: [String] = []

    @Option(help: "Decision path (default envoy/authz/allow).")
    var decision: String?

    @Option(help: "gRPC completion-queue threads.")
    var threads: Int?

    @Option(name: .customLong("helper-threads"), help: "Threads that help answer Checks arriving together (default: CPUs - 1).")
    var helperThreads: Int?

    @Flag(name: .customLong("no-decision-log"), help: "Do not log a line per decision.")
    var noDecisionLog = false

    @Option(name: .customLong("database-url"), help: "PostgreSQL connection URL (the agent registry), as WARDEN_DATABASE_URL.")
    var databaseURL: String?

    @Option(help: "Identity checks: enforce (default; needs a database) or off (policy alone, as plain OPA-Envoy).")
    var identity: String?

    @Option(help: "JWKS file or directory of verification keys, besides the database's (repeatable).")
    var jwks: [String] = []

    @Option(name: .customLong("policy-mode"), help: "enforce (default) or shadow: record denials as would_block and let requests through.")
    var policyMode: String?

    @Option(name: .customLong("shadow-bundle"), help: "A bundle evaluated beside the enforced policy, recorded and never enforced (repeatable).")
    var shadowBundles: [String] = []

    @Option(name: .customLong("audit-spool"), help: "Directory of the decision spool (audit.spool_dir).")
    var auditSpool: String?

    @Flag(name: .customLong("no-audit"), help: "Do not write the decision log to PostgreSQL.")
    var noAudit = false

    func run() throws {
        var cfg: WardenConfig
        do {
            cfg = try config.map { try WardenConfig.load(file: $0) } ?? WardenConfig()
            try cfg.applyEnvironment(ProcessInfo.processInfo.environment)
            if let listen { cfg.listen = listen }
            if let unixSocket { cfg.unixSocket = unixSocket }
            if !bundles.isEmpty { cfg.bundles = bundles }
            if !paths.isEmpty { cfg.paths = paths }
            if let decision { cfg.decision = decision }
            if let threads { cfg.threads = threads }
            if let helperThreads { cfg.helperThreads = helperThreads }
            if noDecisionLog { cfg.logDecisions = false }
            if let databaseURL { cfg.databaseURL = databaseURL }
            if let identity { cfg.identityEnforced = try cfg.identityMode(identity, "--identity") }
            if !jwks.isEmpty { cfg.jwks = jwks }
            if let policyMode { cfg.shadowMode = try cfg.policyMode(policyMode, "--policy-mode") }
            if !shadowBundles.isEmpty { cfg.shadowBundles = shadowBundles }
            if let auditSpool { cfg.auditSpoolDirectory = auditSpool }
            if noAudit { cfg.auditEnabled = false }
            try cfg.validate()
        } catch {
            printStderr("warden serve: \(error)")
            throw ExitCode(2)
        }
        let log = EventLog(level: cfg.logLevel)
        let store: PolicyStore
        do {
            store = PolicyStore(try PolicyStore.load(bundles: cfg.bundles, paths: cfg.paths, decisionPath: cfg.decisionPath))
        } catch {
            printStderr("warden serve: the policies do not compile:\n\(error)")
            throw ExitCode(1)
        }
        if !store.loaded.policy.hasDocument(cfg.decisionPath) {
            log.warn("the decision path names no rule or data; every request will be denied until a policy defines it", ["decision": .string(cfg.decision)])
        }
        var gate: IdentityGate?
        var watcher: RegistryWatcher?
        if cfg.identityEnforced {
            let fileKeys: [SigningKey]
            do { fileKeys = try RegistryWatcher.loadKeyFiles(cfg.jwks) } catch {
                printStderr("warden serve: \(error)")
                throw ExitCode(1)
            }
            let g = IdentityGate(rules: cfg.identity)
            let w = RegistryWatcher(url: cfg.databaseURL, gate: g, fileKeys: fileKeys, refreshSeconds: cfg.registryRefreshSeconds, log: log)
            w.start()
            if !w.waitForFirstLoad(seconds: 5) {
                log.warn("serving without an agent registry: every agent is refused (503) until the database answers")
            }
            gate = g
            watcher = w
        } else {
            log.info("identity checks are off (identity.mode: off): requests are decided on policy alone")
        }
        var shadowStores: [(name: String, store: PolicyStore)] = []
        for bundle in cfg.shadowBundles {
            do {
                let loaded = try PolicyStore.load(bundles: [bundle], paths: [], decisionPath: cfg.decisionPath)
                shadowStores.append((name: loaded.revision.isEmpty ? bundle : loaded.revision, store: PolicyStore(loaded)))
            } catch {
                printStderr("warden serve: the shadow bundle \(bundle) does not compile:\n\(error)")
                throw ExitCode(1)
            }
        }
        var audit: DecisionPipeline.AuditSettings?
        var shipper: AuditShipper?
        if cfg.auditEnabled && !cfg.databaseURL.isEmpty {
            do {
                let spool = try DecisionSpool(directory: cfg.auditSpoolDirectory, maxBytes: cfg.auditSpoolMaxBytes)
                let signer = try AuditShipper.loadOrCreateKey(path: cfg.auditSigningKeyPath, warden: spool.instance)
                var checkpoints = PostgresAuditLog.CheckpointPolicy()
                checkpoints.everyRows = Int64(cfg.auditCheckpointRows)
                checkpoints.everySeconds = Int64(cfg.auditCheckpointSeconds)
                let s = AuditShipper(url: cfg.databaseURL, spool: spool, signer: signer, checkpoints: checkpoints, log: log)
                s.start()
                shipper = s
                audit = DecisionPipeline.AuditSettings(spool: spool, denyWhenUnrecorded: cfg.auditDenyWhenUnrecorded,
                                                       includeInput: cfg.auditIncludeInput, mask: cfg.auditMaskAlways + cfg.auditMask)
                log.info("decision log on", ["spool": .string(cfg.auditSpoolDirectory), "warden": .string(spool.instance),
                                             "backlog_bytes": .int(spool.backlogBytes), "audit_key": .string(signer.kid)])
            } catch {
                printStderr("warden serve: the decision log cannot start: \(error)")
                throw ExitCode(1)
            }
        } else if cfg.auditEnabled {
            log.info("decision log off: no database is set")
        }
        let pipeline = DecisionPipeline(store: store, config: cfg, log: log, identity: gate, shadowBundles: shadowStores, audit: audit)

        // Signals are collected by sigwait below; a background job of a non-interactive
        // shell starts with SIGINT ignored, so restore the default first.
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, s) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        var addresses: [String] = []
        if !cfg.listen.isEmpty { addresses.append(cfg.listen) }
        if !cfg.unixSocket.isEmpty {
            var st = stat()
            if lstat(cfg.unixSocket, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK { unlink(cfg.unixSocket) }
            addresses.append("unix:" + cfg.unixSocket)
        }
        var options = GRPCServerOptions(addresses: addresses)
        options.maxMessageBytes = cfg.maxRequestBytes
        options.queueThreads = cfg.threads
        options.helperThreads = cfg.helperThreads
        let server = GRPCServer(options: options, methods: [
            ("/envoy.service.auth.v3.Authorization/Check", pipeline.handleCheck),
            ("/grpc.health.v1.Health/Check", DecisionPipeline.handleHealth),
        ])
        do {
            try server.start()
        } catch {
            printStderr("warden serve: \(error)")
            throw ExitCode(1)
        }
        log.info("serving", [
            "addresses": .array(addresses.map { .string($0) }), "decision": .string(cfg.decision),
            "revision": .string(store.loaded.revision), "pid": .int(Int(getpid())),
            "threads": .int(cfg.threads), "helper_threads": .int(cfg.helperThreads),
        ])
        while true {
            var sig: Int32 = 0
            sigwait(&signals, &sig)
            if sig == SIGHUP {
                do {
                    store.replace(with: try PolicyStore.load(bundles: cfg.bundles, paths: cfg.paths, decisionPath: cfg.decisionPath))
                    for (bundle, shadow) in zip(cfg.shadowBundles, shadowStores) {
                        shadow.store.replace(with: try PolicyStore.load(bundles: [bundle], paths: [], decisionPath: cfg.decisionPath))
                    }
                    log.info("policies reloaded", ["revision": .string(store.loaded.revision)])
                } catch {
                    log.error("reload failed; the previous policies stay in force", ["errors": .string(error.description)])
                }
                continue
            }
            log.info("stopping", ["signal": .int(Int(sig))])
            break
        }
        server.shutdown(grace: .seconds(5))
        watcher?.stop()
        // Ship what is spooled before exiting; what is left is shipped at the next start.
        shipper?.stop(drainingFor: 5)
        log.info("stopped")
    }
}
