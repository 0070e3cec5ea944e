"""Build a real TensorFlow SavedModel from a torchestimator export (runs in a TensorFlow 2.15 venv).

Usage (with the TF venv's python; this file imports only tensorflow, numpy, safetensors and json)::

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
import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

try:  # run as a script in the TF venv: the contract is this file's sibling (no torch, no torchestimator)
    from column_contract import layer_digest
except ImportError:  # imported from the torch side
    from torchestimator.tf_bridge.column_contract import layer_digest

CLASSIFY, REGRESS, PREDICT = (
    "tensorflow/serving/classify",
    "tensorflow/serving/regress",
    "tensorflow/serving/predict",
)
CATEGORICAL_TYPES = {
    "HashedCategoricalColumn",
    "VocabularyListCategoricalColumn",
    "VocabularyFileCategoricalColumn",
    "IdentityCategoricalColumn",
    "WeightedCategoricalColumn",
    "CrossedColumn",
}
DENSE_TYPES = {
    "NumericColumn",
    "BucketizedColumn",
    "IndicatorColumn",
    "EmbeddingColumn",
    "SharedEmbeddingColumn",
}
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


class BridgeError(Exception):
    """The export cannot be rebuilt in TensorFlow (message names the unsupported piece)."""


# ---- reading the export ----------------------------------------------------------------------------------


def read_export(export_dir: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, np.ndarray]]:
    """The manifest, the serialised column layers and the weights of a torchestimator export.

    Raises:
        BridgeError: a file is missing or the export is not a parsing-receiver export.
    """
    from safetensors.numpy import load_file

    paths = {
        "manifest": os.path.join(export_dir, "saved_model.json"),
        "columns": os.path.join(export_dir, "assets", "columns.json"),
        "weights": os.path.join(export_dir, "variables", "weights.safetensors"),
    }
    for what, path in paths.items():
        if not os.path.isfile(path):
            raise BridgeError(
                f"{export_dir!r} is not a torchestimator export: its {what} file {path!r} is missing."
            )
    with open(paths["manifest"], encoding="utf-8") as fh:
        manifest = json.load(fh)
    if manifest.get("format") != "torchestimator.export/1":
        raise BridgeError(
            f"{paths['manifest']!r}: format {manifest.get('format')!r}, expected 'torchestimator.export/1'."
        )
    if manifest.get("receiver") != "parsing":
        raise BridgeError(
            f"export {export_dir!r} uses a {manifest.get('receiver')!r} receiver; the TF bridge serves serialized "
            "tf.Example only: export with build_parsing_serving_input_receiver_fn(make_parse_example_spec(columns))."
        )
    with open(paths["columns"], encoding="utf-8") as fh:
        layers = json.load(fh)
    return manifest, layers, load_file(paths["weights"])


def export_asset(export_dir: str, name: object, sha256: object = None) -> str:
    """``export_dir/name`` if it is a regular file inside the export whose bytes match ``sha256`` (when recorded).

    The same policy as ``torchestimator.file_policy`` (this file runs without torchestimator installed):
    a name read from JSON is data, so ``../x``, ``/etc/passwd``, a symlink out of the export or a device
    (``/dev/zero`` would never end) is refused before anything opens it.

    Raises:
        BridgeError: the name is not a plain relative name, escapes the export, is not a regular file,
            or the file changed since the export was written.
    """
    base = os.path.realpath(export_dir)
    if (
        not isinstance(name, str)
        or not name
        or "\x00" in name
        or os.path.isabs(name)
        or ".." in name.split("/")
    ):
        raise BridgeError(f"asset {name!r} of export {base!r} is not a plain relative file name inside it.")
    target = os.path.realpath(os.path.join(base, name))
    if not target.startswith(base + os.sep) or not os.path.isfile(target):
        raise BridgeError(f"asset {name!r} of export {base!r} is not a regular file inside it ({target!r}).")
    if sha256 is not None:
        digest = hashlib.sha256()
        with open(target, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise BridgeError(f"asset {target!r} has changed since the export was written (sha256 differs).")
    return target


# ---- columns: JSON -> tf.feature_column --------------------------------------------------------------------


def tf_column(spec: Mapping[str, Any], export_dir: str) -> Any:
    """TF's own feature column for one serialised torchestimator column.

    Raises:
        BridgeError: an unsupported column type or setting.
    """
    import tensorflow as tf

    fc = tf.feature_column
    kind, c = spec["type"], spec["config"]
    if kind == "NumericColumn":
        if c.get("normalizer_fn") is not None:
            raise BridgeError(
                f"numeric_column {c['key']!r} has normalizer_fn {c['normalizer_fn']}: torch code cannot run in "
                "TensorFlow; normalise the feature in the input pipeline or drop normalizer_fn."
            )
        return fc.numeric_column(
            c["key"], tuple(c["shape"]), c["default_value"], tf.dtypes.as_dtype(c["dtype"])
        )
    if kind == "BucketizedColumn":
        return fc.bucketized_column(
            tf_column(c["source_column"], export_dir), [float(b) for b in c["boundaries"]]
        )
    if kind == "HashedCategoricalColumn":
        return fc.categorical_column_with_hash_bucket(
            c["key"], c["hash_bucket_size"], tf.dtypes.as_dtype(c["dtype"])
        )
    if kind == "VocabularyListCategoricalColumn":
        return fc.categorical_column_with_vocabulary_list(
            c["key"],
            c["vocabulary_list"],
            tf.dtypes.as_dtype(c["dtype"]),
            c["default_value"],
            c["num_oov_buckets"],
        )
    if kind == "VocabularyFileCategoricalColumn":
        path = export_asset(export_dir, c["vocabulary_file"], spec.get("asset_sha256"))
        default = None if c["default_value"] in (None, -1) else c["default_value"]  # TF: None = "-1 / OOV"
        return fc.categorical_column_with_vocabulary_file(
            c["key"],
            path,
            vocabulary_size=c["vocabulary_size"],
            dtype=tf.dtypes.as_dtype(c["dtype"]),
            default_value=default,
            num_oov_buckets=c["num_oov_buckets"],
            file_format=c.get("file_format"),
        )
    if kind == "IdentityCategoricalColumn":
        return fc.categorical_column_with_identity(
            c["key"], num_buckets=c["number_buckets"], default_value=c["default_value"]
        )
    if kind == "WeightedCategoricalColumn":
        return fc.weighted_categorical_column(
            tf_column(c["categorical_column"], export_dir),
            c["weight_feature_key"],
            tf.dtypes.as_dtype(c["dtype"]),
        )
    if kind == "CrossedColumn":
        keys = [k if isinstance(k, str) else tf_column(k, export_dir) for k in c["keys"]]
        return fc.crossed_column(keys, c["hash_bucket_size"], c["hash_key"])
    if kind == "IndicatorColumn":
        return fc.indicator_column(tf_column(c["categorical_column"], export_dir))
    if kind in ("EmbeddingColumn", "SharedEmbeddingColumn"):
        return tf_column(c["categorical_column"], export_dir)  # the lookup itself is done in DenseFeaturesTF
    raise BridgeError(
        f"column type {kind!r} is not supported by the TF bridge; supported: "
        f"{sorted(CATEGORICAL_TYPES | DENSE_TYPES)}."
    )


def column_name(spec: Mapping[str, Any]) -> str:
    """torchestimator's (= TF's) name of a serialised column."""
    kind, c = spec["type"], spec["config"]
    if kind == "BucketizedColumn":
        return f"{column_name(c['source_column'])}_bucketized"
    if kind == "WeightedCategoricalColumn":
        return f"{column_name(c['categorical_column'])}_weighted_by_{c['weight_feature_key']}"
    if kind == "CrossedColumn":
        return "_X_".join(sorted(k if isinstance(k, str) else column_name(k) for k in c["keys"]))
    suffix = {
        "IndicatorColumn": "_indicator",
        "EmbeddingColumn": "_embedding",
        "SharedEmbeddingColumn": "_shared_embedding",
    }
    if kind in suffix:
        return column_name(c["categorical_column"]) + suffix[kind]
    return str(c["key"])


def _flat_sparse(pair: Any) -> tuple[Any, Any]:
    """Ids (and weights) reshaped to rank 2 ``(B, -1)``, as TF's linear model does."""
    import tensorflow as tf

    ids, weights = pair.id_tensor, pair.weight_tensor
    shape = [tf.shape(ids, out_type=tf.int64)[0], -1]
    ids = tf.sparse.reshape(ids, shape)
    return ids, None if weights is None else tf.sparse.reshape(weights, shape)


