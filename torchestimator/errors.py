"""Every exception torchestimator raises, in one tree.

::

    TorchEstimatorError
     ├── InvalidArgumentError      (ValueError)   an argument has a value we cannot use
 │    └── ModelFnError                        a function model_fn builds or calls its layers inconsistently
     ├── FeatureError              (ValueError)   a feature is missing, or has the wrong dtype / shape
     ├── InputError                (ValueError)   an input_fn result or a data file is malformed
     │    └── DataLossError                       a record's checksum does not match (corrupt file)
     ├── CheckpointError           (RuntimeError) a checkpoint cannot be written or read
     │    ├── CheckpointNotFoundError             nothing to restore where something is required
     │    ├── CorruptCheckpointError              content checksum or structure is broken
     │    └── CheckpointMismatchError             tensor names / shapes differ from the model's
     ├── NanLossDuringTrainingError (RuntimeError) the training loss became NaN or inf
     ├── ExportError               (RuntimeError) a model cannot be exported or served
     ├── MissingDependencyError    (ImportError)  an optional dependency is missing; names the pip extra
     └── DistributedError          (RuntimeError) a collective failed or timed out, a bad cluster spec

Errors name the argument / feature / file, what was expected and what was received, and suggest a fix
where one is known. The builtin base classes let code written for tf.estimator keep catching
``ValueError`` / ``RuntimeError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "CorruptCheckpointError",
    "DataLossError",
    "DistributedError",
    "ExportError",
    "FeatureError",
    "InputError",
    "InvalidArgumentError",
    "MissingDependencyError",
    "ModelFnError",
    "NanLossDuringTrainingError",
    "TorchEstimatorError",
    "did_you_mean",
]


class TorchEstimatorError(Exception):
    """Base class of every error raised by torchestimator."""


class InvalidArgumentError(TorchEstimatorError, ValueError):
    """An argument has a value that cannot be used."""


class ModelFnError(InvalidArgumentError):
    """A function model_fn creates a layer outside its first call, or calls its layers in another order."""


class FeatureError(TorchEstimatorError, ValueError):
    """A feature is missing from a batch or has the wrong dtype or shape."""


class InputError(TorchEstimatorError, ValueError):
    """An ``input_fn`` result or a data file is malformed."""


class DataLossError(InputError):
    """A record's checksum does not match: the file is corrupt or truncated."""


class CheckpointError(TorchEstimatorError, RuntimeError):
    """A checkpoint cannot be written or read."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint exists where one is required."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint's content checksum or structure is broken."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's tensor names or shapes do not match the model."""


class NanLossDuringTrainingError(TorchEstimatorError, RuntimeError):
    """The training loss became NaN or infinite (tf.estimator's ``NanLossDuringTrainingError``)."""

    def __init__(self, step: int | None = None, loss: float | None = None, cause: str | None = None) -> None:
        self.step = step
        self.loss = loss
        self.cause = cause
        where = f" at step {step}" if step is not None else ""
        because = f" The step's inputs hold the likely cause: {cause}." if cause else ""
        super().__init__(f"NaN loss during training{where} (loss = {loss}).{because}")


class ExportError(TorchEstimatorError, RuntimeError):
    """A model cannot be exported, or an export cannot be served."""


class MissingDependencyError(TorchEstimatorError, ImportError):
    """An optional dependency is not installed; the message names the pip extra that installs it."""


class DistributedError(TorchEstimatorError, RuntimeError):
    """A collective failed or timed out, or a cluster spec is invalid."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close.

    >>> did_you_mean("agee", ["age", "class"])
    "; did you mean 'age'?"
    """
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
