"""Build a real TensorFlow SavedModel from a torchestimator export (runs in a TensorFlow 2.15 venv).

Usage (with the TF venv's python; this file and its siblings column_contract.py and tf_columns.py import only
tensorflow, numpy, safetensors and the standard library)::

    python path/to/torchestimator/tf_bridge/build.py <export_dir> [--output <dir>]
           [--dnn-activation relu] [--sparse-combiner sum]

The default output is ``<export_dir>/tf_saved_model/``. From the torch side, call
``torchestimator.tf_bridge.export_tf_saved_model(export_dir)``, which runs this file in a subprocess.

What is built, per TF 2.15's Estimator serving contract::

    serialized tf.Example (1-D string)
      └─ tf.io.parse_example(parse spec from saved_model.json)
          └─ TF's own tf.feature_column columns, rebuilt from assets/columns.json
             (FarmHash bucketing, crosses, vocabulary tables, bucketize: the ids torchestimator
             computes bit for bit)
              ├─ LinearModel: safe_embedding_lookup_sparse(W_col, ids, combiner) + dense @ kernel + bias
              └─ DenseFeatures (sorted by name) ─► DNN tower (dense, activation, TF batch norm) ─► logits
                  └─ head: logits, logistic, probabilities, class_ids, classes, all_class_ids, all_classes
                     | predictions

Signatures: ``serving_default`` / ``classification`` (tensorflow/serving/classify, input ``inputs``,
outputs ``classes``/``scores``), ``regression`` (tensorflow/serving/regress, ``outputs``), ``predict``
(tensorflow/serving/predict, input ``examples``), exactly as listed in the export's manifest.
``tf.saved_model.save`` stamps every signature ``tensorflow/serving/predict``; the classify / regress
method names are then written into ``saved_model.pb`` (and the fingerprint rewritten).

Why a direct TF rebuild and not ONNX -> TF (onnx2tf): the export's ONNX graph takes wire-format inputs
with hashing done on the host, so a converted graph could not parse tf.Example nor hash inside TF;
onnx2tf pins TensorFlow 2.19 / numpy 1.26.4 / onnx 1.19.1 and converts ``OneHot`` wrongly
(deps_probe §5: 0.27 off, fixed batch size). Rebuilding the pre-made towers from the safetensors
weights with TF's own feature columns keeps preprocessing inside TF, needs no converter, and matched
torch to 3e-8 in the probe. The price: only known layer types are supported (anything else is a
clear error naming the unsupported piece).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

try:  # run as a script in the TF venv: its helpers are this file's siblings (no torch, no torchestimator)
    from tf_columns import DENSE_TYPES, BridgeError, DenseFeaturesTF, LinearModelTF, export_asset, read_export
except ImportError:  # imported from the torch side
    from torchestimator.tf_bridge.tf_columns import (
        DENSE_TYPES,
        BridgeError,
        DenseFeaturesTF,
        LinearModelTF,
        export_asset,
        read_export,
    )

__all__ = ["BridgeError", "build", "build_module", "export_asset", "main", "read_export"]

CLASSIFY, REGRESS, PREDICT = (
    "tensorflow/serving/classify",
    "tensorflow/serving/regress",
    "tensorflow/serving/predict",
)
ACTIVATIONS = (
    "elu",
    "gelu",
    "leaky_relu",
    "linear",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "softplus",
    "softsign",
    "swish",
    "tanh",
)


def tf_activation(name: str) -> Callable[[Any], Any]:
    """A TF activation for a torchestimator activation name.

    Raises:
        BridgeError: an unknown name.
    """
    import tensorflow as tf

    table: dict[str, Callable[[Any], Any]] = {
        "elu": tf.nn.elu,
        "gelu": lambda x: tf.nn.gelu(x, approximate=False),
        "leaky_relu": lambda x: tf.nn.leaky_relu(x, alpha=0.01),  # torch's default slope
        "linear": tf.identity,
        "relu": tf.nn.relu,
        "relu6": tf.nn.relu6,
        "selu": tf.nn.selu,
        "sigmoid": tf.sigmoid,
        "silu": tf.nn.silu,
        "softplus": tf.nn.softplus,
        "softsign": tf.nn.softsign,
        "swish": tf.nn.silu,
        "tanh": tf.tanh,
    }
    if name not in table:
        raise BridgeError(f"--dnn-activation {name!r} is not supported; choose one of {sorted(table)}.")
    return table[name]


class TowerTF:
    """``DNNTower`` in TF (inference): dense + activation (+ batch norm, epsilon 1e-3) per layer, then logits."""

    def __init__(self, prefix: str, weights: Mapping[str, np.ndarray], activation: str) -> None:
        import tensorflow as tf

        self.activation = tf_activation(activation)
        self.layers: list[dict[str, Any]] = []
        i = 0
        while f"{prefix}hidden_layers.{i}.weight" in weights:
            layer = {
                "kernel": tf.Variable(
                    weights[f"{prefix}hidden_layers.{i}.weight"].T,
                    trainable=False,
                    name=f"hiddenlayer_{i}/kernel",
                ),
                "bias": tf.Variable(
                    weights[f"{prefix}hidden_layers.{i}.bias"], trainable=False, name=f"hiddenlayer_{i}/bias"
                ),
            }
            bn = f"{prefix}batch_norms.{i}."
            if f"{bn}gamma" in weights:
                for name in ("gamma", "beta", "moving_mean", "moving_variance"):
                    layer[name] = tf.Variable(
                        weights[bn + name], trainable=False, name=f"batchnorm_{i}/{name}"
                    )
            self.layers.append(layer)
            i += 1
        self.kernel = tf.Variable(weights[f"{prefix}logits.weight"].T, trainable=False, name="logits/kernel")
        self.bias = tf.Variable(weights[f"{prefix}logits.bias"], trainable=False, name="logits/bias")

    def __call__(self, net: Any) -> Any:
        """Logits ``(B, logits_dimension)`` from ``net`` ``(B, D)``."""
        import tensorflow as tf

        for layer in self.layers:
            net = self.activation(tf.matmul(net, layer["kernel"]) + layer["bias"])  # (B, units_i)
            if "gamma" in layer:
                scale = tf.math.rsqrt(layer["moving_variance"] + 1e-3) * layer["gamma"]  # (units_i,)
                net = (net - layer["moving_mean"]) * scale + layer["beta"]  # (B, units_i)
        return tf.matmul(net, self.kernel) + self.bias  # (B, logits_dimension)


def head_predictions(logits: Any, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Every prediction key of the export's head, computed from ``logits`` (B, L) with TF's canned-head math."""
    import tensorflow as tf

    outputs = manifest["outputs"]
    if "predictions" in outputs:
        return {"predictions": logits}  # regression head (identity link)
    names = tf.constant([str(n) for n in manifest["class_names"]])
    n = len(manifest["class_names"])
    out: dict[str, Any] = {"logits": logits}
    if "logistic" in outputs:
        out["logistic"] = tf.sigmoid(logits)  # (B, 1)
        logits_2 = tf.concat([tf.zeros_like(logits), logits], axis=1)  # (B, 2)
        out["probabilities"] = tf.nn.softmax(logits_2)
        class_ids = tf.argmax(logits_2, axis=1)  # (B,)
    else:
        out["probabilities"] = tf.nn.softmax(logits)  # (B, n)
        class_ids = tf.argmax(logits, axis=1)  # (B,)
    batch = tf.shape(logits)[0]
    out["class_ids"] = tf.expand_dims(class_ids, 1)  # (B, 1)
    out["classes"] = tf.expand_dims(tf.gather(names, class_ids), 1)  # (B, 1)
    out["all_class_ids"] = tf.tile(tf.range(n)[None, :], [batch, 1])  # (B, n)
    out["all_classes"] = tf.tile(names[None, :], [batch, 1])  # (B, n)
    return out


