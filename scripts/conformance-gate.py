#!/usr/bin/env python3
"""Runs OPA's Rego conformance suite against warden and guards against regressions.

Every case listed in the passing file must still pass (with --check-error-text); a case
that newly passes is reported so it can be added with --update. Prints the score and a
closing line `conformance: N passed, M failed` (failed = regressions).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True)
    ap.add_argument("--suite", required=True, help="the rego-conformance directory")
    ap.add_argument("--passing", required=True)
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()

    run_py = os.path.join(a.suite, "run.py")
    if not os.path.exists(run_py):
        print(f"conformance suite not found at {a.suite} (expected ../shared/rego-conformance)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "results.json")
        proc = subprocess.run([sys.executable, run_py, "--engine", os.path.abspath(a.engine),
                               "--jobs", str(a.jobs), "--check-error-text", "--quiet",
                               "--json-out", out], text=True, capture_output=True)
        sys.stdout.write(proc.stdout)
        if not os.path.exists(out):
            sys.stderr.write(proc.stderr)
            print("conformance: the suite runner produced no results", file=sys.stderr)
            return 2
        with open(out) as fh:
            results = json.load(fh)["results"]

    passing_now = sorted(r["id"] for r in results if r["status"] == "pass")
    floor = []
    if os.path.exists(a.passing):
        with open(a.passing) as fh:
            floor = [line.strip() for line in fh if line.strip() and not line.startswith("#")]
    now = set(passing_now)
    regressions = [c for c in floor if c not in now]
    gained = [c for c in passing_now if c not in set(floor)]
    by_id = {r["id"]: r for r in results}
    for c in regressions:
        r = by_id.get(c, {})
        print(f"REGRESSION {c}: {r.get('reason', 'missing')} {str(r.get('got_error', ''))[:200]}")
    if gained and not a.update:
        print(f"{len(gained)} case(s) pass that are not in {a.passing}; run `make conformance-update` to raise the floor")
    if a.update:
        with open(a.passing, "w") as fh:
            fh.write("# Conformance cases that pass with --check-error-text; `make test` fails if one stops passing.\n")
            for c in passing_now:
                fh.write(c + "\n")
        print(f"wrote {len(passing_now)} passing cases to {a.passing}")
    kept = len(passing_now) if a.update else len(floor) - len(regressions)
    print(f"conformance: {kept} passed, {0 if a.update else len(regressions)} failed")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
