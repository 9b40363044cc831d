#!/usr/bin/env bash
# `make run`: starts the echo upstream, Warden with the example policy and Envoy in front,
# shows an allowed request, a denied one and the headers Warden injected, then keeps
# serving until Ctrl-C and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
WARDEN=${WARDEN:-.build/release/warden}
ENVOY=$(ls .venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1)
[ -x "$ENVOY" ] || { echo "Envoy is missing: run make deps" >&2; exit 1; }
export LISTEN_PORT=${LISTEN_PORT:-8000} WARDEN_PORT=${WARDEN_PORT:-9191} UPSTREAM_PORT=${UPSTREAM_PORT:-8081} ADMIN_PORT=${ADMIN_PORT:-9901}
for p in $LISTEN_PORT $WARDEN_PORT $UPSTREAM_PORT $ADMIN_PORT; do
  if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
    echo "port $p is already in use; set LISTEN_PORT, WARDEN_PORT, UPSTREAM_PORT or ADMIN_PORT" >&2; exit 1
  fi
done
RUN=$(mktemp -d)
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo; echo "stopped Envoy, Warden and the upstream; logs were in $RUN"
}
trap stop EXIT
trap 'exit 0' INT TERM

python3 scripts/upstream.py "$UPSTREAM_PORT" & pids+=($!)
"$WARDEN" serve --listen "127.0.0.1:$WARDEN_PORT" --bundle policies --decision envoy/authz/result 2> "$RUN/warden.log" & pids+=($!)
scripts/envoy-config.sh envoy/ext-authz.yaml > "$RUN/envoy.yaml"
"$ENVOY" -c "$RUN/envoy.yaml" --log-level warn --concurrency 1 2> "$RUN/envoy.log" & pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/ready" && break; sleep 0.1; done

show() {
  echo; printf '$ curl'; printf " %q" "$@"; echo
  curl -s -i "$@" | sed 's/^/  /'
  echo
}
echo "Warden is deciding for Envoy on http://127.0.0.1:$LISTEN_PORT (policy: policies/envoy/authz.rego)"
echo "== allowed: code-review-bot may GET the search tool; the upstream echoes what it received,"
echo "   including x-warden-agent/x-warden-owner injected by the policy and without x-agent-secret"
show -H 'x-agent-id: code-review-bot' -H 'x-agent-secret: s3cret' "http://127.0.0.1:$LISTEN_PORT/tools/search"
echo "== denied: code-review-bot may not POST to deploy; the body says why and what to do next"
show -X POST -H 'x-agent-id: code-review-bot' "http://127.0.0.1:$LISTEN_PORT/tools/deploy"
echo "== denied: an unregistered agent"
show -H 'x-agent-id: stranger' "http://127.0.0.1:$LISTEN_PORT/tools/search"
echo "== Warden's decision log:"
sed 's/^/  /' "$RUN/warden.log"
echo
echo "Serving until Ctrl-C. Try: curl -i -H 'x-agent-id: deploy-bot' -X POST http://127.0.0.1:$LISTEN_PORT/tools/deploy"
wait
