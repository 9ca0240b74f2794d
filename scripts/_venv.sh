# Sourced by the scripts: find Python 3.11+, create .venv beside the checkout, install the project.
# Usage: . scripts/_venv.sh EXTRAS   (EXTRAS: "" or "dev")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SINERGIA_VENV:-$ROOT/.venv}"
PY=""
for candidate in python3.13 python3.12 python3.11 python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 \
     && "$candidate" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null; then
    PY="$candidate"; break
  fi
done
if [ -z "$PY" ]; then
  echo "error: Sinergia needs Python 3.11 or newer (python3 --version says: $(python3 --version 2>&1 || echo none))" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating virtual environment in $VENV ..."
  "$PY" -m venv "$VENV"
fi
spec="$ROOT"
[ -n "${1:-}" ] && spec="$ROOT[$1]"
# Re-install only when pyproject.toml changed since the last install into this venv.
stamp="$VENV/.sinergia-installed-${1:-base}"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "Installing Sinergia${1:+ with [$1]} into $VENV (first run takes a minute or two) ..."
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
