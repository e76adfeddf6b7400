#!/usr/bin/env bash
# Set up a fresh clone: a virtual environment in .venv with the package, Snakemake,
# DVC and the test tools; with apt-get as root (Debian/Ubuntu) also headless Chromium for the
# report check and Debian's real Fashion-MNIST files.
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
# Debian packages the tests use: chromium (headless browser for the report check) and
# dataset-fashion-mnist (the real Fashion-MNIST files, configs/fashion_mnist_debian.yaml).
# The SLURM test installs its own (scripts/slurm_cluster.sh).
want=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || want+=(chromium)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || want+=(dataset-fashion-mnist)
if [ ${#want[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing ${want[*]} (apt-get) ..."
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}"; } \
      >"$log" 2>&1 \
      || { tail -20 "$log"; echo "warning: could not install ${want[*]}; the tests that need them are skipped" >&2; }
  else
    echo "note: ${want[*]} not installed and no apt-get as root here: the report's browser check and the real"
    echo "      Fashion-MNIST test are skipped (sudo apt-get install ${want[*]} to run them)"
  fi
fi
rm -f "$log"
echo "ready: . .venv/bin/activate"