# ---- the SavedModel --------------------------------------------------------------------------------------


def _model_parts(layers: list[dict[str, Any]], weights: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Which pre-made model this is: the state_dict prefixes of its linear part, DNN input layer and tower.

    Raises:
        BridgeError: weights that belong to no supported pre-made model.
    """
    keys = set(weights)
    tower: str | None
    dense: str | None
    if any(k.startswith("dnn_tower.") for k in keys) or any(k.startswith("dnn_input_layer.") for k in keys):
        tower, dense = "dnn_tower.", "dnn_input_layer."
    elif any(k.startswith("tower.") for k in keys):
        tower, dense = "tower.", "input_layer."
    else:
        tower = dense = None
    linear = "linear_model." if "linear_model.bias" in keys else None
    if linear is None and tower is None:
        raise BridgeError(
            f"the export's weights {sorted(keys)[:6]} match no supported pre-made model (LinearClassifier/"
            "Regressor, DNNClassifier/Regressor, DNNLinearCombined*); custom model_fns cannot be rebuilt in TF."
        )
    known = (linear or "\0", tower or "\0", dense or "\0")
    stray = sorted(k for k in keys if not k.startswith(known))
    if stray:
        raise BridgeError(f"weights {stray[:4]} belong to no layer the TF bridge rebuilds.")
    parts: dict[str, Any] = {"linear": None, "nested": None, "dense": None, "tower": tower}
    entries = list(layers)
    for i, entry in enumerate(entries):
        if entry["layer"] == "LinearModel":
            parts["linear"] = entry
            has_dense = any(
                s["type"] in DENSE_TYPES and s["type"] != "BucketizedColumn" for s in entry["columns"]
            )
            if has_dense and i + 1 < len(entries) and entries[i + 1]["layer"] == "DenseFeatures":
                parts["nested"] = entries.pop(i + 1)
        elif entry["layer"] == "DenseFeatures":
            parts["dense"] = entry
        else:
            raise BridgeError(f"column layer {entry['layer']!r} is not supported by the TF bridge.")
    if (parts["dense"] is None) != (tower is None) or (parts["linear"] is None) != (linear is None):
        raise BridgeError(
            "the export's column layers do not match its weights (assets/columns.json vs weights)."
        )
    parts["dense_prefix"], parts["linear_prefix"] = dense, linear
    return parts


def build_module(
    export_dir: str, activation: str | None = None, sparse_combiner: str | None = None
) -> tuple[Any, dict[str, Any]]:
    """A ``tf.Module`` whose signature functions serve the export, and the manifest.

    Raises:
        BridgeError: an unsupported model, column or setting.
    """
    import tensorflow as tf
    from tensorflow.python.feature_column import feature_column_v2 as fc_v2

    manifest, layers, weights = read_export(export_dir)
    recorded = manifest.get("model", {})
    sparse_combiner = sparse_combiner or recorded.get("sparse_combiner")
    if activation is None:
        activation = recorded.get("dnn_activation")
        if activation is None and "dnn_activation" in recorded:
            raise BridgeError(
                "the export's DNN uses a custom activation callable, which the bridge cannot rebuild by name; "
                f"pass --dnn-activation with one of {list(ACTIVATIONS)} if it is equivalent to one of them."
            )
        activation = activation or "relu"  # exports written before the "model" section: TF's default
    parts = _model_parts(layers, weights)
    linear = dense = tower = None
    if parts["linear"] is not None:
        linear = LinearModelTF(
            parts["linear"], parts["nested"], parts["linear_prefix"], weights, export_dir, sparse_combiner
        )
    if parts["dense"] is not None:
        dense = DenseFeaturesTF(parts["dense"]["columns"], parts["dense_prefix"], weights, export_dir)
        tower = TowerTF(parts["tower"], weights, activation)
    spec = {}
    for key, f in manifest["parse_spec"].items():
        dtype = tf.dtypes.as_dtype(f["dtype"])
        if f["type"] == "FixedLenFeature":
            default = f["default_value"]
            spec[key] = tf.io.FixedLenFeature(
                f["shape"], dtype, None if default is None else np.asarray(default, dtype.as_numpy_dtype)
            )
        else:
            spec[key] = tf.io.VarLenFeature(dtype)
    state = fc_v2._StateManagerImpl(layer=None, trainable=False)  # holds the vocabulary tables
    out_dtypes = {k: tf.dtypes.as_dtype(v["dtype"]) for k, v in manifest["outputs"].items()}

    module = tf.Module()
    tracked: list[Any] = []  # every variable the functions capture must be tracked for saving
    if linear is not None:
        tracked += [linear.bias, *(w for _, w in linear.sparse)]
        if linear.dense is not None:
            tracked += [linear.kernel, *linear.dense.tables.values()]
    if dense is not None and tower is not None:
        tracked += [*dense.tables.values(), tower.kernel, tower.bias]
        tracked += [v for layer in tower.layers for v in layer.values()]
    module.model_variables = tracked

    def predictions(serialized: Any) -> dict[str, Any]:
        features = tf.io.parse_example(serialized, spec)
        cache = fc_v2.FeatureTransformationCache(features)
        logits = None
        if linear is not None:
            logits = linear(cache, state)  # (B, L)
        if dense is not None and tower is not None:
            deep = tower(dense(cache, state))  # (B, L)
            logits = deep if logits is None else logits + deep
        return {k: tf.cast(v, out_dtypes[k]) for k, v in head_predictions(logits, manifest).items()}

    def signature_fn(sig: Mapping[str, Any]) -> Any:
        (input_key,) = sig["inputs"]
        sources = {k: v["source"] for k, v in sig["outputs"].items()}

        def pick(serialized: Any) -> dict[str, Any]:
            p = predictions(serialized)
            return {k: p[src] for k, src in sources.items()}

        if input_key == "inputs":
            fn = lambda inputs: pick(inputs)  # noqa: E731  (the argument name is the signature's input key)
        elif input_key == "examples":
            fn = lambda examples: pick(examples)  # noqa: E731
        else:
            raise BridgeError(f"signature input key {input_key!r} is not a serialized tf.Example input.")
        return tf.function(fn, input_signature=[tf.TensorSpec([None], tf.string, name=input_key)])

    signatures = {}
    for name, sig in manifest["signatures"].items():
        signatures[name] = signature_fn(sig).get_concrete_function()
    # the vocabulary tables were created while tracing: track them so the SavedModel holds them (and their assets)
    module.tables = [t for per_col in state._cols_to_resources_map.values() for t in per_col.values()]
    module.signature_map = signatures
    return module, manifest


def set_method_names(saved_model_dir: str, manifest: Mapping[str, Any]) -> None:
    """Write the manifest's TF-Serving method names into ``saved_model.pb`` (TF 2 saves all as predict)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(saved_model_dir, "saved_model.pb")
    proto = saved_model_pb2.SavedModel()
    with open(path, "rb") as fh:
        proto.ParseFromString(fh.read())
    for meta_graph in proto.meta_graphs:
        for name, sig in meta_graph.signature_def.items():
            if name in manifest["signatures"]:
                sig.method_name = manifest["signatures"][name]["method_name"]
    with open(path, "wb") as fh:
        fh.write(proto.SerializeToString())
    try:  # keep fingerprint.pb consistent with the edited graph
        from tensorflow.python.saved_model import fingerprinting_utils

        fingerprinting_utils.write_fingerprint(saved_model_dir)
    except (ImportError, AttributeError, TypeError):
        fp = os.path.join(saved_model_dir, "fingerprint.pb")
        if os.path.exists(fp):
            os.remove(fp)


def build(
    export_dir: str,
    output: str | None = None,
    activation: str | None = None,
    sparse_combiner: str | None = None,
) -> str:
    """Write the TF SavedModel for ``export_dir`` and return its path (default ``<export_dir>/tf_saved_model``).

    Raises:
        BridgeError: an unsupported export, or the output directory exists.
    """
    import tensorflow as tf

    output = output or os.path.join(export_dir, "tf_saved_model")
    if os.path.exists(output):
        raise BridgeError(
            f"output directory {output!r} already exists; remove it or pass --output <new dir>."
        )
    module, manifest = build_module(export_dir, activation, sparse_combiner)
    tf.saved_model.save(module, output, signatures=module.signature_map)
    set_method_names(output, manifest)
    return output


def main(argv: list[str] | None = None) -> int:
    """Command line: ``build.py <export_dir> [--output DIR] [--dnn-activation NAME] [--sparse-combiner NAME]``."""
    parser = argparse.ArgumentParser(
        description="torchestimator export -> TensorFlow SavedModel (TF-Serving signatures)"
    )
    parser.add_argument("export_dir")
    parser.add_argument("--output", default=None, help="default: <export_dir>/tf_saved_model")
    parser.add_argument(
        "--dnn-activation",
        default=None,
        choices=ACTIVATIONS,
        help="override the DNN hidden activation recorded in the export",
    )
    parser.add_argument(
        "--sparse-combiner",
        default=None,
        choices=("sum", "mean", "sqrtn"),
        help="override the LinearModel sparse_combiner recorded in the export",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        print(
            f"error: TensorFlow is not installed in {sys.executable}; use a TensorFlow 2.15 venv "
            "(scripts/setup_tf_venv.sh, or pip install 'tensorflow-cpu==2.15.1' safetensors).",
            file=sys.stderr,
        )
        return 3
    tf.get_logger().setLevel("ERROR")  # tf.feature_column deprecation notices
    try:
        path = build(args.export_dir, args.output, args.dnn_activation, args.sparse_combiner)
    except (BridgeError, ValueError) as err:  # ValueError: TF refused a rebuilt column's settings
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
