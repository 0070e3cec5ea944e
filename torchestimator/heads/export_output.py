"""What a head exports per serving signature: plain data holders read by the exporter.

======================  ================================  =============================================
class                   TF-Serving method                 outputs
======================  ================================  =============================================
``ClassificationOutput``  ``tensorflow/serving/classify``   ``scores`` (float ``[B, n]``), ``classes``
                                                            (bytes ``[B, n]``)
``RegressionOutput``    ``tensorflow/serving/regress``    ``outputs`` (float ``[B, 1]``)
``PredictOutput``       ``tensorflow/serving/predict``    any dict of tensors / arrays
======================  ================================  =============================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torchestimator.errors import InvalidArgumentError

__all__ = ["ClassificationOutput", "ExportOutput", "PredictOutput", "RegressionOutput"]


class ExportOutput:
    """Base of the export outputs; ``outputs`` maps an output name to a tensor or array."""

    method_name: str = ""

    @property
    def outputs(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class ClassificationOutput(ExportOutput):
    """Classify signature (tf.estimator.export.ClassificationOutput): at least one of the two.

    Args:
        scores: float tensor ``[B, n_classes]`` (probabilities).
        classes: numpy object array of ``bytes`` ``[B, n_classes]`` (class names).

    Raises:
        InvalidArgumentError: both are ``None``.
    """

    scores: Any = None
    classes: Any = None
    method_name = "tensorflow/serving/classify"

    def __post_init__(self) -> None:
        if self.scores is None and self.classes is None:
            raise InvalidArgumentError(
                "ClassificationOutput needs `scores`, `classes` or both; received neither."
            )

    @property
    def outputs(self) -> dict[str, Any]:
        out = {}
        if self.classes is not None:
            out["classes"] = self.classes
        if self.scores is not None:
            out["scores"] = self.scores
        return out


@dataclasses.dataclass(frozen=True)
class RegressionOutput(ExportOutput):
    """Regress signature (tf.estimator.export.RegressionOutput).

    Args:
        value: float tensor ``[B, 1]``.
    """

    value: Any
    method_name = "tensorflow/serving/regress"

    @property
    def outputs(self) -> dict[str, Any]:
        return {"outputs": self.value}


@dataclasses.dataclass(frozen=True)
class PredictOutput(ExportOutput):
    """Predict signature (tf.estimator.export.PredictOutput).

    Args:
        value: a single tensor (exported under key ``output``) or a dict of them; tuple keys of a
            MultiHead ``(head, key)`` are joined as ``head/key``.
    """

    value: Any
    method_name = "tensorflow/serving/predict"

    @property
    def outputs(self) -> dict[str, Any]:
        if isinstance(self.value, Mapping):
            return {("/".join(k) if isinstance(k, tuple) else str(k)): v for k, v in self.value.items()}
        return {"output": self.value}
