public import AgentIdentity
import Rego
import RegoYAML
import Foundation
import GRPCRuntime

/// `warden.yaml`. Precedence: defaults < file < `WARDEN_*` environment < flags.
/// Unknown keys and wrong types are refused with the key's path, so a typo never
/// silently falls back to a default.
public struct WardenConfig: Sendable {
    /// gRPC listen address (`host:port`), or "" for none.
    public var listen = "127.0.0.1:9191"
    /// Optional Unix socket path for the gRPC server.
    public var unixSocket = ""
    /// Bundle directories or `.tar.gz` files.
    public var bundles: [String] = []
    /// Extra policy/data paths, loaded like `opa eval -d`.
    public var paths: [String] = []
    /// The decision path, OPA-Envoy's `path` option: `envoy/authz/allow` by default.
    public var decision = "envoy/authz/allow"
    /// Requests over this size are refused by the gRPC layer.
    public var maxRequestBytes = 4 << 20
    /// Evaluation step bound per request.
    public var maxEvalSteps = 1_000_000
    /// gRPC completion-queue threads.
    public var threads = 1
    public static let threadsRange = 1...64
    /// Threads that help answer Checks when several arrive at once; a lone Check is
    /// answered by the queue thread that received it. One fewer than the CPUs by default.
    public var helperThreads = GRPCServerOptions.defaultHelperThreads
    public static let helperThreadsRange = 0...64
    /// "from 1 to 64": how every range check in this file words its bounds.
    static func describe(_ range: ClosedRange<Int>) -> String { "from \(range.lowerBound) to \(range.upperBound)" }
    /// One log line per decision.
    public var logDecisions = true
    public var logLevel: EventLog.Level = .info

    /// PostgreSQL, where the agent registry and keys live (`WARDEN_DATABASE_URL`).
    public var databaseURL = ""
    /// Seconds between full re-reads of the registry, the fallback behind LISTEN/NOTIFY.
    public var registryRefreshSeconds = 5
    /// Identity checks: `enforce` (the default: no identity, no access) or `off` (policy
    /// alone, as plain OPA-Envoy).
    public var identityEnforced = true
    public var identity = IdentityRules()
    /// JWKS files or directories of them, besides the keys in the database.
    public var jwks: [String] = []

    /// `policy.mode: shadow`: every denial is recorded as would_block and not enforced.
    public var shadowMode = false
    /// Bundles evaluated beside the enforced policy and recorded, never enforced.
    public var shadowBundles: [String] = []
    /// Globs over the `rule` of a result's reasons: denials made only of these are not enforced.
    public var shadowRules: [String] = []

    /// The decision log in PostgreSQL (on whenever a database is set, unless turned off).
    public var auditEnabled = true
    public var auditSpoolDirectory = "warden-spool"
    public var auditSpoolMaxBytes = 1 << 30
    /// Deny (the default) or allow a request whose decision cannot be recorded.
    public var auditDenyWhenUnrecorded = true
    public var auditIncludeInput = true
    /// JSON pointers removed from the logged input, besides those the policy's
    /// `system.log.mask` names. Tokens and cookies are always masked.
    public var auditMask: [String] = []
    public var auditCheckpointRows = 1000
    public var auditCheckpointSeconds = 10
    /// The Ed25519 key that signs checkpoints; made there on first start. "" means
    /// `audit-key.pem` in the spool directory.
    public var auditSigningKey = ""

    public var auditSigningKeyPath: String { auditSigningKey.isEmpty ? auditSpoolDirectory + "/audit-key.pem" : auditSigningKey }

    /// Always removed from logged input: credentials.
    public var auditMaskAlways: [String] {
        var m = ["/input/attributes/request/http/headers/authorization", "/input/attributes/request/http/headers/proxy-authorization",
                 "/input/attributes/request/http/headers/cookie"]
        if identity.header != "authorization" { m.append("/input/attributes/request/http/headers/" + identity.header) }
        return m
    }

    public init() {}

    public struct ConfigError: Error, CustomStringConvertible {
        public let description: String
    }

    public var decisionPath: [String] {
        decision.split(separator: "/").map(String.init).filter { !$0.isEmpty }
    }

    // MARK: - File

