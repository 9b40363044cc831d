// `make bench-rego`: prepares a policy once and evaluates it many times, printing the
// per-evaluation p50/p99. Usage: bench-rego BUNDLE_DIR INPUT.json DECISION_PATH [ITERATIONS]
import BenchSupport
import Foundation
import Rego
import Warden

#if canImport(Glibc)
import Glibc
#endif

let args = benchArguments(atLeast: 4, usage: "bench-rego BUNDLE_DIR INPUT.json DECISION_PATH [ITERATIONS]")
let iterations = args.count > 4 ? Int(args[4]) ?? 20000 : 20000
let loaded = try PolicyStore.load(bundles: [args[1]], paths: [])
let input = try Value.parseJSON(String(decoding: FileManager.default.contents(atPath: args[2])!, as: UTF8.self))
let path = args[3].split(separator: "/").map(String.init)

guard let first = try loaded.policy.evaluate(path: path, input: input) else {
    print("the decision \(args[3]) is undefined for this input")
    exit(1)
}
for _ in 0..<min(1000, iterations) { _ = try loaded.policy.evaluate(path: path, input: input) }
var samples: [Int] = []
samples.reserveCapacity(iterations)
for _ in 0..<iterations {
    let t0 = nowNs()
    _ = try loaded.policy.evaluate(path: path, input: input)
    samples.append(nowNs() - t0)
}
samples.sort()
let p50 = Double(samples[samples.count / 2]) / 1000
let p99 = Double(samples[samples.count * 99 / 100]) / 1000
print(String(format: "warden  %@: p50 %.2f µs  p99 %.2f µs  (%d evaluations)", args[3], p50, p99, iterations))
if ProcessInfo.processInfo.environment["BENCH_SHOW_RESULT"] != nil { print(first.jsonString()) }
