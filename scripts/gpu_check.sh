#!/usr/bin/env bash
# The checks that need a GPU, for a machine with CUDA and a Python that has PyTorch, with or
# without a network. Each part writes its results to OUT as it ends, so a run cut short
# still returns the parts it finished.
#
#   bash scripts/gpu_check.sh OUT [tests] [bench] [default] [mnist]     (no part named: all four)
#
#   tests    tests/test_gpu.py and test_cuda_graphs.py: CUDA-graph updates against eager ones,
#            CUDA against CPU, the device recorded                          -> gpu_check.log
#   bench    python -m batch_momentum bench --device cuda at B = 1, 16, 256, 4000: eager vs
#            CUDA graph with the default seeds stacked, vs the PyTorch-examples loop -> bench_cuda.csv
#   default  the default pipeline (snakemake --cores all) on the GPU         -> default.tar.gz
#   mnist    configs/mnist.yaml on full-size MNIST-format files written here (60000 + 10000
#            images; learnable, not the real digits: for times), every epoch of the budget
#            (no early stop): two cells (B = 32 and 2048 at lambda 0.9) and the timing step -> mnist.tar.gz
#
# Packages: if .whl/ holds wheels (made where pip works: .venv/bin/python scripts/offline_wheels.py),
# they are installed into /tmp/site first; this checkout's src/ is put on PYTHONPATH either way.
# Every step's time and exit status go to OUT/gpu_check.log. The pipelines run in fresh copies
# under a temporary folder: this checkout's results are not touched.
#
# Time: each part has a limit (tests 180 s, bench 240 s, default 540 s, mnist 420 s). The
# pipelines' GPU jobs run one at a time (the default profile offers one GPU), so `default` is
# about 45 jobs in a row. Where one command may run at most 10 minutes, run the parts as
# three commands: `tests bench`, then `default`, then `mnist`.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/gpu_check.sh OUT [tests] [bench] [default] [mnist]}
shift
parts=${*:-tests bench default mnist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/gpu_check.log
PY=${PYTHON:-python3}

if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >>"$log" 2>&1 || { echo "gpu_check: installing .whl/ failed (see $log)"; exit 1; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  export PATH=/tmp/site/bin:$PATH
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
# the pipeline's rules call `python`: make it this Python where only python3 exists
if [ "$(command -v python)" != "$(command -v "$PY")" ]; then
  # a wrapper in a new folder of its own (never written through an existing link), not a link:
  # a venv's Python finds its packages from the path it was started by
  bindir=$(mktemp -d)
  printf '#!/bin/sh\nexec "%s" "$@"\n' "$(command -v "$PY")" >"$bindir/python"
  chmod +x "$bindir/python"
  export PATH=$bindir:$PATH
fi

step() {  # step NAME LIMIT_S CMD...: run with a time limit, log its wall time and status
  local name=$1 limit=$2 t0=$EPOCHREALTIME rc
  shift 2
  echo "== $name: $*" >>"$log"
  timeout "$limit" "$@" >>"$log" 2>&1
  rc=$?
  echo "== $name: exit $rc after $(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME - $t0}") s" | tee -a "$log"
  return $rc
}

step env 60 python -c 'import torch, snakemake, mnist1d, batch_momentum; print(torch.__version__, torch.cuda.get_device_name(0))' \
  || { echo "gpu_check: no CUDA device or no package (see $log)"; exit 1; }
tmp=$(mktemp -d)
fresh() {  # a copy of the pipeline's files (not its outputs) in $tmp/$1; cd there
  mkdir -p "$tmp/$1" && cp -a Snakefile params.yaml workflow profiles src configs "$tmp/$1"/ && cd "$tmp/$1"
}

for part in $parts; do
  case $part in
    tests)
      step tests 180 "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_cuda_graphs.py
      ;;
    bench)
      step bench 240 "$PY" -m batch_momentum bench --device cuda --batch-sizes 1 16 256 4000 --epochs 3 \
        --out "$out/bench_cuda.csv"
      ;;
    default)
      fresh default
      step default 540 "$PY" -m snakemake --cores all
      tar -czf "$out/default.tar.gz" reports/tables reports/lecture.json reports/index.html results/timing \
        benchmarks logs 2>>"$log"
      cd - >/dev/null
      ;;
    mnist)
      local_dir=/tmp/mnist_local
      servedata=$PWD/tests
      fresh mnist
      step mnist_files 120 "$PY" -c '
import sys, yaml
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from servedata import write_mnist
md5 = write_mnist(Path(sys.argv[1]), n_train=60000, n_test=10000)
Path(sys.argv[3]).write_text(yaml.safe_dump({"download": {"local_dir": {"mnist": sys.argv[1]}, "md5": {"mnist": md5}},
                                             "train": {"target_train_acc": None}}))
' "$local_dir" "$servedata" /tmp/mnist_overlay.yaml || { cd - >/dev/null; continue; }
      step mnist 420 "$PY" -m snakemake --cores all --configfile params.yaml configs/mnist.yaml /tmp/mnist_overlay.yaml \
        -- results/metrics/bs32_lam0.9/seed1.json results/metrics/bs2048_lam0.9/seed1.json results/timing/timing.csv
      tar -czf "$out/mnist.tar.gz" results/timing results/cells/*/seed1/train.json results/cells/*/seed1/curve.csv \
        benchmarks logs 2>>"$log"
      cd - >/dev/null
      ;;
    *) echo "gpu_check: unknown part '$part' (tests, bench, default, mnist)"; exit 2 ;;
  esac
done
echo "gpu_check: done; files in $out"
