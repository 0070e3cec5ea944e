"""Several ``EvalSpec`` s in one ``train_and_evaluate`` (a torchestimator extension; TF takes one).

``train_and_evaluate(est, train_spec, [EvalSpec(eval_a, name="a"), EvalSpec(eval_b, name="b")])`` evaluates
every spec at each evaluation point, each into its own ``eval_<name>`` directory, and runs each spec's
exporters with its own results. When to evaluate (``every_n_steps``, ``throttle_secs``,
``start_delay_secs``) comes from the first spec. The call then returns two lists, in the specs' order:
``([metrics_a, metrics_b], [exports_a, exports_b])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torchestimator.errors import InvalidArgumentError
from torchestimator.estimator._specs import EvalSpec

__all__ = ["MultiEvaluation", "as_eval_specs"]


def as_eval_specs(eval_spec: Any) -> list[EvalSpec]:
    """``eval_spec`` as a non-empty list of EvalSpecs with distinct names.

    Raises:
        InvalidArgumentError: something that is not an EvalSpec, an empty list, or two specs sharing a name
            (they would write the same eval directory).
    """
    specs = list(eval_spec) if isinstance(eval_spec, (list, tuple)) else [eval_spec]
    bad = [type(s).__name__ for s in specs if not isinstance(s, EvalSpec)]
    if bad or not specs:
        raise InvalidArgumentError(
            "`eval_spec` must have type `torchestimator.EvalSpec` (or be a non-empty list of them). Given "
            f"{bad or 'an empty list'}"
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InvalidArgumentError(
            f"the EvalSpecs passed to train_and_evaluate need distinct names (each writes model_dir/eval_<name>); "
            f"received names {names}."
        )
    return specs


class MultiEvaluation:
    """The evaluations of several specs, run one after the other at each evaluation point."""

    def __init__(self, parts: Sequence[Any]) -> None:
        self.parts = list(parts)
        self.metrics: list[Any] | None = None
        self.export_results: list[Any] | None = None
        self.last_step: int | None = None
        self.last_time: float | None = None

    def run(self, checkpoint_path: str | None, *, live: bool) -> None:
        for part in self.parts:
            part.run(checkpoint_path, live=live)
        self.metrics = [p.metrics for p in self.parts]
        self.export_results = [p.export_results for p in self.parts]
        self.last_step, self.last_time = self.parts[0].last_step, self.parts[-1].last_time
