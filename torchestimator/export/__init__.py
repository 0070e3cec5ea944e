"""Export for serving: receivers, ``export_saved_model`` and the export layout.

Exporters (``FinalExporter`` ..., formerly ``torchestimator.exporters``) are in
:mod:`torchestimator.export.exporters`. See :mod:`torchestimator.export.saved_model` for the directory layout and
:mod:`torchestimator.export.wire` for what runs in the graph and what on the host.
"""

from __future__ import annotations

from torchestimator.export.exporters import BestExporter, Exporter, FinalExporter, LatestExporter
from torchestimator.export.outputs import (
    ClassificationOutput,
    EvalOutput,
    ExportOutput,
    PredictOutput,
    RegressionOutput,
    TrainOutput,
)
from torchestimator.export.receivers import (
    ServingInputReceiver,
    TensorServingInputReceiver,
    TensorSpec,
    build_parsing_serving_input_receiver_fn,
    build_raw_serving_input_receiver_fn,
)
from torchestimator.export.saved_model import export_saved_model
from torchestimator.export.supervised_receivers import (
    SupervisedInputReceiver,
    build_raw_supervised_input_receiver_fn,
)

__all__ = [
    "BestExporter",
    "ClassificationOutput",
    "EvalOutput",
    "ExportOutput",
    "Exporter",
    "FinalExporter",
    "LatestExporter",
    "PredictOutput",
    "RegressionOutput",
    "ServingInputReceiver",
    "SupervisedInputReceiver",
    "TensorServingInputReceiver",
    "TensorSpec",
    "TrainOutput",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
    "build_raw_supervised_input_receiver_fn",
    "export_saved_model",
]
