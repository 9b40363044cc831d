#!/usr/bin/env python3
"""`make bench-rego`: Warden's interpreter against regorus (Microsoft's Rego interpreter in
Rust, through its Python binding `gordon-to-regorus`) on the same policies and inputs, in
the same run. Both prepare once and evaluate many times.

regorus is timed through Python; the cost of crossing from Python into regorus and back is
measured on a trivial rule and reported, and subtracted, so the comparison is honest both
ways (raw and net figures are printed)."""

import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BENCH = os.path.join(ROOT, ".build", "release", "bench-rego")
ITERATIONS = int(os.environ.get("BENCH_ITERATIONS", "20000"))

CASES = [
    ("OPA-Envoy RBAC (policies/envoy)", "envoy/authz/result", "Benchmarks/inputs/envoy-allowed.json"),
    ("agent governance, allowed (policies/warden)", "warden/governance/decision", "Benchmarks/inputs/governance-allowed.json"),
    ("agent governance, denied (policies/warden)", "warden/governance/decision", "Benchmarks/inputs/governance-denied.json"),
]


def warden(path, input_file):
    out = subprocess.run([BENCH, os.path.join(ROOT, "policies"), os.path.join(ROOT, input_file), path, str(ITERATIONS)],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"p50 ([\d.]+) µs\s+p99 ([\d.]+) µs", out)
    return float(m.group(1)), float(m.group(2))


def regorus_engine():
    import regorus
    e = regorus.Engine()
    for dirpath, _, files in os.walk(os.path.join(ROOT, "policies")):
        for f in sorted(files):
            full = os.path.join(dirpath, f)
            if f.endswith(".rego") and not f.endswith("_test.rego"):
                e.add_policy_from_file(full)
            elif f == "data.json":
                rel = os.path.relpath(dirpath, os.path.join(ROOT, "policies"))
                data = json.load(open(full))
                for part in reversed([] if rel == "." else rel.split(os.sep)):
                    data = {part: data}
                e.add_data(data)
    e.add_policy("bench_trivial.rego", "package bench_trivial\nk := 1\n")
    return e


def time_regorus(engine, rule, n):
    samples = []
    for _ in range(min(1000, n)):
        engine.eval_rule(rule)
    for _ in range(n):
        t0 = time.perf_counter_ns()
        engine.eval_rule(rule)
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[len(samples) * 99 // 100] / 1000


def main():
    try:
        engine = regorus_engine()
    except ImportError:
        sys.exit("regorus is missing: run `make deps` (PyPI gordon-to-regorus into .venv)")
    engine.set_input({})
    overhead50, overhead99 = time_regorus(engine, "data.bench_trivial.k", ITERATIONS)
    print(f"make bench-rego: {ITERATIONS} evaluations each, prepared once; regorus 0.13 via Python "
          f"(a trivial rule costs {overhead50:.2f} µs p50 through the binding; 'net' subtracts it)")
    print(f"  {'policy':<46} {'Warden p50':>11} {'p99':>9} | {'regorus p50':>12} {'p99':>9} {'net p50':>8} | {'ratio':>6}")
    for label, path, input_file in CASES:
        w50, w99 = warden(path, input_file)
        engine.set_input(json.load(open(os.path.join(ROOT, input_file))))
        rule = "data." + path.replace("/", ".")
        result = engine.eval_rule(rule)
        assert result is not None, f"regorus: {rule} is undefined"
        r50, r99 = time_regorus(engine, rule, ITERATIONS)
        net = max(r50 - overhead50, 0.01)
        print(f"  {label:<46} {w50:9.2f}µs {w99:7.2f}µs | {r50:10.2f}µs {r99:7.2f}µs {net:6.2f}µs | {w50 / net:5.2f}x")
    print("  ratio = Warden p50 / regorus net p50 (target: <= 1.0)")


if __name__ == "__main__":
    main()
