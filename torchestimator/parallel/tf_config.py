"""Parse ``TF_CONFIG`` exactly as tf.estimator's RunConfig does.

``TF_CONFIG`` is JSON: ``{"cluster": {"chief": [...], "worker": [...], "ps": [...]}, "task": {"type": ...,
"index": ...}}``. Without a cluster the process is the single local worker and chief. The evaluator
sits outside the training cluster.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from torchestimator.errors import DistributedError

__all__ = ["ClusterInfo", "TaskType", "parse_tf_config"]


class TaskType:
    MASTER = "master"
    PS = "ps"
    WORKER = "worker"
    CHIEF = "chief"
    EVALUATOR = "evaluator"


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """The derived, read-only cluster view of a RunConfig."""

    cluster_spec: dict[str, list[str]]
    task_type: str
    task_id: int
    is_chief: bool
    num_worker_replicas: int
    num_ps_replicas: int
    global_id_in_cluster: int
    master: str


_LOCAL = ClusterInfo({}, TaskType.WORKER, 0, True, 1, 0, 0, "")


def _global_id(cluster: dict[str, list[str]], task_type: str, task_id: int) -> int:
    # chief first, then the other job types alphabetically, ps last (TF's multi_worker_util.id_in_cluster).
    order = [TaskType.CHIEF] + sorted(j for j in cluster if j not in (TaskType.CHIEF, TaskType.PS, TaskType.EVALUATOR))
    order.append(TaskType.PS)
    gid = 0
    for job in order:
        if job == task_type:
            return gid + task_id
        gid += len(cluster.get(job, []))
    raise DistributedError(f"task type {task_type!r} has no global id in cluster {sorted(cluster)}.")


def parse_tf_config(raw: str | None) -> ClusterInfo:
    """Parse a ``TF_CONFIG`` JSON string (``None``/empty: the single local worker).

    Raises:
        DistributedError: invalid JSON, a cluster without a chief, a missing or invalid task.
    """
    if not raw:
        return _LOCAL
    try:
        config: dict[str, Any] = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DistributedError(f"TF_CONFIG is not valid JSON: {e}; received {raw[:200]!r}.") from e
    cluster = {str(k): list(v) if isinstance(v, (list, tuple)) else list(dict(v).values()) for k, v in config.get("cluster", {}).items()}
    task = config.get("task", {}) or {}
    task_type = task.get("type")
    task_id = task.get("index")
    if not cluster:
        task_type = task_type or TaskType.WORKER
        task_id = 0 if task_id is None else int(task_id)
        if task_type != TaskType.WORKER or task_id != 0:
            raise DistributedError(
                f"TF_CONFIG without a cluster must describe worker 0; received task type {task_type!r} index {task_id}."
            )
        return _LOCAL
    if not task_type:
        raise DistributedError('If "cluster" is set in TF_CONFIG, task type must be set.')
    if task_id is None:
        raise DistributedError('If "cluster" is set in TF_CONFIG, task index must be set.')
    task_id = int(task_id)
    if task_id < 0:
        raise DistributedError(f"Task index must be non-negative number; received {task_id}.")
    if task_type == TaskType.EVALUATOR:
        if task_id != 0:
            raise DistributedError(f"{task_id} is not a valid task_id for task_type evaluator: only 0 is allowed.")
        return ClusterInfo({}, TaskType.EVALUATOR, 0, False, 0, 0, 0, "")
    if TaskType.CHIEF not in cluster:
        raise DistributedError('If "cluster" is set in TF_CONFIG, it must have one "chief" node.')
    if len(cluster[TaskType.CHIEF]) != 1:
        raise DistributedError('The "cluster" in TF_CONFIG must have only one "chief" node.')
    if task_type not in cluster:
        raise DistributedError(f"{task_type} is not a valid task_type in the cluster_spec: {sorted(cluster)}.")
    if task_id >= len(cluster[task_type]):
        raise DistributedError(f"{task_id} is not a valid task_id for task_type {task_type} in the cluster_spec.")
    n_tasks = sum(len(v) for k, v in cluster.items() if k != TaskType.EVALUATOR)
    master = "" if n_tasks <= 1 else f"grpc://{cluster[task_type][task_id]}"
    return ClusterInfo(
        cluster_spec=cluster,
        task_type=task_type,
        task_id=task_id,
        is_chief=task_type == TaskType.CHIEF,
        num_worker_replicas=len(cluster.get(TaskType.WORKER, [])) + 1,
        num_ps_replicas=len(cluster.get(TaskType.PS, [])),
        global_id_in_cluster=_global_id(cluster, task_type, task_id),
        master=master,
    )
