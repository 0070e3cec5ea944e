"""The loop quadrant: the ``Estimator`` facade, ``train_and_evaluate``, the loops and the ``Runtime`` below them.

Each layer imports only the ones below it (``tests/test_import_graph.py``)::

    train_and_evaluate (_train_and_evaluate)    roles from TF_CONFIG, evaluation cadence, exporters; drives an
                                                Estimator; TrainSpec / EvalSpec (_specs.py), EvalSpec lists (_multi_eval.py)
      Estimator (_estimator.py)                 the validated facade users see: arguments, which checkpoint
        run_training / run_evaluation / run_prediction (_train_loop, _evaluation, _prediction)
                                                the loops: backward, optimizer steps, hooks, metrics
          Runtime (_runtime.py)                 resident module, strategy, optimizers, global step, the one
                                                input entrance, the chief gate, writers, checkpoint bookkeeping

``build_function_model`` (``_function_build.py``) builds a function model_fn's layers from the first batch
through the Runtime's input stream. The loops and the Runtime are the seams other packages plug into; users
call the facade.

Formerly the modules ``torchestimator.estimator``, ``torchestimator.training``, ``torchestimator.train_loop``,
``torchestimator.evaluation``, ``torchestimator.prediction``, ``torchestimator.multi_eval`` and
``torchestimator.function_build``; those but the first still import, with a ``DeprecationWarning``.
"""

from __future__ import annotations

from torchestimator.estimator._estimator import Estimator
from torchestimator.estimator._evaluation import run_evaluation
from torchestimator.estimator._function_build import build_function_model
from torchestimator.estimator._multi_eval import MultiEvaluation, as_eval_specs
from torchestimator.estimator._prediction import run_prediction
from torchestimator.estimator._runtime import Runtime
from torchestimator.estimator._specs import EvalSpec, TrainSpec
from torchestimator.estimator._train_and_evaluate import train_and_evaluate
from torchestimator.estimator._train_loop import run_training

__all__ = [
    "Estimator",
    "EvalSpec",
    "MultiEvaluation",
    "Runtime",
    "TrainSpec",
    "as_eval_specs",
    "build_function_model",
    "run_evaluation",
    "run_prediction",
    "run_training",
    "train_and_evaluate",
]
