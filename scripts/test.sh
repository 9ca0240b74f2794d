#!/usr/bin/env bash
# The README's test command (and what CI runs): lint, type-check and the whole test suite.
# Installs the dev extras into .venv first. Extra arguments go to pytest.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "dev"
cd "$ROOT"
echo "== ruff";  ruff check src tests benchmarks
echo "== mypy";  mypy
echo "== pytest"
# pytest exits 5 when it collected no tests: that is a failure here, like any other non-zero code.
python -m pytest "$@"
