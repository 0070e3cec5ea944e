"""The export's column layers rebuilt with TensorFlow's own feature columns (part of the TF bridge).

Runs in the TensorFlow venv next to ``build.py`` (imported as its sibling there; no torch, no
torchestimator): reading the export, TF feature columns from the serialized column specs, and
torchestimator's ``DenseFeatures`` / ``LinearModel`` computed with TF ops from the exported weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

try:  # the TF venv: the column contract is this file's sibling
    from column_contract import layer_digest
except ImportError:  # imported from the torch side
    from torchestimator.tf_bridge.column_contract import layer_digest

__all__ = [
    "CATEGORICAL_TYPES",
    "DENSE_TYPES",
    "BridgeError",
    "DenseFeaturesTF",
    "LinearModelTF",
    "column_name",
    "export_asset",
    "read_export",
    "tf_column",
]

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
    """TF's own feature column for one serialised torchestimator column (by type, from :data:`_TF_COLUMNS`).

    Raises:
        BridgeError: an unsupported column type or setting.
    """
    import tensorflow as tf

    build = _TF_COLUMNS.get(spec["type"])
    if build is None:
        raise BridgeError(
            f"column type {spec['type']!r} is not supported by the TF bridge; supported: {sorted(_TF_COLUMNS)}."
        )
    return build(tf, tf.feature_column, spec, export_dir)


def _numeric(tf: Any, fc: Any, spec: Mapping[str, Any], export_dir: str) -> Any:
    c = spec["config"]
    if c.get("normalizer_fn") is not None:
        raise BridgeError(
            f"numeric_column {c['key']!r} has normalizer_fn {c['normalizer_fn']}: torch code cannot run in "
            "TensorFlow; normalise the feature in the input pipeline or drop normalizer_fn."
        )
    return fc.numeric_column(c["key"], tuple(c["shape"]), c["default_value"], tf.dtypes.as_dtype(c["dtype"]))


def _vocabulary_file(tf: Any, fc: Any, spec: Mapping[str, Any], export_dir: str) -> Any:
    c = spec["config"]
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


def _crossed(tf: Any, fc: Any, spec: Mapping[str, Any], export_dir: str) -> Any:
    c = spec["config"]
    keys = [k if isinstance(k, str) else tf_column(k, export_dir) for k in c["keys"]]
    return fc.crossed_column(keys, c["hash_bucket_size"], c["hash_key"])


def _inner(spec: Mapping[str, Any], export_dir: str, field: str = "categorical_column") -> Any:
    return tf_column(spec["config"][field], export_dir)


# serialised column type -> (tf, tf.feature_column, spec, export_dir) -> TF's feature column
_TF_COLUMNS: dict[str, Callable[[Any, Any, Mapping[str, Any], str], Any]] = {
    "NumericColumn": _numeric,
    "BucketizedColumn": lambda tf, fc, s, d: fc.bucketized_column(
        _inner(s, d, "source_column"), [float(b) for b in s["config"]["boundaries"]]
    ),
    "HashedCategoricalColumn": lambda tf, fc, s, d: fc.categorical_column_with_hash_bucket(
        s["config"]["key"], s["config"]["hash_bucket_size"], tf.dtypes.as_dtype(s["config"]["dtype"])
    ),
    "VocabularyListCategoricalColumn": lambda tf, fc, s, d: fc.categorical_column_with_vocabulary_list(
        s["config"]["key"],
        s["config"]["vocabulary_list"],
        tf.dtypes.as_dtype(s["config"]["dtype"]),
        s["config"]["default_value"],
        s["config"]["num_oov_buckets"],
    ),
    "VocabularyFileCategoricalColumn": _vocabulary_file,
    "IdentityCategoricalColumn": lambda tf, fc, s, d: fc.categorical_column_with_identity(
        s["config"]["key"],
        num_buckets=s["config"]["number_buckets"],
        default_value=s["config"]["default_value"],
    ),
    "WeightedCategoricalColumn": lambda tf, fc, s, d: fc.weighted_categorical_column(
        _inner(s, d), s["config"]["weight_feature_key"], tf.dtypes.as_dtype(s["config"]["dtype"])
    ),
    "CrossedColumn": _crossed,
    "IndicatorColumn": lambda tf, fc, s, d: fc.indicator_column(_inner(s, d)),
    # the embedding lookup itself is done in DenseFeaturesTF
    "EmbeddingColumn": lambda tf, fc, s, d: _inner(s, d),
    "SharedEmbeddingColumn": lambda tf, fc, s, d: _inner(s, d),
}


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
