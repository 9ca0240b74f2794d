#!/usr/bin/env bash
# The README's test command (and what CI runs): lint, type-check and the whole test suite.
# Installs the dev and spark extras into .venv first; in CI (CI=true) it also installs, with apt-get,
# the system packages some tests need when they are missing (Java for the PySpark tests).
# Extra arguments go to pytest.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" "dev,spark,postgres"
cd "$ROOT"

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
# PostgreSQL server binaries for the API tests against a real PostgreSQL (tests/pg.py starts a throw-away cluster).
{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need_apt+=(postgresql)
# Browser tests (tests/test_web_browser.py) drive Debian's Chromium through Playwright (never `playwright install`).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ -n "${CI:-}" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${need_apt[*]} (apt-get)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "note: missing ${need_apt[*]}; the tests that need them will skip (CI installs them)"
  fi
fi

echo "== ruff";  ruff check src tests benchmarks
echo "== mypy";  mypy
echo "== pytest"
# pytest exits 5 when it collected no tests: that is a failure here, like any other non-zero code.
# Two workers (pytest-xdist, one per core); tests/conftest.py groups the Spark tests on one worker and keeps
# each other module on one worker. SINERGIA_TEST_WORKERS=0 runs in this process.
python -m pytest -n "${SINERGIA_TEST_WORKERS:-2}" --dist loadgroup "$@"
