// `make bench` (in-process part): where one Check's time goes, stage by stage, with the
// example policy bundle (`policies/`) and an agent token served from the token cache.
// Stages: CheckRequest bytes to OPA-Envoy input, identity, evaluation, decision mapping,
// response encoding; then the whole pipeline (`DecisionPipeline.handleCheck`), without and
// with the decision log's spool.
//
// Usage: bench-check BUNDLE_DIR [ITERATIONS] [profile [STAGE]]   (`profile`: one stage or
// the whole pipeline in a loop, for perf; stage `evalpath` evaluates the document that
// EVAL_PATH names). Prints one JSON object of p50/p99 microseconds.
// BENCH_DUMP_INPUT=1 prints the input document instead (for bench-rego).
import AgentIdentity
import BenchSupport
import EnvoyProto
import ExtAuthz
import Foundation
import Rego
import SwiftProtobuf
import Warden

#if canImport(Glibc)
import Glibc
#endif

let args = benchArguments(atLeast: 2, usage: "bench-check BUNDLE_DIR [ITERATIONS] [profile [STAGE]]")
let iterations = args.count > 2 ? Int(args[2]) ?? 100_000 : 100_000
let profileOnly = args.count > 3 && args[3] == "profile"

let bench = try BenchAgent(id: "agent/code-review-bot@team-platform", ownerName: "Platform", contact: "platform@example.com",
                           team: "team-platform", tools: ["search", "repos"])
let now = bench.now, signing = bench.signing, agent = bench.record
let token = try bench.token(jti: "jti-1")

var config = WardenConfig()
config.logDecisions = false
config.decision = "envoy/authz/result"
let store = PolicyStore(try PolicyStore.load(bundles: [args[1]], paths: [], decisionPath: config.decisionPath))
let gate = IdentityGate(rules: IdentityRules(), snapshot: RegistrySnapshot(agents: [agent], keys: [signing], loadedAt: now))
let pipeline = DecisionPipeline(store: store, config: config, log: EventLog(level: .error), identity: gate)
// The same pipeline with the decision log on, as `warden serve` sets it up by default (the
// input recorded, credentials masked), spooling to a scratch directory: what the Check path
// itself pays for recording (the shipper is not running).
let spoolDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-check-spool-\(getpid())").path
let spool = try DecisionSpool(directory: spoolDirectory, maxBytes: Int.max)
func removeSpool() { try? FileManager.default.removeItem(atPath: spoolDirectory) }
let audited = DecisionPipeline(store: store, config: config, log: EventLog(level: .error), identity: gate,
                               audit: .init(spool: spool, denyWhenUnrecorded: true, includeInput: config.auditIncludeInput,
                                            mask: config.auditMaskAlways + config.auditMask))

// The CheckRequest Envoy sends for `GET /tools/search` with the agent's token.
var request = Envoy_Service_Auth_V3_CheckRequest()
request.attributes.source.address.socketAddress.address = "127.0.0.1"
request.attributes.source.address.socketAddress.portValue = 50000
request.attributes.destination.address.socketAddress.address = "127.0.0.1"
request.attributes.destination.address.socketAddress.portValue = 8000
request.attributes.request.http.method = "GET"
request.attributes.request.http.path = "/tools/search"
request.attributes.request.http.host = "127.0.0.1:8000"
request.attributes.request.http.scheme = "http"
request.attributes.request.http.protocol = "HTTP/1.1"
request.attributes.request.http.id = "1234567890"
request.attributes.request.http.headers = [
    ":method": "GET", ":path": "/tools/search", ":authority": "127.0.0.1:8000", "user-agent": "wrk",
    "authorization": "Bearer " + token, "x-request-id": "5d2f6c7e-2a51-4d0a-9c3e-6f1e2b7a8c90",
]
let bytes: [UInt8] = try request.serializedBytes()
guard pipeline.check(bytes).allowed else {
    FileHandle.standardError.write("bench-check: the benchmark request is not allowed\n".data(using: .utf8)!)
    exit(1)
}


/// p50 and p99 of `body` in microseconds, after a warm-up.
func measure(_ n: Int, _ body: () throws -> Void) rethrows -> (p50: Double, p99: Double) {
    for _ in 0..<min(2000, n) { try body() }
    var samples = [Int](repeating: 0, count: n)
    for i in 0..<n {
        let t0 = nowNs()
        try body()
        samples[i] = nowNs() - t0
    }
    samples.sort()
    return (Double(samples[n / 2]) / 1000, Double(samples[n * 99 / 100]) / 1000)
}

