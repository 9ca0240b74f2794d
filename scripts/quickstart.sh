#!/usr/bin/env bash
# The README's first command: set everything up and run the main job on a demo workspace, then serve the app.
# Creates .venv, installs Sinergia, generates a deterministic demo SaaS into ./demo-workspace, ingests it,
# scores it (health, churn risk, CLV), writes the serving store (sinergia recompute), creates the demo login
# and serves the web app until Ctrl+C. Set SINERGIA_NO_SERVE=1 to stop before serving (scripts, CI).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" ""
WS="${SINERGIA_WORKSPACE:-$ROOT/demo-workspace}"
ACCOUNTS="${SINERGIA_DEMO_ACCOUNTS:-500}"
AS_OF="2026-10-31"   # the demo's last day (docs/demo-data.md): everything is computed as of it
HOST="${SINERGIA_HOST:-127.0.0.1}"
PORT="${SINERGIA_PORT:-8000}"
DEMO_EMAIL="demo@sinergia.local"
DEMO_PASSWORD="${SINERGIA_DEMO_PASSWORD:-sinergia-demo}"

if [ -f "$WS/engine.duckdb" ] && [ -d "$WS/demo-data" ]; then
  echo "Demo workspace already at $WS (delete it to start over); re-importing is idempotent."
fi
sinergia demo --workspace "$WS" --accounts "$ACCOUNTS" --seed 7
sinergia status --workspace "$WS"

echo
echo "== scoring as of $AS_OF (health, churn risk, CLV)"
# A failed score leaves that column empty in the app (and says so here); the app still comes up.
score() { "$@" || echo "warning: '$*' failed; the app will show no value for that score" >&2; }
score sinergia health history --workspace "$WS" --from "$AS_OF" --to "$AS_OF"
score sinergia churn train --workspace "$WS" --as-of "$AS_OF" >/dev/null
score sinergia churn score --workspace "$WS" --as-of "$AS_OF"
score sinergia clv score --workspace "$WS" --as-of "$AS_OF"

echo
echo "== writing what the app reads (sinergia recompute)"
sinergia recompute --workspace "$WS" --as-of "$AS_OF"

if ! sinergia user list --workspace "$WS" --format csv | grep -q "$DEMO_EMAIL"; then
  printf '%s\n' "$DEMO_PASSWORD" | sinergia user create --workspace "$WS" --email "$DEMO_EMAIL" --role manager \
    --name "Demo" --locale pt-BR --password-stdin
fi

echo
echo "Sinergia demo: http://$HOST:$PORT/"
echo "  log in as $DEMO_EMAIL / $DEMO_PASSWORD  (role manager; switch language at the top right)"
echo "  workspace: $WS  (set SINERGIA_WORKSPACE=$WS to skip --workspace; sinergia --help for the CLI)"
if [ -n "${SINERGIA_NO_SERVE:-}" ]; then
  echo "Not serving (SINERGIA_NO_SERVE is set). Start it with: sinergia serve --workspace $WS --port $PORT"
  exit 0
fi
echo "Serving until Ctrl+C ..."
exec sinergia serve --workspace "$WS" --host "$HOST" --port "$PORT"
