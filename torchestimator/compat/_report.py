"""``ImportReport``: what ``import_tf_checkpoint`` loaded, and what it left at its initial value."""

from __future__ import annotations

import dataclasses

__all__ = ["ImportReport"]


@dataclasses.dataclass
class ImportReport:
    """What an import loaded, and what it left at its initial value.

    Attributes:
        source: the TF checkpoint prefix read.
        global_step: TF's ``global_step`` (0 when the checkpoint has none).
        loaded: our tensor (``key`` or ``key[rows]``) -> the TF variable it came from.
        slots_loaded: ``"<optimizer>:<our tensor>/<state key>"`` -> the TF slot variable(s).
        left_initial: our tensors (or row ranges) no TF variable was written to.
        slots_left_initial: optimizer slots that kept their initial value.
        unused_tf: TF model variables (not slots, not optimizer hyper-parameters) nothing read.
        hyperparameter_mismatches: optimizer settings TF saved (Keras optimizers: learning rate, betas,
            FTRL's l1 / l2 ...) that differ from ours: training would continue differently from TF's.
        checkpoint_path: the torchestimator checkpoint written, or None.
    """

    source: str
    global_step: int
    loaded: dict[str, str] = dataclasses.field(default_factory=dict)
    slots_loaded: dict[str, str] = dataclasses.field(default_factory=dict)
    left_initial: list[str] = dataclasses.field(default_factory=list)
    slots_left_initial: list[str] = dataclasses.field(default_factory=list)
    unused_tf: list[str] = dataclasses.field(default_factory=list)
    hyperparameter_mismatches: list[str] = dataclasses.field(default_factory=list)
    checkpoint_path: str | None = None

    def __str__(self) -> str:
        lines = [
            f"imported {self.source} (global_step {self.global_step})"
            + (f" -> {self.checkpoint_path}" if self.checkpoint_path else ""),
            f"  loaded {len(self.loaded)} tensors, {len(self.slots_loaded)} optimizer slots",
        ]
        lines += [f"    {ours} <- {tf}" for ours, tf in self.loaded.items()]
        for warning in self.hyperparameter_mismatches:
            lines.append(f"  warning: {warning}; continued training will differ from TF's")
        if self.slots_left_initial:
            lines.append(
                "  note: a trainable variable without TF slots was probably not trained by TF (TF 2.x canned DNNs "
                "never train shared embeddings); build it with trainable=False to continue exactly as TF did"
            )
        for title, items in (
            ("left at their initial value", self.left_initial),
            ("optimizer slots left at their initial value", self.slots_left_initial),
            ("TF variables not used", self.unused_tf),
        ):
            if items:
                lines.append(f"  {title}: {len(items)}")
                lines += [f"    {item}" for item in items]
        return "\n".join(lines)
