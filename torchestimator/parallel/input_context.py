"""``InputContext``: what an ``input_fn`` is told about the input pipelines under distribution.

Mirrors ``tf.distribute.InputContext``: each process runs one input pipeline and should read its own
shard (``input_pipeline_id`` of ``num_input_pipelines``) and yield per-replica batches; the global
batch is ``per-replica batch * num_replicas_in_sync``.
"""

from __future__ import annotations

import dataclasses

from torchestimator.errors import InvalidArgumentError

__all__ = ["InputContext"]


@dataclasses.dataclass(frozen=True)
class InputContext:
    """Which input pipeline this process runs, and how many replicas train in sync.

    Args:
        num_input_pipelines: number of input pipelines (processes) reading data.
        input_pipeline_id: this pipeline's index in ``[0, num_input_pipelines)``.
        num_replicas_in_sync: number of replicas whose gradients are averaged each step.

    Example:
        >>> InputContext(2, 1, 2).get_per_replica_batch_size(64)
        32
    """

    num_input_pipelines: int = 1
    input_pipeline_id: int = 0
    num_replicas_in_sync: int = 1

    def __post_init__(self) -> None:
        if self.num_input_pipelines < 1:
            raise InvalidArgumentError(
                f"num_input_pipelines must be >= 1; received {self.num_input_pipelines}."
            )
        if not 0 <= self.input_pipeline_id < self.num_input_pipelines:
            raise InvalidArgumentError(
                f"input_pipeline_id must be in [0, {self.num_input_pipelines}); received {self.input_pipeline_id}."
            )
        if self.num_replicas_in_sync < 1:
            raise InvalidArgumentError(
                f"num_replicas_in_sync must be >= 1; received {self.num_replicas_in_sync}."
            )

    def get_per_replica_batch_size(self, global_batch_size: int) -> int:
        """``global_batch_size / num_replicas_in_sync``; it must divide evenly (as in TF)."""
        if global_batch_size % self.num_replicas_in_sync:
            raise InvalidArgumentError(
                f"global_batch_size {global_batch_size} is not divisible by num_replicas_in_sync "
                f"{self.num_replicas_in_sync}."
            )
        return global_batch_size // self.num_replicas_in_sync
