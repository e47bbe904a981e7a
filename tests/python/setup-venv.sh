#!/usr/bin/env bash
# Creates the Python venv the interop tests drive: $1 (default .venv-interop at the repository
# root) with the packages in tests/python/requirements-*.txt. Idempotent; safe to run twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-${NEURONET_PYENV:-$root/.venv-interop}}
stamp="$venv/.requirements"
want=$(cat "$root"/tests/python/requirements-*.txt)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check $(for f in "$root"/tests/python/requirements-*.txt; do echo -r "$f"; done)
printf '%s' "$want" > "$stamp"