/// The same with this core's caches made cold before each Check, as at a low request rate,
/// where Envoy, wrk and the kernel run on the core between two Checks: a buffer larger than
/// the L2 cache is written over (outside the timed part) before each one.
func measureCold(_ n: Int, _ body: () throws -> Void) rethrows -> (p50: Double, p99: Double) {
    let evict = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 << 20, alignment: 64)
    defer { evict.deallocate() }
    var samples = [Int](repeating: 0, count: n)
    for i in 0..<n {
        for offset in stride(from: 0, to: evict.count, by: 64) { evict.storeBytes(of: UInt8(truncatingIfNeeded: i), toByteOffset: offset, as: UInt8.self) }
        let t0 = nowNs()
        try body()
        samples[i] = nowNs() - t0
    }
    samples.sort()
    return (Double(samples[n / 2]) / 1000, Double(samples[n * 99 / 100]) / 1000)
}

let n = max(1000, iterations / 5)
// As the Check path reads it: only the members the example policy reads are built.
let parts = store.loaded.decision(at: config.decisionPath)?.inputParts ?? .all
let decoded = try EnvoyInput.parse(bytes, building: parts)
guard case .admitted(let admitted) = gate.authenticate(header: decoded.header("authorization"), now: now) else { exit(1) }
let input = decoded.input(agent: admitted.agent)
let policy = store.loaded.policy
if ProcessInfo.processInfo.environment["BENCH_DUMP_INPUT"] != nil {
    print(try EnvoyInput.parse(bytes).input(agent: admitted.agent).jsonString())  // the whole document
    removeSpool()
    exit(0)
}
let path = config.decisionPath
let result = try policy.evaluate(path: path, input: input)
let decision = try EnvoyDecision.decision(from: result)

if profileOnly {
    // `profile [STAGE]`: one stage (or the whole pipeline) in a loop, for perf.
    let stage = args.count > 4 ? args[4] : "pipeline"
    let evalPath = (ProcessInfo.processInfo.environment["EVAL_PATH"] ?? "").split(separator: "/").map(String.init)
    for _ in 0..<iterations {
        switch stage {
        case "decode": _ = try EnvoyInput.parse(bytes, building: parts)
        case "protobuf": _ = try Envoy_Service_Auth_V3_CheckRequest(serializedBytes: bytes)
        case "eval": _ = try policy.evaluate(path: path, input: input)
        case "evalpath": _ = try policy.evaluate(path: evalPath, input: input)
        case "encode": _ = EnvoyDecision.responseBytes(decision, decisionID: "0")
        case "audited": _ = audited.handleCheck(bytes)
        default: _ = pipeline.handleCheck(bytes)
        }
    }
    removeSpool()
    exit(0)
}

let stages: [(String, (p50: Double, p99: Double))] = [
    // For comparison: the generated message's decoder alone (the serve path does not use it).
    ("protobuf_decode", try measure(n) { _ = try Envoy_Service_Auth_V3_CheckRequest(serializedBytes: bytes) }),
    ("parse_to_input", try measure(n) { _ = try EnvoyInput.parse(bytes, building: parts).input(agent: admitted.agent) }),
    ("identity", measure(n) { _ = gate.authenticate(header: decoded.header("authorization"), now: now) }),
    ("eval", try measure(n) { _ = try policy.evaluate(path: path, input: input) }),
    ("decision", try measure(n) { _ = try EnvoyDecision.decision(from: result) }),
    ("encode", measure(n) { _ = EnvoyDecision.responseBytes(decision, decisionID: "0") }),
    ("pipeline", measure(iterations) { _ = pipeline.handleCheck(bytes) }),
    ("pipeline_audited", measure(n) { _ = audited.handleCheck(bytes) }),
    ("pipeline_cold", measureCold(max(200, n / 20)) { _ = pipeline.handleCheck(bytes) }),
]
var fields: [String: Value] = [:]
for (name, t) in stages {
    fields[name + "_p50_us"] = .number(.double((t.p50 * 100).rounded() / 100))
    fields[name + "_p99_us"] = .number(.double((t.p99 * 100).rounded() / 100))
}
print(Value.object(RegoObject(fields: fields)).jsonString())
removeSpool()
