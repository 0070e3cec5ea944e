"""Feature columns (``tf.feature_column``) on PyTorch: frozen specs, TF-exact host transforms, fused modules.

Also importable as ``torchestimator.feature_column``. See ``docs/design.md`` and each module's docstring.
"""

from __future__ import annotations

from torchestimator.columns.base import (
    CategoricalColumn,
    CategoricalIds,
    DenseColumn,
    FeatureColumn,
    TransformCache,
)
from torchestimator.columns.categorical import (
    HashedCategoricalColumn,
    IdentityCategoricalColumn,
    VocabularyFileCategoricalColumn,
    VocabularyListCategoricalColumn,
    WeightedCategoricalColumn,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    weighted_categorical_column,
)
from torchestimator.columns.crossed import CrossedColumn, crossed_column
from torchestimator.columns.dense_features import DenseFeatures
from torchestimator.columns.embedding import (
    EmbeddingColumn,
    IndicatorColumn,
    SharedEmbeddingColumn,
    embedding_column,
    indicator_column,
    shared_embeddings,
)
from torchestimator.columns.host_transform import find_host_transform
from torchestimator.columns.inline import input_layer, linear_model
from torchestimator.columns.layer_base import ColumnLayer
from torchestimator.columns.linear_model import LinearModel
from torchestimator.columns.numeric import BucketizedColumn, NumericColumn, bucketized_column, numeric_column
from torchestimator.columns.parse_spec import (
    classifier_parse_example_spec,
    make_parse_example_spec,
    regressor_parse_example_spec,
)
from torchestimator.columns.sequence import (
    SequenceCategoricalColumn,
    SequenceFeatures,
    SequenceNumericColumn,
    sequence_categorical_column_with_hash_bucket,
    sequence_categorical_column_with_identity,
    sequence_categorical_column_with_vocabulary_file,
    sequence_categorical_column_with_vocabulary_list,
    sequence_numeric_column,
)
from torchestimator.columns.serialization import deserialize_column, register_column_type, serialize_column

__all__ = [
    "BucketizedColumn",
    "CategoricalColumn",
    "CategoricalIds",
    "ColumnLayer",
    "CrossedColumn",
    "DenseColumn",
    "DenseFeatures",
    "EmbeddingColumn",
    "FeatureColumn",
    "HashedCategoricalColumn",
    "IdentityCategoricalColumn",
    "IndicatorColumn",
    "LinearModel",
    "NumericColumn",
    "SequenceCategoricalColumn",
    "SequenceFeatures",
    "SequenceNumericColumn",
    "SharedEmbeddingColumn",
    "TransformCache",
    "VocabularyFileCategoricalColumn",
    "VocabularyListCategoricalColumn",
    "WeightedCategoricalColumn",
    "bucketized_column",
    "categorical_column_with_hash_bucket",
    "categorical_column_with_identity",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_vocabulary_list",
    "classifier_parse_example_spec",
    "crossed_column",
    "deserialize_column",
    "embedding_column",
    "find_host_transform",
    "indicator_column",
    "input_layer",
    "linear_model",
    "make_parse_example_spec",
    "numeric_column",
    "register_column_type",
    "regressor_parse_example_spec",
    "sequence_categorical_column_with_hash_bucket",
    "sequence_categorical_column_with_identity",
    "sequence_categorical_column_with_vocabulary_file",
    "sequence_categorical_column_with_vocabulary_list",
    "sequence_numeric_column",
    "serialize_column",
    "shared_embeddings",
    "weighted_categorical_column",
]
