"""``te.compat.v1``: TF1 code ported line for line (``tf.`` -> ``te.compat.v1.``) runs as a function model_fn.

Namespaces: :mod:`.layers`, :mod:`.losses`, :mod:`.metrics`, :mod:`.train`, :mod:`.summary`, :mod:`.nn`,
:mod:`.estimator` (pre-made estimators with the v1 defaults), :mod:`.feature_column` (with ``input_layer`` /
``linear_model``), plus the few ``tf.*`` ops model_fns use around them (``argmax``, ``newaxis``, ``cast``,
``get_variable``, ``variable_scope`` ...). Layers and variables are built on the model's first call and
shared by every mode (:mod:`torchestimator.function_model`). docs/porting.md lists the v1 / v2 differences.

Example::

    def my_model(features, labels, mode, params):
        net = te.compat.v1.feature_column.input_layer(features, params["feature_columns"])
        logits = te.compat.v1.layers.dense(net, params["n_classes"])
        ...
        optimizer = te.compat.v1.train.AdagradOptimizer(learning_rate=0.1)
        train_op = optimizer.minimize(loss, global_step=te.compat.v1.train.get_global_step())
        return te.compat.v1.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
"""

from __future__ import annotations

from torchestimator.compat.v1 import estimator, feature_column, layers, losses, metrics, nn, summary, train
from torchestimator.compat.v1._ops import (
    AUTO_REUSE,
    GraphKeys,
    argmax,
    argmin,
    cast,
    concat,
    constant_initializer,
    control_dependencies,
    equal,
    expand_dims,
    float32,
    float64,
    get_collection,
    get_variable,
    glorot_normal_initializer,
    glorot_uniform_initializer,
    identity,
    int32,
    int64,
    name_scope,
    newaxis,
    ones_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_sum,
    reshape,
    sigmoid,
    square,
    squeeze,
    tanh,
    truncated_normal_initializer,
    variable_scope,
    zeros_initializer,
)
from torchestimator.compat.v1._ops import bool_ as bool

__all__ = [
    "AUTO_REUSE",
    "GraphKeys",
    "argmax",
    "argmin",
    "bool",
    "cast",
    "concat",
    "constant_initializer",
    "control_dependencies",
    "equal",
    "estimator",
    "expand_dims",
    "feature_column",
    "float32",
    "float64",
    "get_collection",
    "get_variable",
    "glorot_normal_initializer",
    "glorot_uniform_initializer",
    "identity",
    "int32",
    "int64",
    "layers",
    "losses",
    "metrics",
    "name_scope",
    "newaxis",
    "nn",
    "ones_initializer",
    "random_normal_initializer",
    "random_uniform_initializer",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_sum",
    "reshape",
    "sigmoid",
    "square",
    "squeeze",
    "summary",
    "tanh",
    "train",
    "truncated_normal_initializer",
    "variable_scope",
    "zeros_initializer",
]
