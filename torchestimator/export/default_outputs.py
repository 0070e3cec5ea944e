"""TF's default serving signatures for a model_fn's ``export_outputs`` (``export_utils.get_export_outputs``).

TF 2.15 never exports a custom model without a default signature:

* no ``export_outputs`` → ``{'serving_default': PredictOutput(predictions)}`` (a single prediction tensor is
  exported under the key ``output``);
* exactly one output under another name → it is also exported as ``serving_default``;
* several outputs and none named ``serving_default`` → an error (TF raises ``ValueError``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from torchestimator.errors import ExportError
from torchestimator.heads.export_output import ExportOutput, PredictOutput

__all__ = ["DEFAULT_SERVING_SIGNATURE_DEF_KEY", "export_outputs_for_spec", "warn_export_savedmodel"]

DEFAULT_SERVING_SIGNATURE_DEF_KEY = "serving_default"


def export_outputs_for_spec(spec: Any) -> dict[str, ExportOutput]:
    """The signatures a PREDICT spec exports, with TF's default-signature rules applied.

    Raises:
        ExportError: ``export_outputs`` is not a dict of ``ExportOutput`` s, or has several entries and no
            ``serving_default``.
    """
    export_outputs = spec.export_outputs
    if export_outputs is None:
        return {DEFAULT_SERVING_SIGNATURE_DEF_KEY: PredictOutput(spec.predictions)}
    if not isinstance(export_outputs, Mapping):
        raise ExportError(
            f"`export_outputs` must be a dict of signature name -> ExportOutput; received {type(export_outputs).__name__}."
        )
    outputs = dict(export_outputs)
    for name, value in outputs.items():
        if not isinstance(value, ExportOutput):
            raise ExportError(
                f"export_outputs[{name!r}] must be an ExportOutput (te.export.PredictOutput, ClassificationOutput, "
                f"RegressionOutput); received {type(value).__name__}."
            )
    if len(outputs) == 1:
        ((key, value),) = outputs.items()
        if key != DEFAULT_SERVING_SIGNATURE_DEF_KEY:
            outputs[DEFAULT_SERVING_SIGNATURE_DEF_KEY] = value
    if len(outputs) > 1 and DEFAULT_SERVING_SIGNATURE_DEF_KEY not in outputs:
        raise ExportError(
            f"Multiple export_outputs were provided ({sorted(outputs)}), but none of them is specified as the "
            f"default; name one {DEFAULT_SERVING_SIGNATURE_DEF_KEY!r}."
        )
    return outputs


def warn_export_savedmodel(strip_default_attrs: Any = None) -> None:
    """The deprecation warning of ``Estimator.export_savedmodel`` (TF's old name)."""
    warnings.warn(
        "Estimator.export_savedmodel is deprecated; use Estimator.export_saved_model (same arguments"
        + ("; strip_default_attrs is ignored" if strip_default_attrs is not None else "")
        + ").",
        DeprecationWarning,
        stacklevel=3,
    )
