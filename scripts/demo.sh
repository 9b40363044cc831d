#!/usr/bin/env bash
# `make run`: starts PostgreSQL (the agent registry), registers the example agents and a
# signing key, mints tokens, starts the echo upstream, Warden with the example policy and
# Envoy in front; shows allowed and denied requests, injected headers and the kill switch;
# then keeps serving until Ctrl-C and stops everything it started.
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
pg_started=""
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$pg_started" ] && scripts/pg.sh stop
  echo; echo "stopped Envoy, Warden, the upstream${pg_started:+ and PostgreSQL}; logs were in $RUN"
}
trap stop EXIT
trap 'exit 0' INT TERM

# PostgreSQL holds the agent registry and the signing keys (a cluster in .data/postgres).
scripts/pg.sh stop >/dev/null 2>&1 || true
export WARDEN_DATABASE_URL=$(scripts/pg.sh start)
pg_started=1
echo "PostgreSQL: $WARDEN_DATABASE_URL"

# Register the example agents (their access runs 90 days from today) and a signing key.
for manifest in agents/*.yaml; do
  sed "s/^expires: .*/expires: $(date -u -d '+90 days' +%F)/" "$manifest" > "$RUN/$(basename "$manifest")"
  "$WARDEN" agent register -f "$RUN/$(basename "$manifest")" --actor demo
done
KEYS=.data/demo-keys
if ! ls "$KEYS"/*.pem >/dev/null 2>&1 || ! "$WARDEN" keys list | grep -q "$(basename "$(ls "$KEYS"/*.pem | head -1)" .pem)"; then
  rm -rf "$KEYS"
  "$WARDEN" keys generate --out "$KEYS" --register >/dev/null
fi
KEY=$(ls "$KEYS"/*.pem | head -1)
REVIEWER=agent/code-review-bot@team-platform
WATCHER=agent/metrics-watcher@team-sre
"$WARDEN" agent revive "$REVIEWER" --actor demo >/dev/null 2>&1 || true
sleep 1  # tokens are stamped in whole seconds; a revive's kill second is behind us
REVIEWER_TOKEN=$("$WARDEN" token mint --agent "$REVIEWER" --key "$KEY" --ttl 30m)
WATCHER_TOKEN=$("$WARDEN" token mint --agent "$WATCHER" --key "$KEY" --ttl 30m)

python3 scripts/upstream.py "$UPSTREAM_PORT" & pids+=($!)
"$WARDEN" serve --listen "127.0.0.1:$WARDEN_PORT" --bundle policies --decision envoy/authz/result \
  --audit-spool .data/demo-spool 2> "$RUN/warden.log" & pids+=($!)
scripts/envoy-config.sh envoy/ext-authz.yaml > "$RUN/envoy.yaml"
"$ENVOY" -c "$RUN/envoy.yaml" --log-level warn --concurrency 1 2> "$RUN/envoy.log" & pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/ready" && break; sleep 0.1; done

show() {
  echo; printf '$ curl'; printf " %q" "$@" | sed -E 's/eyJ[A-Za-z0-9_.-]{20,}/<token>/g'; echo
  curl -s -i "$@" | sed 's/^/  /'
  echo
}
URL="http://127.0.0.1:$LISTEN_PORT"
echo
echo "Warden is deciding for Envoy on $URL (policy: policies/envoy/authz.rego, registry in PostgreSQL)"
echo "== allowed: $REVIEWER, with its token, may GET the search tool. The upstream echoes what it"
echo "   received: x-warden-agent/x-warden-owner added by the policy, the bearer token removed"
show -H "authorization: Bearer $REVIEWER_TOKEN" "$URL/tools/search"
echo "== denied by the policy: deploy is not among the agent's registered tools; the body says what to do"
show -X POST -H "authorization: Bearer $REVIEWER_TOKEN" "$URL/tools/deploy"
echo "== denied by the policy: a tier 1 observer may read but not write"
show -X POST -H "authorization: Bearer $WATCHER_TOKEN" "$URL/tools/metrics"
echo "== refused before any policy: no token"
show "$URL/tools/search"
echo "== the kill switch: every Warden refuses the agent within a second"
echo "\$ warden agent kill $REVIEWER --reason 'demo: runaway loop'"
"$WARDEN" agent kill "$REVIEWER" --reason "demo: runaway loop" --actor demo | sed 's/^/  /'
sleep 0.2
show -H "authorization: Bearer $REVIEWER_TOKEN" "$URL/tools/search"
echo "== revived: its old token stays refused; a newly minted one works"
"$WARDEN" agent revive "$REVIEWER" --actor demo | sed 's/^/  /'
sleep 1.1
show -H "authorization: Bearer $REVIEWER_TOKEN" "$URL/tools/search"
REVIEWER_TOKEN=$("$WARDEN" token mint --agent "$REVIEWER" --key "$KEY" --ttl 30m)
show -H "authorization: Bearer $REVIEWER_TOKEN" "$URL/tools/repos"
echo "== Warden's log (one JSON line per decision):"
sed 's/^/  /' "$RUN/warden.log"
echo
echo "== the decision log in PostgreSQL (spooled before each answer, shipped in batches):"
sleep 0.5
echo "\$ psql -c 'SELECT time, agent_id, method, path, decision, http_status, reasons FROM warden_decision_log …'"
psql "$WARDEN_DATABASE_URL" -c "SELECT to_char(time, 'HH24:MI:SS.MS') AS time, agent_id, method, path, decision, http_status,
  left(reasons::text, 60) AS reasons FROM warden_decision_log ORDER BY seq DESC LIMIT 8" | sed 's/^/  /'
echo "\$ warden audit verify"
"$WARDEN" audit verify | sed 's/^/  /' || true
echo "\$ warden report --since 1h"
"$WARDEN" report --since 1h | head -12 | sed 's/^/  /'  || true
echo
echo "Serving until Ctrl-C. A token for $REVIEWER, valid 30 minutes:"
echo "  export TOKEN=$REVIEWER_TOKEN"
echo "  curl -i -H \"authorization: Bearer \$TOKEN\" $URL/tools/search"
echo "  $WARDEN agent list    (WARDEN_DATABASE_URL=$WARDEN_DATABASE_URL)"
wait
