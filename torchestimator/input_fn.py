"""Calling an ``input_fn`` and turning what it returns into batches on the device.

The contract (tf.estimator's, minus the graph): ``input_fn`` takes any of ``mode``, ``params``,
``config``, ``input_context`` by name and returns

* an iterable of batches — a generator, list, ``DataLoader``, ``IterableDataset``, or one of
  torchestimator's CSV / TFRecord readers — where each batch is ``(features, labels)`` or
  ``features``; or
* a single batch ``(features, labels)`` / ``features``, which TRAIN repeats every step (as TF does
  with constant tensors) and EVAL / PREDICT use once.

``features`` is a dict of numpy arrays, tensors, lists (of numbers or strings) or ``Ragged`` values,
or a single tensor / array. Host stage per batch: numbers become CPU tensors, strings stay on the
host, the model's feature-column transform (if any) runs; then tensors move to the device.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from torchestimator.batch_checks import check_batch
from torchestimator.closing import close_iterator
from torchestimator.columns.inputs import as_host_tensor
from torchestimator.errors import FeatureError, InputError, InvalidArgumentError
from torchestimator.spec import ModeKeys

__all__ = ["Batch", "call_input_fn", "host_batches", "to_device"]

Batch = tuple[Any, Any]  # (features, labels or None)
_INPUT_FN_ARGS = ("mode", "params", "config", "input_context")


def _is_batch_value(x: Any) -> bool:
    return isinstance(x, (Mapping, torch.Tensor, np.ndarray))


def _as_single_batch(result: Any) -> Batch | None:
    if isinstance(result, tuple) and len(result) == 2 and _is_batch_value(result[0]):
        return result[0], result[1]
    if _is_batch_value(result):
        return result, None
    return None


def call_input_fn(input_fn: Callable[..., Any], mode: str, **available: Any) -> Iterator[Batch]:
    """Call ``input_fn`` with the arguments it names and iterate ``(features, labels)`` batches.

    Raises:
        InvalidArgumentError: ``input_fn`` is not callable or takes an argument we cannot supply.
        InputError: it returned something that is not batches.
    """
    if not callable(input_fn):
        raise InvalidArgumentError(f"input_fn must be callable; received {type(input_fn).__name__}.")
    available = {"mode": mode, **available}
    try:
        sig = inspect.signature(input_fn)
    except (TypeError, ValueError):
        sig = None
    kwargs: dict[str, Any] = {}
    if sig is not None:
        for name, p in sig.parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if name in _INPUT_FN_ARGS:
                kwargs[name] = available.get(name)
            elif p.default is p.empty:
                raise InvalidArgumentError(
                    f"input_fn has a required argument {name!r} that the Estimator cannot supply; it may take "
                    f"only {list(_INPUT_FN_ARGS)} (bind others with functools.partial or a lambda)."
                )
    result = input_fn(**kwargs)
    if "input_context" not in kwargs:  # TF's strategies shard a dataset the input_fn did not shard itself
        from torchestimator.data.experimental import auto_shard

        result = auto_shard(result, available.get("input_context"))
    single = _as_single_batch(result)
    if single is not None:
        return itertools.repeat(single) if mode == ModeKeys.TRAIN else iter([single])
    if isinstance(result, (str, bytes)) or not isinstance(result, Iterable):
        raise InputError(
            "input_fn must return an iterable of batches ((features, labels) or features) or a single batch; "
            f"received {type(result).__name__}."
        )
    it = iter(result)
    # ours to close when the loop stops early: an iterator made here (a dataset's: its prefetch thread, files)
    # or a generator the input_fn made by being a generator function; never an iterator the caller may share
    # across calls (``lambda: shared_iterator``), which is left as it is
    owned = it is not result or (inspect.isgenerator(result) and inspect.isgeneratorfunction(input_fn))
    return _checked(it, owned)


def _checked(it: Iterator[Any], owned: bool) -> Iterator[Batch]:
    try:
        for i, element in enumerate(it):
            batch = _as_single_batch(element)
            if batch is None and isinstance(element, list) and 1 <= len(element) <= 2:
                # torch.utils.data default collation turns (features, labels) samples into a list:
                # [dict of tensors, labels] for dict samples, [x, y] / [x] for a TensorDataset
                batch = _as_single_batch(tuple(element) if len(element) == 2 else element[0])
            if batch is None:
                raise InputError(
                    f"input_fn's iterable yielded {type(element).__name__} as batch {i}; each batch must be "
                    "(features, labels) or features, where features is a dict of arrays/tensors, a tensor or "
                    "an array."
                )
            yield batch
    finally:  # closed early: close the input_fn's iterator too when it is ours (see call_input_fn)
        if owned:
            close_iterator(it)


def _to_host_tensor(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return as_host_tensor(value)
        return value  # strings / objects stay on the host
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, (int, float, bool, np.number)) for v in value)
    ):
        return torch.as_tensor(np.asarray(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.as_tensor(value)
    return value


def host_batches(
    batches: Iterator[Batch],
    transform: Callable[[Mapping[str, Any]], dict[str, Any]] | None,
    weight_keys: Collection[str] = (),
) -> Iterator[Batch]:
    """Host stage: check the batch, then numbers to CPU tensors and the feature-column transform.

    Every batch is checked first (:func:`~torchestimator.batch_checks.check_batch`: sizes, NaN labels /
    weights / features, negative weights), so bad input fails at its batch, named; strings never
    leave the host.

    Args:
        batches: ``(features, labels)`` batches from :func:`call_input_fn`.
        transform: the model's column transform (``find_host_transform``), or None.
        weight_keys: features that are a head's ``weight_column`` (see ``heads.find_weight_keys``).

    Raises:
        InputError, FeatureError, InvalidArgumentError: a bad batch; the message names its index.
    """
    nan_exempt: Collection[str] = getattr(transform, "nan_exempt_keys", ())
    try:
        for index, (features, labels) in enumerate(batches):
            check_batch(features, labels, index, weight_keys, nan_exempt)
            if isinstance(features, Mapping):
                if transform is not None:
                    features = _transformed(transform, features, index)
                features = {k: _to_host_tensor(v) for k, v in features.items()}
            else:
                features = _to_host_tensor(features)
            if isinstance(labels, Mapping):
                labels = {k: _to_host_tensor(v) for k, v in labels.items()}
            elif labels is not None:
                labels = _to_host_tensor(labels)
            yield features, labels
    finally:  # stopped early (steps reached, an error): the input's reader threads and files close now
        close_iterator(batches)


def _transformed(
    transform: Callable[[Mapping[str, Any]], dict[str, Any]], features: Mapping[str, Any], index: int
) -> dict[str, Any]:
    """``transform(features)``, with the batch index added to a column's input error."""
    try:
        return transform(features)
    except (FeatureError, InputError, InvalidArgumentError) as e:
        if type(e) not in (FeatureError, InputError, InvalidArgumentError):
            raise  # a subclass may take other constructor arguments: keep it as it is
        raise type(e)(f"batch {index}: {e}") from e


def to_device(value: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) batch to ``device``; other values are left as they are."""
    if isinstance(value, torch.Tensor):
        if value.device == device:
            return value
        return value.to(device, non_blocking=value.is_pinned())
    if isinstance(value, Mapping):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(to_device(v, device) for v in value)
    if isinstance(value, list):
        return [to_device(v, device) for v in value]
    return value