class DenseFeaturesTF:
    """torchestimator's ``DenseFeatures`` in TF: columns in name order -> ``(B, D)``.

    Embedding tables come out of the fused ``embedding_tables.<group>.weight`` rows (same grouping as
    ``DenseFeatures``: one group per (dimension, trainable, max_norm), tables in order of first use).
    """

    def __init__(
        self, columns: list[dict[str, Any]], prefix: str, weights: Mapping[str, np.ndarray], export_dir: str
    ) -> None:
        import tensorflow as tf

        self.items: list[tuple[dict[str, Any], Any]] = [(s, tf_column(s, export_dir)) for s in columns]
        self.tables: dict[str, Any] = {}
        groups: dict[tuple[int, bool, Any], list[Any]] = {}  # key -> [name, next row, {table: start}]
        for spec, tfc in self.items:
            if spec["type"] not in DENSE_TYPES:
                raise BridgeError(
                    f"DenseFeatures column {column_name(spec)!r} ({spec['type']}) is not a dense column."
                )
            if spec["type"] not in ("EmbeddingColumn", "SharedEmbeddingColumn"):
                continue
            c = spec["config"]
            gk = (int(c["dimension"]), bool(c["trainable"]), c["max_norm"])
            if gk not in groups:
                name = f"dim{gk[0]}" + ("" if gk[1] else "_frozen")
                if gk[2] is not None:
                    name += f"_maxnorm{sum(1 for k in groups if k[2] is not None)}"
                groups[gk] = [name, 0, {}]
            group = groups[gk]
            table = c.get("shared_embedding_collection_name") or column_name(spec)
            if table not in group[2]:
                group[2][table] = group[1]
                group[1] += tfc.num_buckets
            key = f"{prefix}embedding_tables.{group[0]}.weight"
            if key not in weights:
                raise BridgeError(
                    f"weights {key!r} for embedding column {column_name(spec)!r} are missing from the export."
                )
            start = group[2][table]
            rows = weights[key][start : start + tfc.num_buckets]  # (num_buckets, dimension)
            if table not in self.tables:
                self.tables[table] = tf.Variable(rows, trainable=False, name=f"{table}/embedding_weights")

    def __call__(self, cache: Any, state: Any) -> Any:
        """``(B, D)`` float32 from a ``FeatureTransformationCache``."""
        import tensorflow as tf

        parts = []
        for spec, tfc in self.items:
            if spec["type"] in ("EmbeddingColumn", "SharedEmbeddingColumn"):
                c = spec["config"]
                ids, weights = _flat_sparse(tfc.get_sparse_tensors(cache, state))
                table = self.tables[c.get("shared_embedding_collection_name") or column_name(spec)]
                out = tf.nn.safe_embedding_lookup_sparse(
                    table, ids, weights, combiner=c["combiner"], max_norm=c["max_norm"]
                )
            else:
                out = tfc.get_dense_tensor(cache, state)
            parts.append(tf.reshape(tf.cast(out, tf.float32), [tf.shape(out)[0], -1]))  # (B, d)
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)  # (B, D)