    public static func load(file: String) throws(ConfigError) -> WardenConfig {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigError(description: "\(file): cannot read the configuration file")
        }
        let v: Value
        do { v = try RegoYAML.parse(String(decoding: data, as: UTF8.self)) } catch {
            throw ConfigError(description: "\(file): invalid YAML: \(error)")
        }
        var c = WardenConfig()
        try c.apply(v, file: file)
        return c
    }

    mutating func apply(_ v: Value, file: String) throws(ConfigError) {
        if case .null = v { return }
        let root = try object(v, "", file)
        for e in root.entries {
            let key = e.key.regoText
            switch key {
            case "\"listen\"":
                for x in try object(e.value, "listen", file).entries {
                    switch x.key {
                    case .string("address"): listen = try string(x.value, "listen.address", file)
                    case .string("unix_socket"): unixSocket = try string(x.value, "listen.unix_socket", file)
                    case .string("threads"): threads = try int(x.value, "listen.threads", file, WardenConfig.threadsRange)
                    case .string("helper_threads"): helperThreads = try int(x.value, "listen.helper_threads", file, WardenConfig.helperThreadsRange)
                    case .string("max_request_bytes"): maxRequestBytes = try int(x.value, "listen.max_request_bytes", file, 1024...(1 << 30))
                    default: throw unknown("listen.\(x.key.regoText)", file)
                    }
                }
            case "\"policy\"":
                for x in try object(e.value, "policy", file).entries {
                    switch x.key {
                    case .string("bundles"): bundles = try strings(x.value, "policy.bundles", file)
                    case .string("paths"): paths = try strings(x.value, "policy.paths", file)
                    case .string("decision"): decision = try string(x.value, "policy.decision", file)
                    case .string("max_eval_steps"): maxEvalSteps = try int(x.value, "policy.max_eval_steps", file, 1000...1_000_000_000)
                    case .string("mode"): shadowMode = try policyMode(try string(x.value, "policy.mode", file), "\(file): policy.mode")
                    case .string("shadow_bundles"): shadowBundles = try strings(x.value, "policy.shadow_bundles", file)
                    case .string("shadow_rules"): shadowRules = try strings(x.value, "policy.shadow_rules", file)
                    default: throw unknown("policy.\(x.key.regoText)", file)
                    }
                }
            case "\"log\"":
                for x in try object(e.value, "log", file).entries {
                    switch x.key {
                    case .string("decisions"): logDecisions = try bool(x.value, "log.decisions", file)
                    case .string("level"):
                        let s = try string(x.value, "log.level", file)
                        guard let l = EventLog.Level(rawValue: s) else { throw ConfigError(description: "\(file): log.level must be one of debug, info, warn, error; got \(s)") }
                        logLevel = l
                    default: throw unknown("log.\(x.key.regoText)", file)
                    }
                }
            case "\"database\"":
                for x in try object(e.value, "database", file).entries {
                    switch x.key {
                    case .string("url"): databaseURL = try string(x.value, "database.url", file)
                    case .string("refresh_seconds"): registryRefreshSeconds = try int(x.value, "database.refresh_seconds", file, 1...3600)
                    default: throw unknown("database.\(x.key.regoText)", file)
                    }
                }
            case "\"audit\"":
                for x in try object(e.value, "audit", file).entries {
                    let path: String
                    if case .string(let k) = x.key { path = "audit." + k } else { path = "audit." + x.key.regoText }
                    switch x.key {
                    case .string("enabled"): auditEnabled = try bool(x.value, path, file)
                    case .string("spool_dir"): auditSpoolDirectory = try string(x.value, path, file)
                    case .string("spool_max_bytes"): auditSpoolMaxBytes = try int(x.value, path, file, 1 << 20...(1 << 40))
                    case .string("on_spool_full"):
                        switch try string(x.value, path, file) {
                        case "deny": auditDenyWhenUnrecorded = true
                        case "allow": auditDenyWhenUnrecorded = false
                        case let other: throw ConfigError(description: "\(file): \(path) must be deny or allow, got \(other)")
                        }
                    case .string("include_input"): auditIncludeInput = try bool(x.value, path, file)
                    case .string("mask"):
                        auditMask = try strings(x.value, path, file)
                        for m in auditMask where DecisionPipeline.pointer(m) == nil {
                            throw ConfigError(description: "\(file): \(path): \(m) is not a JSON pointer into the input (such as /input/attributes/request/http/headers/x-secret)")
                        }
                    case .string("checkpoint_rows"): auditCheckpointRows = try int(x.value, path, file, 1...1_000_000)
                    case .string("checkpoint_seconds"): auditCheckpointSeconds = try int(x.value, path, file, 1...86_400)
                    case .string("signing_key"): auditSigningKey = try string(x.value, path, file)
                    default: throw unknown(path, file)
                    }
                }
            case "\"identity\"":
                for x in try object(e.value, "identity", file).entries {
                    let path: String
                    if case .string(let k) = x.key { path = "identity." + k } else { path = "identity." + x.key.regoText }
                    switch x.key {
                    case .string("mode"): identityEnforced = try identityMode(try string(x.value, path, file), file)
                    case .string("header"): identity.header = try string(x.value, path, file).lowercased()
                    case .string("issuer"): identity.token.issuer = try string(x.value, path, file)
                    case .string("audience"): identity.token.audience = try string(x.value, path, file)
                    case .string("environment"): identity.environment = try string(x.value, path, file)
                    case .string("leeway_seconds"): identity.token.leewaySeconds = Int64(try int(x.value, path, file, 0...600))
                    case .string("max_lifetime_seconds"): identity.token.maxLifetimeSeconds = Int64(try int(x.value, path, file, 60...86_400))
                    case .string("max_token_bytes"): identity.token.maxTokenBytes = try int(x.value, path, file, 256...65_536)
                    case .string("jwks"): jwks = try strings(x.value, path, file)
                    default: throw unknown(path, file)
                    }
                }
            default:
                throw unknown(key, file)
            }
        }
    }

    // MARK: - Environment

    /// `WARDEN_LISTEN`, `WARDEN_UNIX_SOCKET`, `WARDEN_BUNDLES` (comma-separated),
    /// `WARDEN_PATHS`, `WARDEN_DECISION`, `WARDEN_THREADS`, `WARDEN_HELPER_THREADS`,
    /// `WARDEN_LOG_DECISIONS`.
    public mutating func applyEnvironment(_ env: [String: String]) throws(ConfigError) {
        if let v = env["WARDEN_LISTEN"] { listen = v }
        if let v = env["WARDEN_UNIX_SOCKET"] { unixSocket = v }
        if let v = env["WARDEN_BUNDLES"] { bundles = v.split(separator: ",").map(String.init) }
        if let v = env["WARDEN_PATHS"] { paths = v.split(separator: ",").map(String.init) }
        if let v = env["WARDEN_DECISION"] { decision = v }
        if let v = env["WARDEN_THREADS"] { threads = try WardenConfig.environmentCount("WARDEN_THREADS", v, WardenConfig.threadsRange) }
        if let v = env["WARDEN_HELPER_THREADS"] {
            helperThreads = try WardenConfig.environmentCount("WARDEN_HELPER_THREADS", v, WardenConfig.helperThreadsRange)
        }
        if let v = env["WARDEN_DATABASE_URL"] { databaseURL = v }
        if let v = env["WARDEN_IDENTITY"] { identityEnforced = try identityMode(v, "WARDEN_IDENTITY") }
        if let v = env["WARDEN_POLICY_MODE"] { shadowMode = try policyMode(v, "WARDEN_POLICY_MODE") }
        if let v = env["WARDEN_AUDIT"] { auditEnabled = try WardenConfig.environmentBool("WARDEN_AUDIT", v) }
        if let v = env["WARDEN_AUDIT_SPOOL_DIR"] { auditSpoolDirectory = v }
        if let v = env["WARDEN_LOG_DECISIONS"] { logDecisions = try WardenConfig.environmentBool("WARDEN_LOG_DECISIONS", v) }
    }

    /// A whole number in `range` from environment variable `name`, or an error naming it.
    static func environmentCount(_ name: String, _ value: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let n = Int(value), range.contains(n) else {
            throw ConfigError(description: "\(name) must be a number \(describe(range)), got \(value)")
        }
        return n
    }

    /// true/false (or 1/0) from environment variable `name`, or an error naming it.
    static func environmentBool(_ name: String, _ value: String) throws(ConfigError) -> Bool {
        guard let b = ["true": true, "false": false, "1": true, "0": false][value] else {
            throw ConfigError(description: "\(name) must be true or false, got \(value)")
        }
        return b
    }

    /// Checks what can be checked before serving.
    public func validate() throws(ConfigError) {
        if listen.isEmpty && unixSocket.isEmpty { throw ConfigError(description: "nothing to listen on: set listen.address or listen.unix_socket") }
        if bundles.isEmpty && paths.isEmpty { throw ConfigError(description: "no policies: set policy.bundles or policy.paths (or --bundle)") }
        if !WardenConfig.threadsRange.contains(threads) {
            throw ConfigError(description: "listen.threads (--threads) must be \(WardenConfig.describe(WardenConfig.threadsRange)), got \(threads)")
        }
        if !WardenConfig.helperThreadsRange.contains(helperThreads) {
            throw ConfigError(description: "listen.helper_threads (--helper-threads) must be \(WardenConfig.describe(WardenConfig.helperThreadsRange)), got \(helperThreads)")
        }
        if identityEnforced && databaseURL.isEmpty {
            throw ConfigError(description: """
                identity checks are on (identity.mode: enforce, the default: no identity, no access), but no database is set: \
                the agent registry lives in PostgreSQL. Set database.url (or WARDEN_DATABASE_URL, --database-url), \
                or identity.mode: off (--identity off) to decide on policy alone, as plain OPA-Envoy
                """)
        }
        if identity.environment != "", !AgentManifest.environments.contains(identity.environment) {
            throw ConfigError(description: "identity.environment must be dev, staging or prod, got \(identity.environment)")
        }
        if decisionPath.isEmpty { throw ConfigError(description: "policy.decision must name a rule, such as envoy/authz/allow") }
    }

    // MARK: - Typed reads

    func object(_ v: Value, _ path: String, _ file: String) throws(ConfigError) -> RegoObject {
        guard case .object(let o) = v else { throw ConfigError(description: "\(file): \(path.isEmpty ? "the top level" : path) must be a mapping, got \(v.typeName)") }
        return o
    }

    func string(_ v: Value, _ path: String, _ file: String) throws(ConfigError) -> String {
        if case .string(let s) = v { return s }
        if case .number(let n) = v { return n.description }
        throw ConfigError(description: "\(file): \(path) must be a string, got \(v.typeName)")
    }

    func strings(_ v: Value, _ path: String, _ file: String) throws(ConfigError) -> [String] {
        guard case .array(let a) = v else { throw ConfigError(description: "\(file): \(path) must be a list, got \(v.typeName)") }
        var out: [String] = []
        for (i, x) in a.enumerated() { out.append(try string(x, "\(path)[\(i)]", file)) }
        return out
    }

    func int(_ v: Value, _ path: String, _ file: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard case .number(let n) = v, n.isInteger, let i = n.intValue, range.contains(i) else {
            throw ConfigError(description: "\(file): \(path) must be a whole number \(WardenConfig.describe(range)), got \(v.regoText)")
        }
        return i
    }

    func bool(_ v: Value, _ path: String, _ file: String) throws(ConfigError) -> Bool {
        guard case .bool(let b) = v else { throw ConfigError(description: "\(file): \(path) must be true or false, got \(v.regoText)") }
        return b
    }

    public func policyMode(_ v: String, _ origin: String) throws(ConfigError) -> Bool {
        switch v {
        case "enforce": return false
        case "shadow": return true
        default: throw ConfigError(description: "\(origin): the policy mode must be enforce or shadow, got \(v)")
        }
    }

    public func identityMode(_ v: String, _ origin: String) throws(ConfigError) -> Bool {
        switch v {
        case "enforce": return true
        case "off": return false
        default: throw ConfigError(description: "\(origin): identity mode must be enforce or off, got \(v)")
        }
    }

    func unknown(_ key: String, _ file: String) -> ConfigError {
        ConfigError(description: """
            \(file): unknown setting \(key) (known: listen.{address, unix_socket, threads, helper_threads, max_request_bytes}, \
            policy.{bundles, paths, decision, max_eval_steps, mode, shadow_bundles, shadow_rules}, log.{decisions, level}, \
            database.{url, refresh_seconds}, audit.{enabled, spool_dir, spool_max_bytes, on_spool_full, include_input, mask, \
            checkpoint_rows, checkpoint_seconds, signing_key}, \
            identity.{mode, header, issuer, audience, environment, leeway_seconds, max_lifetime_seconds, max_token_bytes, jwks})
            """)
    }
}
