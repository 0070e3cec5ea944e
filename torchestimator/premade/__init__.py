"""Pre-made estimators (``tf.estimator``'s canned models): Linear, DNN, DNNLinearCombined, Baseline,
KMeans, and the LinearSDCA optimizer of the linear ones.

Each ``*Classifier`` / ``*Regressor`` / ``*Estimator(head=...)`` is an :class:`~torchestimator.Estimator`
whose model_fn is an ``nn.Module`` (``*ModelFn``) built from columns -> tower -> head; the module
(``estimator.model``) also works on its own, outside the Estimator.
"""

from torchestimator.premade.baseline import (
    BaselineClassifier,
    BaselineEstimator,
    BaselineModelFn,
    BaselineRegressor,
)
from torchestimator.premade.dnn import DNNClassifier, DNNEstimator, DNNModelFn, DNNRegressor
from torchestimator.premade.dnn_linear_combined import (
    DNNLinearCombinedClassifier,
    DNNLinearCombinedEstimator,
    DNNLinearCombinedModelFn,
    DNNLinearCombinedRegressor,
)
from torchestimator.premade.dnn_tower import DNNTower, TFBatchNorm
from torchestimator.premade.kmeans import KMeans, KMeansModelFn
from torchestimator.premade.linear import LinearClassifier, LinearEstimator, LinearModelFn, LinearRegressor
from torchestimator.premade.model_base import PremadeModel
from torchestimator.premade.rnn import RNNClassifier, RNNEstimator, RNNModelFn
from torchestimator.premade.sdca import LinearSDCA

__all__ = [
    "BaselineClassifier",
    "BaselineEstimator",
    "BaselineModelFn",
    "BaselineRegressor",
    "DNNClassifier",
    "DNNEstimator",
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedEstimator",
    "DNNLinearCombinedModelFn",
    "DNNLinearCombinedRegressor",
    "DNNModelFn",
    "DNNRegressor",
    "DNNTower",
    "KMeans",
    "KMeansModelFn",
    "LinearClassifier",
    "LinearEstimator",
    "LinearModelFn",
    "LinearRegressor",
    "LinearSDCA",
    "PremadeModel",
    "RNNClassifier",
    "RNNEstimator",
    "RNNModelFn",
    "TFBatchNorm",
]
