"""TF's string constants for heads: prediction keys, metric keys, loss reductions, signature names."""

from __future__ import annotations

from torchestimator.errors import InvalidArgumentError

__all__ = [
    "CLASSIFY_SERVING_KEY",
    "DEFAULT_SERVING_KEY",
    "PREDICT_SERVING_KEY",
    "REGRESS_SERVING_KEY",
    "LossReduction",
    "MetricKeys",
    "PredictionKeys",
]

DEFAULT_SERVING_KEY = "serving_default"
CLASSIFY_SERVING_KEY = "classification"
REGRESS_SERVING_KEY = "regression"
PREDICT_SERVING_KEY = "predict"


class PredictionKeys:
    """Keys of a head's ``predictions`` dict (tf.estimator PredictionKeys)."""

    CLASSES = "classes"
    CLASS_IDS = "class_ids"
    ALL_CLASSES = "all_classes"
    ALL_CLASS_IDS = "all_class_ids"
    LOGISTIC = "logistic"
    LOGITS = "logits"
    PREDICTIONS = "predictions"
    PROBABILITIES = "probabilities"
    TOP_K = "top_k"


class MetricKeys:
    """Metric names (tf.estimator ``canned/metric_keys.py``); ``%g``/``%d``/``%s`` ones take a value."""

    LOSS = "loss"
    LOSS_MEAN = "average_loss"
    LOSS_REGULARIZATION = "regularization_loss"
    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    ACCURACY_BASELINE = "accuracy_baseline"
    AUC = "auc"
    AUC_PR = "auc_precision_recall"
    LABEL_MEAN = "label/mean"
    PREDICTION_MEAN = "prediction/mean"
    ACCURACY_AT_THRESHOLD = "accuracy/positive_threshold_%g"
    PRECISION_AT_THRESHOLD = "precision/positive_threshold_%g"
    RECALL_AT_THRESHOLD = "recall/positive_threshold_%g"
    PRECISION_AT_RECALL = "precision_at_recall_%g"
    RECALL_AT_PRECISION = "recall_at_precision_%g"
    SENSITIVITY_AT_SPECIFICITY = "sensitivity_at_specificity_%g"
    SPECIFICITY_AT_SENSITIVITY = "specificity_at_sensitivity_%g"
    PROBABILITY_MEAN_AT_CLASS = "probability_mean/class%d"
    AUC_AT_CLASS = "auc/class%d"
    AUC_PR_AT_CLASS = "auc_precision_recall/class%d"
    PROBABILITY_MEAN_AT_NAME = "probability_mean/%s"
    AUC_AT_NAME = "auc/%s"
    AUC_PR_AT_NAME = "auc_precision_recall/%s"


class LossReduction:
    """How a head reduces the weighted per-example loss over the batch (tf.losses.Reduction values).

    ``SUM``: ``sum(w * loss)``. ``SUM_OVER_BATCH_SIZE`` (the v2 default): ``sum(w * loss) / n`` with
    ``n`` the number of loss elements (batch size x loss dimension). ``NONE`` is rejected by heads,
    as in TF v2.
    """

    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"
    AUTO = "auto"

    @classmethod
    def validate_for_head(cls, loss_reduction: str) -> str:
        """Return ``loss_reduction`` if a head accepts it.

        Raises:
            InvalidArgumentError: anything but ``SUM`` / ``SUM_OVER_BATCH_SIZE``.
        """
        allowed = (cls.SUM, cls.SUM_OVER_BATCH_SIZE)
        if loss_reduction not in allowed:
            raise InvalidArgumentError(
                f"Invalid loss_reduction: {loss_reduction!r}; a head accepts one of {list(allowed)} "
                "(LossReduction.SUM or LossReduction.SUM_OVER_BATCH_SIZE). NONE is not allowed: a head "
                "must return a scalar loss."
            )
        return loss_reduction