class LinearModelTF:
    """torchestimator's ``LinearModel`` in TF: ``Σ safe_embedding_lookup_sparse(W_c) + dense @ kernel + bias``."""

    def __init__(
        self,
        entry: dict[str, Any],
        nested: dict[str, Any] | None,
        prefix: str,
        weights: Mapping[str, np.ndarray],
        export_dir: str,
        combiner: str | None,
    ) -> None:
        import tensorflow as tf

        bias = weights[f"{prefix}bias"]
        self.units = int(bias.shape[0])
        self.combiner = combiner or self._combiner_from_digest(entry, self.units) or "sum"
        self.sparse: list[tuple[Any, Any]] = []
        row = 0
        table = weights.get(f"{prefix}sparse_weights.weight")  # (total_buckets, units)
        for spec in entry["columns"]:
            if spec["type"] in CATEGORICAL_TYPES or spec["type"] == "BucketizedColumn":
                tfc = tf_column(spec, export_dir)
                rows = table[row : row + tfc.num_buckets]  # type: ignore[index]
                self.sparse.append(
                    (tfc, tf.Variable(rows, trainable=False, name=f"{column_name(spec)}/weights"))
                )
                row += tfc.num_buckets
            elif spec["type"] not in DENSE_TYPES:
                tf_column(spec, export_dir)  # raises the unsupported-column error
        self.dense = None
        self.kernel = None
        if nested is not None:
            self.dense = DenseFeaturesTF(nested["columns"], f"{prefix}dense_features.", weights, export_dir)
            self.kernel = tf.Variable(weights[f"{prefix}dense_kernel"], trainable=False, name="dense_kernel")
        self.bias = tf.Variable(bias, trainable=False, name="bias_weights")

    @staticmethod
    def _combiner_from_digest(entry: Mapping[str, Any], units: int) -> str | None:
        """The layer's ``sparse_combiner``: the one whose column-state digest is the layer's key prefix."""
        digest = str(entry.get("key_prefix", "")).rsplit("/", 1)[-1]
        for combiner in ("sum", "mean", "sqrtn"):
            config = {"units": units, "sparse_combiner": combiner}
            if layer_digest("LinearModel", config, entry["columns"]) == digest:
                return combiner
        return None  # e.g. vocabulary file paths were rewritten by the export: the caller's default

    def __call__(self, cache: Any, state: Any) -> Any:
        """Logits ``(B, units)``."""
        import tensorflow as tf

        total = None
        for tfc, var in self.sparse:
            ids, weights = _flat_sparse(tfc.get_sparse_tensors(cache, state))
            part = tf.nn.safe_embedding_lookup_sparse(var, ids, weights, combiner=self.combiner)  # (B, units)
            total = part if total is None else total + part
        if self.dense is not None:
            part = tf.matmul(self.dense(cache, state), self.kernel)  # (B, units)
            total = part if total is None else total + part
        return total + self.bias  # (B, units)


# ---- tower and head --------------------------------------------------------------------------------------


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
