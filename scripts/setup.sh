#!/usr/bin/env bash
# Set up a fresh clone: a virtual environment in .venv with the package, Snakemake,
# DVC and the test tools, and headless Chromium for the report check (Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
log=$(mktemp)
echo "installing the package and its tools into .venv (torch is large: a few minutes the first time) ..."
if ! .venv/bin/python -m pip install -q -e ".[test]" >"$log" 2>&1; then
  grep -v "^WARNING: Location" "$log" | tail -30
  echo "error: pip install failed (log above); check the network to PyPI and rerun scripts/setup.sh" >&2
  exit 1
fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing chromium (headless browser for the report test) ..."
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$log" 2>&1 \
      || { tail -20 "$log"; echo "warning: could not install chromium; the browser check of the report will be skipped" >&2; }
  else
    echo "note: no chromium found; the browser check of the report is skipped (install chromium to run it)"
  fi
fi
rm -f "$log"
echo "ready: . .venv/bin/activate"
