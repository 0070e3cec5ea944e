#!/usr/bin/env bash
# A separate virtual environment with TensorFlow 2.15 (CPU) for the tests and benchmarks that compare against TF
# itself (TFRecords TF reads back, the TF SavedModel bridge, TF Serving's own client, same-run benchmarks).
# TF 2.15 pins numpy<2 and protobuf<5, so it cannot share the main .venv. tensorflow-serving-api is installed
# with --no-deps: its only requirement is tensorflow itself, which it would otherwise re-resolve.
# Idempotent: does nothing when .tfvenv already imports all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
check='import tensorflow, tensorflow_estimator, safetensors, grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc'
if [ -x .tfvenv/bin/python ] && .tfvenv/bin/python -c "$check" >/dev/null 2>&1; then
  exit 0
fi
[ -x .tfvenv/bin/python ] || python3 -m venv .tfvenv
.tfvenv/bin/pip install -q "tensorflow-cpu==2.15.1" "tensorflow-estimator==2.15.0" "safetensors>=0.4" "grpcio>=1.50"
.tfvenv/bin/pip install -q --no-deps "tensorflow-serving-api==2.15.1"
