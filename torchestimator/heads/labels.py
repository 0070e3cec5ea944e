"""Host-side label and weight handling shared by the heads.

Labels come from ``input_fn`` as torch tensors, numpy arrays or lists; with a ``label_vocabulary``
they are strings (``str`` or ``bytes``), which never reach the device: they are mapped to ids on the
host with one dict lookup per *distinct* value, then moved to the logits' device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from torchestimator.batch_checks import describe_bad_weights
from torchestimator.errors import FeatureError, InputError, InvalidArgumentError, did_you_mean

__all__ = [
    "as_float_logits",
    "check_label_structure",
    "is_string_labels",
    "label_ids_from_vocabulary",
    "reshape_labels_like_logits",
    "to_label_tensor",
    "weights_from_features",
]


def as_float_logits(logits: torch.Tensor, logits_dimension: int) -> torch.Tensor:
    """Validate ``logits`` as ``[D0, ..., DN, logits_dimension]`` and upcast half precision to float32.

    Raises:
        InvalidArgumentError: rank < 2 or a wrong last dimension.
    """
    if not isinstance(logits, torch.Tensor):
        logits = torch.as_tensor(np.asarray(logits), dtype=torch.float32)
    if logits.dim() < 2:
        raise InvalidArgumentError(
            f"logits must have rank at least 2 ([batch, {logits_dimension}]); received shape {list(logits.shape)}."
        )
    if logits.shape[-1] != logits_dimension:
        raise InvalidArgumentError(
            f"logits shape must be [D0, ..., DN, logits_dimension={logits_dimension}]; received "
            f"{list(logits.shape)}. Check the size of the model's last layer."
        )
    if logits.dtype in (torch.float16, torch.bfloat16) or not logits.is_floating_point():
        logits = logits.float()
    return logits


def check_label_structure(labels: Any, head: str, expected: str) -> None:
    """Refuse labels that are not one array-like (a dict, ragged rows, a list of objects).

    Args:
        labels: the batch's labels.
        head: the head, as named in the message (e.g. ``"BinaryClassHead"``).
        expected: what the head expects, e.g. ``"a tensor or array of shape [batch] or [batch, 1]"``.

    Raises:
        InvalidArgumentError: naming the head, what it expected and what it received.
    """
    if isinstance(labels, Mapping):
        raise InvalidArgumentError(
            f"{head} expects labels as {expected}; received a dict with keys {sorted(map(str, labels))}. "
            "Yield the head's label from the input_fn (e.g. `return features, labels['y']`), or use a "
            "MultiHead with one named head per key."
        )
    if isinstance(labels, (list, tuple)):
        try:
            arr = np.asarray(labels)
        except ValueError:
            arr = None
        if arr is None or (arr.dtype.kind == "O" and not is_string_labels(arr)):
            lengths = sorted({len(r) for r in labels if isinstance(r, (list, tuple, np.ndarray))})
            what = (
                f"rows of lengths {lengths[:5]}" if len(lengths) > 1 else f"{type(labels[0]).__name__} items"
            )
            raise InvalidArgumentError(
                f"{head} expects labels as {expected}; received a {type(labels).__name__} of {what}. "
                "Stack them into one numeric array with a batch dimension."
            )
    elif isinstance(labels, np.ndarray) and labels.dtype.kind == "O" and not is_string_labels(labels):
        sample = type(labels.reshape(-1)[0]).__name__ if labels.size else "object"
        raise InvalidArgumentError(
            f"{head} expects labels as {expected}; received a numpy object array of {sample}. Convert "
            "it to one numeric array (e.g. np.stack)."
        )


def is_string_labels(labels: Any) -> bool:
    """Whether ``labels`` hold strings (str or bytes)."""
    if isinstance(labels, torch.Tensor):
        return False
    arr = labels if isinstance(labels, np.ndarray) else np.asarray(labels, dtype=object)
    if arr.dtype.kind in "SU":
        return True
    if arr.dtype.kind == "O" and arr.size:
        return isinstance(arr.reshape(-1)[0], (str, bytes))
    return False


def _as_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def label_ids_from_vocabulary(labels: Any, vocabulary: Sequence[str], device: torch.device) -> torch.Tensor:
    """Map string labels to their index in ``vocabulary`` (int64 tensor on ``device``, same shape).

    Args:
        labels: str / bytes values (numpy array, list, nested list).
        vocabulary: the class names, in class-id order.
        device: where the ids go.

    Returns:
        int64 tensor of ids.

    Raises:
        InputError: labels are not strings, or a label is not in the vocabulary.
    """
    if not is_string_labels(labels):
        raise InputError(
            "labels must be strings (str or bytes) when label_vocabulary is set; received "
            f"{type(labels).__name__} of dtype {getattr(labels, 'dtype', type(labels))}. Either pass string "
            "labels or drop label_vocabulary and pass integer class ids."
        )
    arr = np.asarray(labels)
    if arr.dtype.kind == "O":
        arr = np.asarray([_as_text(v) for v in arr.reshape(-1)], dtype=str).reshape(arr.shape)
    elif arr.dtype.kind == "S":
        arr = np.char.decode(arr, "utf-8")
    uniques, inverse = np.unique(arr, return_inverse=True)
    index = {_as_text(v): i for i, v in enumerate(vocabulary)}
    unique_ids = np.empty(len(uniques), dtype=np.int64)
    for j, value in enumerate(uniques.tolist()):
        if value not in index:
            raise InputError(
                f"label {value!r} is not in label_vocabulary {list(index)}{did_you_mean(value, index)}. "
                "Fix the label data or add the class to label_vocabulary."
            )
        unique_ids[j] = index[value]
    ids = unique_ids[inverse.reshape(-1)].reshape(arr.shape)
    return torch.from_numpy(ids).to(device)


def to_label_tensor(labels: Any, device: torch.device) -> torch.Tensor:
    """Numeric labels (tensor / numpy / list) as a tensor on ``device``.

    Raises:
        InputError: ``labels`` is None, or holds strings (a ``label_vocabulary`` is needed).
    """
    if labels is None:
        raise InputError(
            "labels must not be None in TRAIN and EVAL; the input_fn must yield (features, labels)."
        )
    if isinstance(labels, torch.Tensor):
        return labels.to(device, non_blocking=True)
    if is_string_labels(labels):
        sample = np.asarray(labels, dtype=object).reshape(-1)[:3].tolist()
        raise InputError(
            f"received string labels (e.g. {sample}) but the head has no label_vocabulary; pass "
            "label_vocabulary=[...] listing the class names, or give integer class ids."
        )
    return torch.as_tensor(np.asarray(labels), device=device)


def reshape_labels_like_logits(
    labels: torch.Tensor, logits: torch.Tensor, label_dimension: int, head: str = "the head"
) -> torch.Tensor:
    """Return labels as ``logits.shape[:-1] + (label_dimension,)``, expanding ``[B]`` to ``[B, 1]``.

    Raises:
        InvalidArgumentError: the labels' shape (rank, label dimension or batch size) does not match,
            naming ``head`` (TF's ``check_dense_labels_match_logits_and_reshape`` raises ValueError).
    """
    given = list(labels.shape)
    if labels.dim() == logits.dim() - 1 and label_dimension == 1:
        labels = labels.unsqueeze(-1)
    expected = (*logits.shape[:-1], label_dimension)
    if tuple(labels.shape) != expected:
        also = f" (or {list(expected[:-1])})" if label_dimension == 1 else ""
        raise InvalidArgumentError(
            f"{head} expects labels of shape {list(expected)}{also} to match logits {list(logits.shape)}; "
            f"received labels of shape {given}. Check the labels' rank and batch size in the input_fn."
        )
    return labels


def weights_from_features(
    features: Mapping[str, Any] | None,
    weight_column: Any,
    logits: torch.Tensor,
    allow_per_logit_weights: bool = False,
) -> torch.Tensor | None:
    """Example weights from ``features[weight_column]`` as float32 ``[..., 1]`` (or ``[..., dim]``).

    Args:
        features: the batch's feature dict.
        weight_column: ``None``, a feature key, or an object with ``.key`` and an optional
            ``.normalizer_fn`` (a numeric column).
        logits: the batch's logits (for the shape and device).
        allow_per_logit_weights: accept ``[..., logits_dimension]`` weights (regression heads).

    Returns:
        ``None`` when there is no weight column, else the weights tensor.

    Raises:
        FeatureError: the weight feature is missing, not numeric, or has the wrong shape.
        InvalidArgumentError: ``weight_column`` is neither a str nor a column with ``.key``, or a
            weight (after ``normalizer_fn``) is negative or NaN. The value check runs on CPU weights
            only (on an accelerator it would sync every step; the host stage checks raw weights).
    """
    if weight_column is None:
        return None
    if isinstance(weight_column, str):
        key, normalizer = weight_column, None
    elif hasattr(weight_column, "key"):
        key, normalizer = weight_column.key, getattr(weight_column, "normalizer_fn", None)
    else:
        raise InvalidArgumentError(
            "weight_column must be a feature key (str) or a numeric column with `.key`; received "
            f"{type(weight_column).__name__}."
        )
    if features is None or key not in features:
        names = list(features or {})
        raise FeatureError(
            f"weight_column {key!r} is not in the features {sorted(names)}{did_you_mean(key, names)}. "
            "The input_fn must yield the weight as a feature."
        )
    raw = features[key]
    weights = raw if isinstance(raw, torch.Tensor) else torch.as_tensor(np.asarray(raw))
    if not (
        weights.is_floating_point() or weights.dtype in (torch.int8, torch.int16, torch.int32, torch.int64)
    ):
        raise FeatureError(f"weight feature {key!r} must be numeric; received dtype {weights.dtype}.")
    weights = weights.to(logits.device, torch.float32)
    if normalizer is not None:
        weights = normalizer(weights)
    problem = describe_bad_weights(weights)
    if problem:
        raise InvalidArgumentError(
            f"weight_column {key!r} has {problem} in a batch of {weights.shape[0] if weights.dim() else 1} "
            "examples; weights must be >= 0 and not NaN (TF would silently report a weighted metric "
            "outside its range, e.g. accuracy 2.0). Fix the weight data or the column's normalizer_fn."
        )
    if weights.dim() == logits.dim() - 1:
        weights = weights.unsqueeze(-1)
    per_example = (*logits.shape[:-1], 1)
    allowed = [per_example] + ([tuple(logits.shape)] if allow_per_logit_weights else [])
    if tuple(weights.shape) not in allowed:
        raise FeatureError(
            f"weight feature {key!r} must have shape {[list(s) for s in allowed]} for logits "
            f"{list(logits.shape)}; received {list(weights.shape)}."
        )
    return weights
