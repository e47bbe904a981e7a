#!/usr/bin/env bash
# Creates a Python venv the interop tests drive: $1 (default .venv-interop at the repository
# root) with the packages in $2 (default: every tests/python/requirements-*.txt). Idempotent;
# safe to run twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-${NEURONET_PYENV:-$root/.venv-interop}}
if [ -n "${2:-}" ]; then
  files=("$2")
else
  files=("$root"/tests/python/requirements-*.txt)
fi
stamp="$venv/.requirements"
want=$(cat "${files[@]}")
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check $(for f in "${files[@]}"; do echo -r "$f"; done)
printf '%s' "$want" > "$stamp"
