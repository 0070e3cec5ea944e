"""TF's classic ``custom_estimator.py`` (tensorflow/models samples/core/get_started) ported with only renames:
``tf.`` -> ``te.compat.v1.``. The model_fn below is the TF program's, line for line."""

from __future__ import annotations

import torchestimator as te


def my_model(features, labels, mode, params):
    """DNN with three hidden layers and learning_rate=0.1."""
    # Create three fully connected layers.
    net = te.compat.v1.feature_column.input_layer(features, params["feature_columns"])
    for units in params["hidden_units"]:
        net = te.compat.v1.layers.dense(net, units=units, activation=te.compat.v1.nn.relu)

    # Compute logits (1 per class).
    logits = te.compat.v1.layers.dense(net, params["n_classes"], activation=None)

    # Compute predictions.
    predicted_classes = te.compat.v1.argmax(logits, 1)
    if mode == te.compat.v1.estimator.ModeKeys.PREDICT:
        predictions = {
            "class_ids": predicted_classes[:, te.compat.v1.newaxis],
            "probabilities": te.compat.v1.nn.softmax(logits),
            "logits": logits,
        }
        return te.compat.v1.estimator.EstimatorSpec(mode, predictions=predictions)

    # Compute loss.
    loss = te.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)

    # Compute evaluation metrics.
    accuracy = te.compat.v1.metrics.accuracy(labels=labels, predictions=predicted_classes, name="acc_op")
    metrics = {"accuracy": accuracy}
    te.compat.v1.summary.scalar("accuracy", accuracy[1])

    if mode == te.compat.v1.estimator.ModeKeys.EVAL:
        return te.compat.v1.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops=metrics)

    # Create training op.
    assert mode == te.compat.v1.estimator.ModeKeys.TRAIN

    optimizer = te.compat.v1.train.AdagradOptimizer(learning_rate=0.1)
    train_op = optimizer.minimize(loss, global_step=te.compat.v1.train.get_global_step())
    return te.compat.v1.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
