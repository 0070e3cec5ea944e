"""Runs in the TensorFlow venv: load bridge SavedModels with ``tf.saved_model.load`` and record what they expose.

``python tf_check.py <job.json>``; the job lists ``{"saved_model", "examples" (base64 tf.Examples), "out_dir"}``.
Writes ``<out_dir>/report.json`` (signature names, method names from saved_model.pb, input / output keys with
dtypes and shapes, string outputs) and ``<out_dir>/<signature>.<key>.npy`` for numeric outputs.
"""

from __future__ import annotations

import base64
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2


def _spec(t: tf.TensorSpec) -> list:
    return [t.dtype.name, [-1 if d is None else int(d) for d in t.shape.as_list()]]


def check(job: dict) -> None:
    path, out_dir = job["saved_model"], job["out_dir"]
    os.makedirs(out_dir, exist_ok=True)
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as fh:
        proto.ParseFromString(fh.read())
    methods = {k: v.method_name for k, v in proto.meta_graphs[0].signature_def.items()}
    loaded = tf.saved_model.load(path)
    examples = tf.constant([base64.b64decode(e) for e in job["examples"]], dtype=tf.string)
    report: dict = {"methods": methods, "signatures": {}}
    for name, fn in loaded.signatures.items():
        _, kwargs = fn.structured_input_signature
        entry = {
            "inputs": {k: _spec(v) for k, v in kwargs.items()},
            "outputs": {k: _spec(v) for k, v in fn.structured_outputs.items()},
            "strings": {},
        }
        (key,) = kwargs
        for out_key, value in fn(**{key: examples}).items():
            array = value.numpy()
            if array.dtype == object:
                entry["strings"][out_key] = [[s.decode() for s in row] for row in array]
            else:
                np.save(os.path.join(out_dir, f"{name}.{out_key}.npy"), array)
        report["signatures"][name] = entry
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        for job in json.load(fh):
            check(job)
