// `make bench` (identity part): what identity checks cost on the Check path, in-process.
//
//   1. Check latency with a cached token vs with identity checks off: the same CheckRequest
//      and the same trivial policy through DecisionPipeline, so the difference is the token
//      lookup, the registry checks and input.agent.
//   2. Cold Ed25519 token verifications per second (distinct tokens, nothing cached), to
//      compare with `openssl speed ed25519`'s verify/s measured in the same run.
//
// Prints one JSON object. Usage: bench-identity [ITERATIONS] | bench-identity cold SECONDS
// (`cold`: only the cold verifications, for pairing with `openssl speed` round by round).
import AgentIdentity
import BenchSupport
import EnvoyProto
import Foundation
import Rego
import Warden

#if canImport(Glibc)
import Glibc
#endif

let coldOnly = CommandLine.arguments.count > 2 && CommandLine.arguments[1] == "cold"
let iterations = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 200_000 : 200_000

let bench = try BenchAgent(id: "agent/bench-bot@team-bench", ownerName: "Bench", contact: "bench@example.com",
                           team: "team-bench", tools: ["search"])
let now = bench.now, signing = bench.signing, agent = bench.record

@MainActor func token(_ jti: Int) throws -> String { try bench.token(jti: "jti-\(jti)") }

// MARK: - Cold verifications only

if coldOnly {
    let seconds = Double(CommandLine.arguments[2]) ?? 2
    let keys = ["bench": signing]
    let batch = try (1...500).map(token)
    var verified = 0
    let start = nowNs()
    while Double(nowNs() - start) / 1e9 < seconds {
        for t in batch { _ = try TokenVerifier.verify(t, keys: keys, rules: TokenRules(), now: now) }
        verified += batch.count
    }
    let rate = Double(verified) / (Double(nowNs() - start) / 1e9)
    print(Value.object(RegoObject(fields: ["cold_verifications_per_second": .number(.double(rate))])).jsonString())
    exit(0)
}

// MARK: - 1. Check latency, cached token vs no identity

let dir = NSTemporaryDirectory() + "bench-identity-\(getpid())"
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
try "package envoy.authz\n\nallow := true\n".write(toFile: dir + "/allow.rego", atomically: false, encoding: .utf8)
let store = PolicyStore(try PolicyStore.load(bundles: [], paths: [dir]))
var config = WardenConfig()
config.logDecisions = false
let log = EventLog(level: .error)
let gate = IdentityGate(rules: IdentityRules(), snapshot: RegistrySnapshot(agents: [agent], keys: [signing], loadedAt: now))
let withIdentity = DecisionPipeline(store: store, config: config, log: log, identity: gate)
let withoutIdentity = DecisionPipeline(store: store, config: config, log: log)

var request = Envoy_Service_Auth_V3_CheckRequest()
request.attributes.request.http.method = "GET"
request.attributes.request.http.path = "/tools/search"
request.attributes.request.http.host = "tools.internal"
request.attributes.request.http.headers = [
    ":method": "GET", ":path": "/tools/search", ":authority": "tools.internal", "user-agent": "bench",
    "authorization": "Bearer " + (try token(0)), "x-request-id": "5d2f6c7e-2a51-4d0a-9c3e-6f1e2b7a8c90",
]
let bytes: [UInt8] = try request.serializedBytes()
guard withIdentity.check(bytes).allowed, withoutIdentity.check(bytes).allowed else {
    FileHandle.standardError.write("bench-identity: the benchmark request is not allowed\n".data(using: .utf8)!)
    exit(1)
}

// Alternate blocks of each so drift in the machine's speed hits both alike; the added
// latency is the median over block pairs of (p50 with identity - p50 without).
var on: [Int] = [], off: [Int] = [], added: [Int] = []
on.reserveCapacity(iterations)
off.reserveCapacity(iterations)
let block = 500
var blockOn = [Int](repeating: 0, count: block), blockOff = [Int](repeating: 0, count: block)
for _ in 0..<max(1, iterations / block) {
    for i in 0..<block {
        let t0 = nowNs()
        _ = withoutIdentity.check(bytes)
        blockOff[i] = nowNs() - t0
    }
    for i in 0..<block {
        let t0 = nowNs()
        _ = withIdentity.check(bytes)
        blockOn[i] = nowNs() - t0
    }
    on += blockOn
    off += blockOff
    blockOn.sort()
    blockOff.sort()
    added.append(blockOn[block / 2] - blockOff[block / 2])
}
on.sort()
off.sort()
added.sort()
func us(_ ns: Int) -> Double { Double(ns) / 1000 }

