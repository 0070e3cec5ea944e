"""The exported graph's inputs ("wire format") and the two halves that produce and consume them.

The column layers of a model (``DenseFeatures``, ``LinearModel``) normally receive host-packed bags
(``ids``/``offsets``) whose lengths depend on the data. An exported graph instead takes one padded
tensor per raw feature and rebuilds the packed bags inside the graph, so preprocessing that tensors
can express travels with the model::

    wire input                    shape        dtype                 padding   used by
    <key>           (dense)       (B, D)       the column's dtype    -         numeric / bucketized
    <key>           (padded)      (B, L)       int64 / float32       -1 / 0    identity, weights
    <column>__ids   (host ids)    (B, L)       int64                 -1        hash, cross, vocabulary
    <key>           (tensor)      (B, ...)     the receiver's dtype  -         the model itself (raw)

A ``tensor`` input is a receiver feature no column reads (an image for a plain ``nn.Module``
wrapped by ``model_to_estimator``, a numeric side input beside the columns): it is passed
straight through to the model as ``features[key]``.

In the graph (:func:`build_layer_inputs`): numeric values (+ ``normalizer_fn``), bucketize (float32
comparison, as TF's Bucketize and the host), identity range / default, indicator counts, combiner weights and the
fused-bag ids / offsets / bag index. On the host (:class:`HostStep`): FarmHash Fingerprint64
hashing (hashed, crossed, OOV buckets) and vocabulary lookups, through the very column code the
Estimator trains with, so ids are bit-identical. The ONNX file replaces each vocabulary column's
host ids by an ``ai.onnx.ml.LabelEncoder`` over the raw (string or int) feature (see
:mod:`torchestimator.export.onnx_graph`), so for the ONNX model only hashed / crossed / OOV-bucket
columns remain a host step.

The three parts live in their own modules; this module re-exports their names:

* :mod:`torchestimator.export.wire_plan`: which inputs the graph takes (:func:`plan_wire`,
  :func:`plan_tensors`, :class:`WirePlan`, :class:`WireInput`, :class:`Lookup`).
* :mod:`torchestimator.export.graph_inputs`: the in-graph half (:class:`GraphBuilder`,
  :func:`build_layer_inputs`, :func:`bag_forward`).
* :mod:`torchestimator.export.host_step`: the host half (:class:`HostStep`).
"""

from __future__ import annotations

from torchestimator.export.graph_inputs import GraphBuilder, Wire, bag_forward, build_layer_inputs
from torchestimator.export.host_step import HostStep, normalize_features
from torchestimator.export.wire_plan import IDS_SUFFIX, Lookup, WireInput, WirePlan, plan_tensors, plan_wire

__all__ = [
    "IDS_SUFFIX",
    "GraphBuilder",
    "HostStep",
    "Lookup",
    "Wire",
    "WireInput",
    "WirePlan",
    "bag_forward",
    "build_layer_inputs",
    "normalize_features",
    "plan_tensors",
    "plan_wire",
]
