#!/usr/bin/env bash
# The README's first command: set everything up and run the main job on a demo workspace.
# Creates .venv, installs Sinergia, generates a deterministic demo SaaS into ./demo-workspace,
# ingests it and prints what the workspace holds.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" ""
WS="${SINERGIA_WORKSPACE:-$ROOT/demo-workspace}"
ACCOUNTS="${SINERGIA_DEMO_ACCOUNTS:-500}"
if [ -f "$WS/engine.duckdb" ] && [ -d "$WS/demo-data" ]; then
  echo "Demo workspace already at $WS (delete it to start over); re-importing is idempotent."
fi
sinergia demo --workspace "$WS" --accounts "$ACCOUNTS" --seed 7
sinergia status --workspace "$WS"
echo
echo "Next: sinergia --help   (workspace: $WS; set SINERGIA_WORKSPACE=$WS to skip --workspace)"