// The identity step alone, with a cached token.
var gateSamples: [Int] = []
let headers = request.attributes.request.http.headers
for _ in 0..<20_000 {
    let t0 = nowNs()
    _ = gate.authenticate(headers: headers, now: now)
    gateSamples.append(nowNs() - t0)
}
gateSamples.sort()

// The decision log's cost on the request path: the record built and spooled per Check.
let spoolDir = dir + "/spool"
let spool = try DecisionSpool(directory: spoolDir, maxBytes: 1 << 40)
let withAudit = DecisionPipeline(store: store, config: config, log: log, identity: gate,
                                 audit: .init(spool: spool, denyWhenUnrecorded: true, includeInput: true, mask: config.auditMaskAlways))
var auditOn: [Int] = []
for _ in 0..<20_000 {
    let t0 = nowNs()
    _ = withAudit.check(bytes)
    auditOn.append(nowNs() - t0)
}
auditOn.sort()
let withAuditNoInput = DecisionPipeline(store: store, config: config, log: log, identity: gate,
                                 audit: .init(spool: spool, denyWhenUnrecorded: true, includeInput: false, mask: []))
var auditNoInput: [Int] = []
for _ in 0..<20_000 {
    let t0 = nowNs()
    _ = withAuditNoInput.check(bytes)
    auditNoInput.append(nowNs() - t0)
}
auditNoInput.sort()
if CommandLine.arguments.count > 2 && CommandLine.arguments[2] == "audit-only" {
    for _ in 0..<200_000 { _ = withAudit.check(bytes) }
    exit(0)
}

// MARK: - 2. Cold verifications

let coldCount = 20_000
let tokens = try (1...coldCount).map(token)
let keys = ["bench": signing]
for t in tokens.prefix(1000) { _ = try TokenVerifier.verify(t, keys: keys, rules: TokenRules(), now: now) }
let t0 = nowNs()
for t in tokens { _ = try TokenVerifier.verify(t, keys: keys, rules: TokenRules(), now: now) }
let coldSeconds = Double(nowNs() - t0) / 1e9

// The signature check alone, for the overhead of parsing and claims.
let first = Array(tokens[0].utf8)
let dot = first.lastIndex(of: UInt8(ascii: "."))!
let message = Array(first[..<dot])
let signature = Base64.decode(String(decoding: first[(dot + 1)...], as: UTF8.self), url: true, requirePadding: false)!
let publicKey = try bench.key.publicKey()
let t1 = nowNs()
for _ in 0..<coldCount { _ = publicKey.verify(.eddsa, message: message, signature: signature) }
let rawSeconds = Double(nowNs() - t1) / 1e9

let result: [String: Value] = [
    "signature_checks_per_second": .number(.double(Double(coldCount) / rawSeconds)),
    "checks": .int(on.count),
    "audit_on_p50_us": .number(.double(us(auditOn[auditOn.count / 2]))),
    "audit_on_no_input_p50_us": .number(.double(us(auditNoInput[auditNoInput.count / 2]))),
    "added_p50_us": .number(.double(us(added[added.count / 2]))),
    "authenticate_cached_p50_us": .number(.double(us(gateSamples[gateSamples.count / 2]))),
    "identity_off_p50_us": .number(.double(us(off[off.count / 2]))), "identity_off_p99_us": .number(.double(us(off[off.count * 99 / 100]))),
    "cached_token_p50_us": .number(.double(us(on[on.count / 2]))), "cached_token_p99_us": .number(.double(us(on[on.count * 99 / 100]))),
    "cold_verifications_per_second": .number(.double(Double(coldCount) / coldSeconds)),
]
print(Value.object(RegoObject(fields: result)).jsonString())
try? FileManager.default.removeItem(atPath: dir)
