#!/usr/bin/env bash
# A separate virtual environment with TensorFlow 2.15 (CPU) for the tests that compare against TF itself
# (TFRecords TF reads back, the TF SavedModel bridge). TF 2.15 pins numpy<2 and protobuf<5, so it cannot share
# the main .venv. Idempotent: does nothing when .tfvenv already imports tensorflow.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .tfvenv/bin/python ] && .tfvenv/bin/python -c "import tensorflow, safetensors" >/dev/null 2>&1; then
  exit 0
fi
python3 -m venv .tfvenv
.tfvenv/bin/pip install -q "tensorflow-cpu==2.15.1" "safetensors>=0.4"
