"""The three modes a model_fn runs in, with TF's string values (``tf.estimator.ModeKeys``)."""

from __future__ import annotations

from torchestimator.errors import InvalidArgumentError

__all__ = ["ModeKeys"]


class ModeKeys:
    """The three modes, with TF's string values."""

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"

    ALL = (TRAIN, EVAL, PREDICT)

    @classmethod
    def validate(cls, mode: str) -> str:
        if mode not in cls.ALL:
            raise InvalidArgumentError(f"mode must be one of {list(cls.ALL)}; received {mode!r}.")
        return mode
