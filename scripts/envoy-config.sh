#!/usr/bin/env bash
# Fills an envoy/*.yaml template's ${…} placeholders from the environment.
# Usage: LISTEN_PORT=… WARDEN_PORT=… UPSTREAM_PORT=… ADMIN_PORT=… envoy-config.sh TEMPLATE > OUT
set -euo pipefail
python3 - "$1" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
def sub(m):
    name = m.group(1)
    if name not in os.environ:
        sys.exit(f"envoy-config.sh: {sys.argv[1]} needs {name} in the environment")
    return os.environ[name]
sys.stdout.write(re.sub(r"\$\{([A-Z_]+)\}", sub, text))
PY
