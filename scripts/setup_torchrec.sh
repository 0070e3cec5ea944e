#!/usr/bin/env bash
# Leave exactly one working FBGEMM beside torchrec 1.8.0 in a venv (usage: bash scripts/setup_torchrec.sh [PYTHON]).
#
# torchrec==1.8.0 declares a dependency on `fbgemm-gpu`, the CUDA build, which pip resolves to its newest release;
# both it and `fbgemm-gpu-cpu` install the same `fbgemm_gpu` package, and on a machine without CUDA the CUDA build's
# libraries fail to load (they need libtorch_cuda). On a CPU torch this script removes `fbgemm-gpu` and reinstalls
# `fbgemm-gpu-cpu==1.8.0` (the release built against torch 2.13); with CUDA it pins `fbgemm-gpu==1.8.0`.
# It then imports both, so a broken pair fails here rather than in the tests.
set -euo pipefail
PY="${1:-.venv/bin/python}"
if ! "$PY" -c "import torchrec" >/dev/null 2>&1 && ! "$PY" -m pip show -q torchrec >/dev/null 2>&1; then
  "$PY" -m pip install -q "torchrec==1.8.0" "fbgemm-gpu-cpu==1.8.0"
fi
if "$PY" -c "import sys, torch; sys.exit(0 if torch.version.cuda else 1)"; then
  "$PY" -m pip uninstall -q -y fbgemm-gpu-cpu >/dev/null 2>&1 || true
  "$PY" -m pip install -q --no-deps --force-reinstall "fbgemm-gpu==1.8.0"
else
  "$PY" -m pip uninstall -q -y fbgemm-gpu >/dev/null 2>&1 || true
  "$PY" -m pip install -q --no-deps --force-reinstall "fbgemm-gpu-cpu==1.8.0"
fi
"$PY" -c "import fbgemm_gpu, torchrec; from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder"
