#!/usr/bin/env bash
# Install torchrec 1.8.0 and the one FBGEMM build that loads beside this venv's torch 2.13
# (usage: bash scripts/setup_torchrec.sh [PYTHON]; CI runs it, the README's test command too).
#
# torchrec==1.8.0 declares a dependency on `fbgemm-gpu`, the CUDA build (pip picks its newest release, a 500 MB
# wheel); on a machine without CUDA its libraries fail to load, and both it and `fbgemm-gpu-cpu` install the same
# `fbgemm_gpu` package. So torchrec is installed without its declared dependencies, then its real ones are
# installed with versions that accept torch 2.13 (tensordict 0.15.3 needs torch >= 2.11; torchrec pins
# torchmetrics 1.0.3), and the FBGEMM build matching the torch: `fbgemm-gpu-cpu==1.8.0` on a CPU torch,
# `fbgemm-gpu==1.8.0` on a CUDA torch. 1.7 and 1.9 fail to load against torch 2.13 (ABI). It then imports both,
# so a broken pair fails here rather than in the tests.
set -euo pipefail
PY="${1:-.venv/bin/python}"
if "$PY" -c "import sys, torch; sys.exit(0 if torch.version.cuda else 1)"; then
  FBGEMM="fbgemm-gpu==1.8.0"
  "$PY" -m pip uninstall -q -y fbgemm-gpu-cpu >/dev/null 2>&1 || true
else
  FBGEMM="fbgemm-gpu-cpu==1.8.0"
  "$PY" -m pip uninstall -q -y fbgemm-gpu >/dev/null 2>&1 || true
fi
"$PY" -m pip install -q --no-deps "torchrec==1.8.0" "$FBGEMM"
"$PY" -m pip install -q "pyre-extensions" "tensordict==0.15.3" "torchmetrics==1.0.3" "tqdm"
"$PY" -c "import fbgemm_gpu, torchrec; from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder"
