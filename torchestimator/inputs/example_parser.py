""":class:`ExampleParser`: ``parse_example`` for one spec, with everything about the spec worked out once.

A server parses every request with the export's spec. ``parse_example`` interprets the spec per call
(checks, the vectorised decoder's plan lookup, the per-key builders); the parser settles it at
construction: the protobuf builders' plan (:mod:`~torchestimator.inputs.example_rows`) for small requests,
the vectorised decoder's plan (:mod:`~torchestimator.inputs.example_fast`) for batches, whose records are
joined once with the decoder's padding. Outputs and errors are ``parse_example``'s: anything unusual (an
input that is not a list of ``bytes``, a record the decoder declines) goes to the same reference code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from torchestimator.inputs import example_fast
from torchestimator.inputs.example_parsing import parse_example, parse_example_slow
from torchestimator.inputs.example_rows import rows_plan
from torchestimator.inputs.example_wire import plan_for

__all__ = ["ExampleParser"]


class ExampleParser:
    """``parse_example(serialized, features)`` for many batches of one spec.

    Args:
        features: the parse spec (as :func:`~torchestimator.inputs.parse_example` takes it).
        small_batch: batches of at most this many records go through the protobuf runtime (the
            vectorised decoder's fixed cost dominates there); a request of one Example always does.

    Example:
        >>> from torchestimator.inputs import encode_example
        >>> from torchestimator.parsing import FixedLenFeature
        >>> parser = ExampleParser({"x": FixedLenFeature([], "float32")})
        >>> parser([encode_example({"x": 1.0}), encode_example({"x": 2.0})])["x"]
        array([1., 2.], dtype=float32)
    """

    def __init__(self, features: Mapping[str, Any], small_batch: int = 16) -> None:
        self.features = features
        self.small_batch = small_batch
        planned = isinstance(features, Mapping) and bool(features) and example_fast.supports(features)
        self._rows = rows_plan(features) if planned else None
        self._plan = plan_for(features) if planned else None
        self._pad = bytes(example_fast.padding(self._plan)) if self._plan is not None else b""

    def __call__(self, serialized: Sequence[bytes] | np.ndarray) -> dict[str, Any]:
        """Parse a batch of serialized ``tf.train.Example``.

        Raises:
            InputError: as :func:`~torchestimator.inputs.parse_example`.
        """
        if isinstance(serialized, (bytes, bytearray)):  # one record: parse_example's error says so
            return parse_example(serialized, self.features)
        if len(serialized) <= self.small_batch:
            return parse_example_slow([bytes(r) for r in serialized], self.features, self._rows)
        if self._plan is None:
            return parse_example(serialized, self.features)
        records = serialized.tolist() if isinstance(serialized, np.ndarray) else serialized
        try:
            span = b"".join([*records, self._pad])
            lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
        except TypeError:  # not bytes: parse_example names what it received
            return parse_example(serialized, self.features)
        if int(lengths.sum()) + len(self._pad) != len(span):  # e.g. memoryviews of wide items
            return parse_example(serialized, self.features)
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        fast = example_fast.parse_span(span, starts, lengths, self._plan)
        if fast is not None:
            return fast
        pieces = [span[s : s + n] for s, n in zip(starts.tolist(), lengths.tolist())]
        return parse_example_slow(pieces, self.features, self._rows)
