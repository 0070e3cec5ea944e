"""Pictures of a model_dir: training / eval curves, a linear model's feature weights, a DNN's column importance.

``torchestimator plot MODEL_DIR [--out DIR]`` (or :func:`plot_model_dir`) writes PNGs with matplotlib (the
``[plot]`` extra), reading only what the model_dir holds: the event files and the latest checkpoint's tensors and
column specs (no model code, nothing unpickled):

- ``curves.png``: every train scalar (``loss``, ``global_step/sec``, canned summaries) and every eval metric by
  global step, train and each ``eval*/`` directory on the same axes where they share a tag;
- ``linear_weights.png`` (a checkpoint with a ``LinearModel``): the ``top`` weights by magnitude, labelled
  ``column=value`` for vocabulary columns and ``column[i]`` otherwise (first logit unit);
- ``dnn_column_importance.png`` (a checkpoint with a DNN's input layer): for each input column, the norm of the
  first hidden layer's kernel over the inputs that column feeds, a common first look at what the network uses.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from torchestimator import checkpoint as ckpt_lib
from torchestimator.errors import CheckpointNotFoundError, InvalidArgumentError, TorchEstimatorError
from torchestimator.optional import import_optional
from torchestimator.summaries import read_scalars

__all__ = ["dnn_column_importance", "linear_weights", "plot_curves", "plot_model_dir", "plot_weights"]

_EXTRA = "._extra_state"
logger = logging.getLogger(__name__)


def _pyplot() -> Any:
    matplotlib = import_optional("matplotlib", extra="plot", purpose="torchestimator plot")
    matplotlib.use("Agg")  # files only: never opens a window, works headless
    return import_optional("matplotlib.pyplot", extra="plot", purpose="torchestimator plot")


def plot_curves(model_dir: str, out_path: str) -> str | None:
    """Train and eval scalars by step in one figure; returns the PNG path, or None without event files."""
    runs = {"train": read_scalars(model_dir)}
    for eval_dir in sorted(glob.glob(os.path.join(model_dir, "eval*"))):
        if os.path.isdir(eval_dir):
            runs[os.path.basename(eval_dir)] = read_scalars(eval_dir)
    tags = sorted({tag for scalars in runs.values() for tag in scalars})
    if not tags:
        return None
    plt = _pyplot()
    cols = min(3, len(tags))
    rows = (len(tags) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax, tag in zip(axes.flat, tags):
        for run, scalars in runs.items():
            if tag in scalars:
                steps, values = zip(*scalars[tag])
                ax.plot(steps, values, marker="." if len(steps) < 30 else None, label=run)
        ax.set_title(tag)
        ax.set_xlabel("global step")
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(tags) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


def _layers(checkpoint: str) -> list[tuple[str, Any, dict[str, torch.Tensor]]]:
    """The column layers stored in a checkpoint: (name prefix, rebuilt layer, its tensors)."""
    from torchestimator.columns import DenseFeatures, LinearModel
    from torchestimator.columns.serialization import deserialize_column

    state = ckpt_lib.load_model_state(checkpoint)
    found = []
    for key, value in state.items():
        if not key.endswith(_EXTRA) or not isinstance(value, Mapping):
            continue
        prefix = key[: -len(_EXTRA)]
        kind = value.get("layer")
        if kind not in ("LinearModel", "DenseFeatures"):
            continue
        try:
            columns = [deserialize_column(c) for c in value.get("columns", [])]
        except TorchEstimatorError as err:  # e.g. a normalizer_fn that is never imported from disk
            logger.warning("plot: skipping the column layer %r of %s: %s", prefix, checkpoint, err)
            continue
        layer = (
            LinearModel(columns, **value.get("config", {}))
            if kind == "LinearModel"
            else DenseFeatures(columns)
        )
        tensors = {
            k[len(prefix) + 1 :]: v
            for k, v in state.items()
            if k.startswith(prefix + ".") and isinstance(v, torch.Tensor)
        }
        layer.load_state_dict(tensors, strict=False)
        found.append((prefix, layer, state))
    return found


def _bucket_labels(column: Any) -> list[str]:
    vocabulary = getattr(column, "vocabulary_list", None)
    n = int(column.num_buckets)
    if vocabulary:
        names = [f"{column.name}={v}" for v in vocabulary]
        return names + [f"{column.name}[oov {i}]" for i in range(n - len(names))]
    return [f"{column.name}[{i}]" for i in range(n)]


def _linear_weights(layer: Any) -> tuple[list[str], np.ndarray]:
    labels: list[str] = []
    values: list[np.ndarray] = []
    from torchestimator.columns.base import CategoricalColumn

    for col in layer.feature_columns:
        if layer.sparse_weights is not None and isinstance(col, CategoricalColumn):
            start, rows = layer.column_rows(col.name)
            labels += _bucket_labels(col)[:rows]
            values.append(layer.sparse_weights.weight[start : start + rows, 0].detach().numpy())
    if layer.dense_features is not None and layer.dense_kernel is not None:
        for name, where in layer.dense_features.output_slices().items():
            width = where.stop - where.start
            labels += [name] if width == 1 else [f"{name}[{i}]" for i in range(width)]
            values.append(layer.dense_kernel[where, 0].detach().numpy())
    return labels, (np.concatenate(values) if values else np.zeros(0, np.float32))


def _barh(labels: list[str], values: np.ndarray, title: str, xlabel: str, out_path: str, top: int) -> str:
    order = np.argsort(-np.abs(values))[:top][::-1]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(order) + 1.2))
    ax.barh(
        [labels[i] for i in order],
        values[order],
        color=["tab:red" if values[i] < 0 else "tab:blue" for i in order],
    )
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


def linear_weights(checkpoint: str) -> dict[str, dict[str, float]]:
    """Per LinearModel in the checkpoint (by name prefix): ``{label: weight of unit 0}`` for every weight."""
    out: dict[str, dict[str, float]] = {}
    for prefix, layer, _ in _layers(checkpoint):
        if type(layer).__name__ == "LinearModel":
            labels, values = _linear_weights(layer)
            out[prefix] = dict(zip(labels, values.tolist()))
    return out


def dnn_column_importance(checkpoint: str) -> dict[str, dict[str, float]]:
    """Per canned DNN input layer: ``{column: ‖first hidden kernel over the column's inputs‖}``."""
    out: dict[str, dict[str, float]] = {}
    for prefix, layer, state in _layers(checkpoint):
        if type(layer).__name__ != "DenseFeatures":
            continue
        parent = prefix.rsplit(".", 1)[0] if "." in prefix else ""
        kernel = state.get(
            f"{parent}.tower.hidden_layers.0.weight" if parent else "tower.hidden_layers.0.weight"
        )
        if not isinstance(kernel, torch.Tensor) or kernel.shape[1] != layer.output_dim:
            continue  # a DenseFeatures that does not feed a canned DNN tower
        out[parent or "dnn"] = {name: float(kernel[:, s].norm()) for name, s in layer.output_slices().items()}
    return out


def plot_weights(checkpoint: str, out_dir: str, top: int = 20) -> list[str]:
    """Linear weights and DNN first-layer column importance from one checkpoint; returns the PNG paths."""
    written = []
    for prefix, table in linear_weights(checkpoint).items():
        if table:
            name = "linear_weights.png" if "." not in prefix else f"{prefix.replace('.', '_')}_weights.png"
            title = f"{prefix}: top {min(top, len(table))} weights"
            written.append(
                _barh(
                    list(table),
                    np.array(list(table.values())),
                    title,
                    "weight (unit 0)",
                    os.path.join(out_dir, name),
                    top,
                )
            )
    for parent, table in dnn_column_importance(checkpoint).items():
        written.append(
            _barh(
                list(table),
                np.array(list(table.values())),
                f"{parent}: first-layer column importance",
                "norm of the first hidden kernel over the column's inputs",
                os.path.join(out_dir, "dnn_column_importance.png"),
                top,
            )
        )
    return written


def plot_model_dir(model_dir: str, out_dir: str | None = None, top: int = 20) -> list[str]:
    """Write every picture the model_dir supports (see the module docstring); returns the PNG paths.

    Raises:
        InvalidArgumentError: ``model_dir`` is not a directory.
        MissingDependencyError: matplotlib is not installed (``pip install 'torchestimator[plot]'``).
    """
    if not os.path.isdir(model_dir):
        raise InvalidArgumentError(f"plot: model_dir {model_dir!r} is not a directory.")
    out_dir = out_dir or os.path.join(model_dir, "plots")
    os.makedirs(out_dir, exist_ok=True)
    written = [p for p in [plot_curves(model_dir, os.path.join(out_dir, "curves.png"))] if p]
    latest = ckpt_lib.latest_checkpoint(model_dir)
    if latest is not None:
        written += plot_weights(latest, out_dir, top)
    if not written:
        raise CheckpointNotFoundError(
            f"plot: {model_dir!r} has neither event files nor a checkpoint to draw."
        )
    with open(os.path.join(out_dir, "index.json"), "w") as fh:
        json.dump(
            {"model_dir": model_dir, "checkpoint": latest, "files": [os.path.basename(p) for p in written]},
            fh,
        )
    return written
