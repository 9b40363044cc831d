#!/usr/bin/env python3
"""Seeds the fuzz corpus with every module of OPA's conformance suite. Usage: fuzz-corpus.py SUITE_DIR OUT_DIR"""
import hashlib, json, os, sys
suite, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
n = 0
with open(os.path.join(suite, "cases", "cases.jsonl")) as fh:
    for line in fh:
        for m in json.loads(line).get("modules") or []:
            name = hashlib.sha1(m.encode()).hexdigest()
            with open(os.path.join(out, name), "w") as f:
                f.write(m)
            n += 1
print(f"{n} seed modules in {out}")
