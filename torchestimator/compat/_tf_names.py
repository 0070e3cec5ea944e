"""Which TF variable fills which tensor (or rows of a tensor) of our modules, and where TF keeps the slots.

A :class:`Binding` ties one TF variable to rows of one ``state_dict`` tensor::

    TF variable                                                   ours (state_dict key [rows])
    linear/linear_model/<col>/weights        (buckets, units)     linear_model.sparse_weights.weight [col rows]
    linear/linear_model/<dense col>/weights  (width, units)       linear_model.dense_kernel [col rows]
    linear/linear_model/bias_weights         (units,)             linear_model.bias
    dnn/input_from_feature_columns/input_layer/<col>/embedding_weights
                                             (buckets, dim)       input_layer.embedding_tables.<group>.weight [rows]
    <collection>  (TF 2 shared embeddings)   (buckets, dim)       the same, the shared table's rows
    dnn/hiddenlayer_<i>/kernel, bias         (in, out) -> (out, in)  tower.hidden_layers.<i>.weight (transposed), bias
    dnn/hiddenlayer_<i>/batchnorm_<i>/{gamma,beta,moving_mean,moving_variance}
                                                                  tower.batch_norms.<i>.{gamma,beta,moving_mean,...}
    dnn/logits/kernel, bias                                       tower.logits.weight (transposed), bias
    baseline/bias                                                 bias

(``DNNLinearCombined*``: ``linear_model`` / ``dnn_input_layer`` / ``dnn_tower``.) Optimizer slots of a TF
variable ``V`` (Keras optimizers under tf.estimator 2.x, then TF 1.x ``tf.train`` optimizers)::

    ours (optimizer state key)      TF 2.x (Keras legacy)             TF 1.x
    Adagrad   sum                   .../<Opt>/V/accumulator           V/Adagrad
    Ftrl      accumulator, linear   .../<Opt>/V/accumulator, /linear  V/Ftrl, V/Ftrl_1
    Adam      m, v (vhat)           .../<Opt>/V/m, /v (/vhat)         V/Adam, V/Adam_1
    RMSProp   rms, momentum, mg     .../<Opt>/V/rms, /momentum, /mg   V/RMSProp, V/RMSProp_1
    SGD       momentum_buffer       .../<Opt>/V/momentum              V/Momentum

TF 1.x slots of a partitioned variable are saved per partition (``V/t_<k>/Adagrad`` or
``V/part_<k>/Ftrl``, each holding only its partition's rows); they are merged.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import torch

from torchestimator.errors import InvalidArgumentError

__all__ = [
    "Binding",
    "module_bindings",
    "name_map_bindings",
    "optimizer_slot_names",
    "tf_slot_candidates",
]

DNN_INPUT_SCOPE = "dnn/input_from_feature_columns/input_layer"


@dataclasses.dataclass(frozen=True)
class Binding:
    """One TF variable and the rows of one of our tensors it fills.

    Args:
        tf_names: candidate TF names, first present wins (e.g. TF 2 vs TF 1 shared-embedding names).
        key: our ``state_dict`` key.
        start: first row of ``key``'s tensor.
        rows: row count, or None for the whole tensor.
        transpose: TF stores the transpose (a Dense kernel ``(in, out)`` vs torch's ``(out, in)``).
    """

    tf_names: tuple[str, ...]
    key: str
    start: int = 0
    rows: int | None = None
    transpose: bool = False

    @property
    def tf_name(self) -> str:
        """The primary (TF 2.x) name."""
        return self.tf_names[0]

    @property
    def our_name(self) -> str:
        """``key`` or ``key[start:start+rows]``, for reports."""
        return self.key if self.rows is None else f"{self.key}[{self.start}:{self.start + self.rows}]"

    def view(self, tensor: torch.Tensor) -> torch.Tensor:
        """This binding's rows of ``tensor`` (a view)."""
        return tensor if self.rows is None else tensor[self.start : self.start + self.rows]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def dense_features_bindings(layer: Any, path: str, scope: str) -> list[Binding]:
    """Embedding tables of a :class:`~torchestimator.columns.DenseFeatures` (rows of its fused tables)."""
    from torchestimator.columns.embedding import EmbeddingColumn

    out: list[Binding] = []
    seen: set[str] = set()
    for col in layer.feature_columns:
        if not isinstance(col, EmbeddingColumn) or col.table_name in seen:
            continue
        seen.add(col.table_name)
        group, start, rows = layer.table_rows(col.name)
        own = f"{scope}/{col.table_name}/embedding_weights"
        names = (own,) if col.table_name == col.name else (col.table_name, own)
        out.append(Binding(names, _join(path, f"embedding_tables.{group}.weight"), start, rows))
    return out


def linear_model_bindings(layer: Any, path: str, scope: str) -> list[Binding]:
    """A :class:`~torchestimator.columns.LinearModel`: per-column weight rows, dense kernel rows, bias."""
    out: list[Binding] = []
    layout = layer.layout()
    for col in layer.feature_columns:
        span = layout.span(col.name)
        if span is not None:
            out.append(
                Binding(
                    (f"{scope}/{col.name}/weights",),
                    _join(path, "sparse_weights.weight"),
                    span.start,
                    span.rows,
                )
            )
    if layer.dense_features is not None:
        start = 0
        for col in layer.dense_features.feature_columns:  # sorted by name, the kernel's row order
            width = int(col.dense_width)
            out.append(Binding((f"{scope}/{col.name}/weights",), _join(path, "dense_kernel"), start, width))
            start += width
        out += dense_features_bindings(layer.dense_features, _join(path, "dense_features"), scope)
    out.append(Binding((f"{scope}/bias_weights",), _join(path, "bias")))
    return out


def tower_bindings(tower: Any, path: str, scope: str) -> list[Binding]:
    """A :class:`~torchestimator.premade.DNNTower`: hidden layers, batch norms and logits."""
    out: list[Binding] = []
    for i in range(len(tower.hidden_layers)):
        layer = f"{scope}/hiddenlayer_{i}"
        out.append(Binding((f"{layer}/kernel",), _join(path, f"hidden_layers.{i}.weight"), transpose=True))
        out.append(Binding((f"{layer}/bias",), _join(path, f"hidden_layers.{i}.bias")))
        if tower.batch_norms is not None:
            for var in ("gamma", "beta", "moving_mean", "moving_variance"):
                out.append(Binding((f"{layer}/batchnorm_{i}/{var}",), _join(path, f"batch_norms.{i}.{var}")))
    out.append(Binding((f"{scope}/logits/kernel",), _join(path, "logits.weight"), transpose=True))
    out.append(Binding((f"{scope}/logits/bias",), _join(path, "logits.bias")))
    return out


def function_model_bindings(module: Any) -> list[Binding]:
    """A function model_fn's layers (te.compat.v1): their TF names are their paths (``dense/kernel``,
    ``scope/conv2d/bias``, ``w`` for ``get_variable``), layouts already TF's; ``input_layer`` /
    ``linear_model`` layers bind as TF1's functional column layers of the same scope."""
    from torchestimator.columns import DenseFeatures, LinearModel

    out: list[Binding] = []
    for path, layer in module.named_children():
        if isinstance(layer, DenseFeatures):
            out += dense_features_bindings(layer, path, path)
        elif isinstance(layer, LinearModel):
            out += linear_model_bindings(layer, path, path)
        elif getattr(layer, "is_tf_variable", False):
            out.append(Binding((path,), f"{path}.value"))
        else:
            for key, value in layer.state_dict().items():
                if isinstance(value, torch.Tensor):
                    out.append(Binding((f"{path}/{key.replace('.', '/')}",), f"{path}.{key}"))
    return out


def module_bindings(module: torch.nn.Module) -> list[Binding] | None:
    """The bindings of a pre-made or function model_fn module, or None for any other module (which needs a name map).

    Each pre-made model states its TF names (``PremadeModel.tf_variable_bindings``), so this module does not
    import the pre-made estimators (which import the Estimator, which warm-starts through here).
    """
    from torchestimator.premade.model_base import PremadeModel

    if isinstance(module, PremadeModel):
        return module.tf_variable_bindings()
    from torchestimator.function_model import FunctionModelFn

    if isinstance(module, FunctionModelFn):
        return function_model_bindings(module)
    return None


def name_map_bindings(
    name_map: Mapping[str, str], tf_shapes: Mapping[str, tuple[int, ...]], own: Mapping[str, torch.Tensor]
) -> list[Binding]:
    """Bindings from a user's ``{TF name or regex: our state_dict key (may use \\1 groups)}``.

    A TF variable named literally in the map uses that entry; otherwise it is matched
    (``re.fullmatch``) against the patterns in order, and the first that matches names our tensor. A 2-D TF ``.../kernel`` whose transpose has our tensor's shape is
    transposed (TF Dense ``(in, out)`` vs torch Linear ``(out, in)``).

    Raises:
        InvalidArgumentError: a bad regex, a pattern matching no TF variable, or a target that is not ours.
    """
    compiled: list[tuple[str, re.Pattern[str], str]] = []
    for pattern, target in name_map.items():
        try:
            compiled.append((pattern, re.compile(pattern), target))
        except re.error as err:
            raise InvalidArgumentError(f"name_map: {pattern!r} is not a valid regex: {err}.") from None
    out: list[Binding] = []
    used: set[str] = set()
    for tf_name, shape in sorted(tf_shapes.items()):
        exact = [(p, r, t) for p, r, t in compiled if p == tf_name]  # a literal name beats any regex
        for pattern, regex, target in exact or compiled:
            match = regex.fullmatch(tf_name)
            if match is None:
                continue
            used.add(pattern)
            key = match.expand(target)
            if key not in own:
                raise InvalidArgumentError(
                    f"name_map: {pattern!r} maps TF variable {tf_name!r} to {key!r}, which is not a tensor of the "
                    f"model; its state_dict keys: {sorted(own)[:20]}."
                )
            ours = tuple(own[key].shape)
            # a square kernel is ambiguous by shape: TF's "/kernel" naming says it is (in, out)
            transpose = (
                len(shape) == 2
                and tuple(reversed(shape)) == ours
                and (shape != ours or tf_name.endswith("/kernel"))
            )
            out.append(Binding((tf_name,), key, transpose=transpose))
            break
    unused = [p for p, _, _ in compiled if p not in used]
    if unused:
        raise InvalidArgumentError(
            f"name_map: {unused} match no variable of the TF checkpoint (patterns are matched with re.fullmatch); "
            f"TF variables: {sorted(tf_shapes)[:20]}."
        )
    return out


# our optimizer state key -> (TF 2 Keras slot name, TF 1 slot name)
_SLOTS: dict[str, dict[str, tuple[str, str]]] = {
    "Adagrad": {"sum": ("accumulator", "Adagrad")},
    "Ftrl": {"accumulator": ("accumulator", "Ftrl"), "linear": ("linear", "Ftrl_1")},
    "Adam": {"m": ("m", "Adam"), "v": ("v", "Adam_1"), "vhat": ("vhat", "")},
    "RMSProp": {"rms": ("rms", "RMSProp"), "momentum": ("momentum", "RMSProp_1"), "mg": ("mg", "")},
    "SGD": {"momentum_buffer": ("momentum", "Momentum")},
}


def optimizer_slot_names(optimizer: torch.optim.Optimizer) -> tuple[str, dict[str, tuple[str, str]]] | None:
    """``(kind, {our state key: (TF 2 slot, TF 1 slot)})`` for the optimizers with TF counterparts."""
    from torchestimator.optimizers.ftrl import Ftrl
    from torchestimator.optimizers.keras_legacy import Adam, RMSProp

    for kind, cls in (
        ("Adagrad", torch.optim.Adagrad),
        ("Ftrl", Ftrl),
        ("Adam", Adam),
        ("RMSProp", RMSProp),
        ("SGD", torch.optim.SGD),
    ):
        if isinstance(optimizer, cls):
            return kind, _SLOTS[kind]
    return None


def tf_slot_candidates(tf_var: str, slot: tuple[str, str], names: list[str]) -> list[str]:
    """TF names holding ``slot`` of ``tf_var``: the Keras one, else the TF 1 one(s) (per partition)."""
    keras, v1 = slot
    suffix = f"/{tf_var}/{keras}"
    hits = [n for n in names if n.endswith(suffix)]
    if hits or not v1:
        return hits[:1]
    if f"{tf_var}/{v1}" in names:
        return [f"{tf_var}/{v1}"]
    per_partition = re.compile(re.escape(tf_var) + r"/(?:t|part)_\d+/" + re.escape(v1))
    return [n for n in names if per_partition.fullmatch(n)]
