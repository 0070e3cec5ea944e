"""Parse ``TF_CONFIG`` exactly as tf.estimator's ``RunConfig`` does (TF 2.15).

``TF_CONFIG`` is JSON::

    {"cluster": {"chief": ["host0:2222"], "worker": ["host1:2222", "host2:2222"], "ps": [...]},
     "task": {"type": "worker", "index": 1},
     "model_dir": "...", "session_master": "...", "eval_session_master": "...", "service": {...}}

Derived fields, as TF computes them (pinned against TF 2.15 by ``tests/parallel/test_tf_config.py``):

=========================  =====================================================================
no ``cluster``             task must be ``worker`` 0; ``is_chief``; 1 worker replica, 0 ps;
                           ``master`` = ``session_master`` or ``''``; ``global_id_in_cluster`` 0
a ``cluster``              exactly one ``chief``; task type and index required and validated;
                           ``num_worker_replicas`` = #worker + #chief; ``num_ps_replicas`` = #ps;
                           ``master`` = ``grpc://<this task's address>`` (``''`` for a one-node
                           cluster); ``is_chief`` only for the chief
``evaluator`` task         outside the training cluster: empty ``cluster_spec``, 0 replicas,
                           ``master=''``, ``global_id_in_cluster`` None; any index >= 0
legacy ``master`` cluster  ``master`` plays the chief (a ``chief`` job as well is an error;
                           an ``evaluator`` task is an error)
``global_id_in_cluster``   chief (or master) 0, then the other jobs alphabetically (evaluator
                           included), ``ps`` last
=========================  =====================================================================

Example:
    >>> info = parse_tf_config('{"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, '
    ...                        '"task": {"type": "worker", "index": 1}}')
    >>> info.is_chief, info.num_worker_replicas, info.global_id_in_cluster, info.master
    (False, 3, 2, 'grpc://c:1')
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from torchestimator.errors import DistributedError

__all__ = ["ClusterInfo", "TaskType", "parse_tf_config", "training_tasks"]

_NOTE = "\n\nNote that these values may be coming from the TF_CONFIG environment variable."


class TaskType:
    """Task type names (tf.estimator.RunConfig.TaskType)."""

    MASTER = "master"
    PS = "ps"
    WORKER = "worker"
    CHIEF = "chief"
    EVALUATOR = "evaluator"


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """The derived, read-only cluster view of a RunConfig (TF's property names)."""

    cluster_spec: dict[str, list[str]]
    task_type: str
    task_id: int
    is_chief: bool
    num_worker_replicas: int
    num_ps_replicas: int
    global_id_in_cluster: int | None  # None for the evaluator, as in TF
    master: str
    evaluation_master: str = ""
    model_dir: str | None = None  # TF_CONFIG["model_dir"], if given
    service: dict[str, Any] | None = None


_LOCAL = ClusterInfo({}, TaskType.WORKER, 0, True, 1, 0, 0, "")


def _cluster_repr(cluster: Mapping[str, list[str]]) -> str:
    return f"ClusterSpec({dict(sorted(cluster.items()))!r})"


def _job_tasks(job: str, tasks: Any) -> list[str]:
    if isinstance(tasks, (list, tuple)):
        return [str(t) for t in tasks]
    if isinstance(tasks, Mapping):  # {index: address}, as tf.train.ClusterSpec accepts
        by_index = {int(k): str(v) for k, v in tasks.items()}
        if sorted(by_index) != list(range(len(by_index))):
            raise DistributedError(
                f"TF_CONFIG cluster job {job!r} maps task indices {sorted(by_index)} to addresses; torchestimator "
                "needs dense indices 0..n-1 (every task of the job listed)."
            )
        return [by_index[i] for i in range(len(by_index))]
    raise DistributedError(
        f"TF_CONFIG cluster job {job!r} must be a list of 'host:port' addresses; received {type(tasks).__name__}."
    )


def _global_id(cluster: Mapping[str, list[str]], task_type: str, task_id: int, chief_type: str) -> int:
    # TF's run_config._get_global_id_in_cluster: chief first, the rest alphabetically, ps last.
    order = [chief_type] + [t for t in sorted(cluster) if t not in (chief_type, TaskType.PS)]
    if TaskType.PS in cluster:
        order.append(TaskType.PS)
    next_id = 0
    for job in order:
        if job == task_type:
            return next_id + task_id
        next_id += len(cluster[job])
    raise DistributedError(f"task type {task_type!r} is not in the cluster {_cluster_repr(cluster)}.")


def _validate_task(
    cluster: Mapping[str, list[str]], task: Mapping[str, Any], chief_type: str
) -> tuple[str, int]:
    if chief_type not in cluster:
        raise DistributedError(f'If "cluster" is set in TF_CONFIG, it must have one "{chief_type}" node.')
    if len(cluster[chief_type]) > 1:
        raise DistributedError(f'The "cluster" in TF_CONFIG must have only one "{chief_type}" node.')
    task_type, task_id = task.get("type"), task.get("index")
    if not task_type:
        raise DistributedError('If "cluster" is set in TF_CONFIG, task type must be set.')
    if task_id is None:
        raise DistributedError('If "cluster" is set in TF_CONFIG, task index must be set.')
    try:
        task_id = int(task_id)
    except (TypeError, ValueError) as e:
        raise DistributedError(f"TF_CONFIG task index must be an integer; received {task_id!r}.") from e
    if task_id < 0:
        raise DistributedError("Task index must be non-negative number.")
    if task_type == TaskType.EVALUATOR:
        return task_type, task_id
    if task_type not in cluster:
        raise DistributedError(
            f"{task_type} is not a valid task_type in the cluster_spec:\n{_cluster_repr(cluster)}{_NOTE}"
        )
    if not 0 <= task_id < len(cluster[task_type]):
        raise DistributedError(
            f"{task_id} is not a valid task_id for task_type {task_type} in the cluster_spec:\n{_cluster_repr(cluster)}{_NOTE}"
        )
    return str(task_type), task_id


def _session_master(
    cluster: Mapping[str, list[str]], task_type: str, task_id: int, config: Mapping[str, Any]
) -> str:
    if "session_master" in config:
        return str(config["session_master"])
    if len(cluster) == 1 and len(next(iter(cluster.values()))) == 1:
        return ""
    return "grpc://" + cluster[task_type][task_id]


def parse_tf_config(raw: str | None) -> ClusterInfo:
    """Parse a ``TF_CONFIG`` JSON string (``None``/empty: the single local worker).

    Args:
        raw: the ``TF_CONFIG`` value.

    Returns:
        The derived :class:`ClusterInfo`.

    Raises:
        DistributedError: invalid JSON, or any of TF's validation errors (a ``ValueError`` in TF:
            ``DistributedError`` is not one, so catch :class:`~torchestimator.errors.TorchEstimatorError`).
    """
    if not raw:
        return _LOCAL
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DistributedError(f"TF_CONFIG is not valid JSON: {e}; received {raw[:200]!r}.") from e
    if not isinstance(config, dict):
        raise DistributedError(f"TF_CONFIG must be a JSON object; received {type(config).__name__}.")
    service = config.get("service")
    if service is not None and not isinstance(service, dict):
        raise DistributedError(f'If "service" is set in TF_CONFIG, it must be a dict. Given {type(service)}')
    model_dir = config.get("model_dir")
    if model_dir == "":
        raise DistributedError("model_dir in TF_CONFIG should be non-empty.")
    raw_cluster = config.get("cluster") or {}
    if not isinstance(raw_cluster, dict):
        raise DistributedError(
            f'TF_CONFIG "cluster" must be an object of job -> addresses; received {raw_cluster!r}.'
        )
    cluster = {str(job): _job_tasks(str(job), tasks) for job, tasks in raw_cluster.items()}
    cluster = {job: tasks for job, tasks in cluster.items() if tasks}  # ClusterSpec drops empty jobs
    task = config.get("task") or {}
    eval_master = str(config.get("eval_session_master", ""))

    if not cluster:
        return _local_mode(config, task, eval_master, model_dir, service)

    chief_type = TaskType.CHIEF
    if TaskType.MASTER in cluster:  # legacy cluster
        if TaskType.CHIEF in cluster:
            raise DistributedError("If `master` node exists in `cluster`, job `chief` is not supported.")
        chief_type = TaskType.MASTER
    task_type, task_id = _validate_task(cluster, task, chief_type)
    evaluation_master = eval_master if task_type == TaskType.EVALUATOR else ""
    if task_type == TaskType.EVALUATOR:
        if chief_type == TaskType.MASTER:
            raise DistributedError(
                "If `master` node exists in `cluster`, task_type `evaluator` is not supported."
            )
        return ClusterInfo(
            {},
            TaskType.EVALUATOR,
            task_id,
            False,
            0,
            0,
            None,
            "",
            evaluation_master,
            model_dir=model_dir,
            service=service,
        )
    return ClusterInfo(
        cluster_spec=cluster,
        task_type=task_type,
        task_id=task_id,
        is_chief=task_type == chief_type,
        num_worker_replicas=len(cluster.get(TaskType.WORKER, [])) + len(cluster.get(chief_type, [])),
        num_ps_replicas=len(cluster.get(TaskType.PS, [])),
        global_id_in_cluster=_global_id(cluster, task_type, task_id, chief_type),
        master=_session_master(cluster, task_type, task_id, config),
        evaluation_master=evaluation_master,
        model_dir=model_dir,
        service=service,
    )


def _local_mode(
    config: Mapping[str, Any], task: Mapping[str, Any], eval_master: str, model_dir: Any, service: Any
) -> ClusterInfo:
    """No cluster in TF_CONFIG: the single local worker (task type WORKER, index 0)."""
    task_type = task.get("type", TaskType.WORKER)
    task_id = int(task.get("index", 0))
    if task_type != TaskType.WORKER:
        raise DistributedError('If "cluster" is not set in TF_CONFIG, task type must be WORKER.')
    if task_id != 0:
        raise DistributedError('If "cluster" is not set in TF_CONFIG, task index must be 0.')
    return dataclasses.replace(
        _LOCAL,
        master=str(config.get("session_master", "")),
        evaluation_master=eval_master,
        model_dir=model_dir,
        service=service,
    )


def training_tasks(cluster: Mapping[str, list[str]], include_ps: bool = False) -> list[tuple[str, int, str]]:
    """The tasks that train under DDP, in rank order: the chief (or master) first, then the workers.

    ``ps`` tasks are not needed by DDP (it all-reduces gradients); under the sharded strategy
    (``include_ps``) they become the last ranks and hold their share of the embedding tables. The
    evaluator trains nothing.

    Args:
        cluster: a ``cluster_spec`` from :func:`parse_tf_config`.
        include_ps: rank the ``ps`` tasks after the workers (``launch --sharded``).

    Returns:
        ``(task_type, task_index, address)`` for rank 0, 1, ...

    Example:
        >>> training_tasks({"chief": ["a:1"], "worker": ["b:1"], "ps": ["c:1"]})
        [('chief', 0, 'a:1'), ('worker', 0, 'b:1')]
    """
    chief_type = TaskType.MASTER if TaskType.MASTER in cluster else TaskType.CHIEF
    tasks = [(chief_type, i, a) for i, a in enumerate(cluster.get(chief_type, []))]
    tasks += [(TaskType.WORKER, i, a) for i, a in enumerate(cluster.get(TaskType.WORKER, []))]
    if include_ps:
        tasks += [(TaskType.PS, i, a) for i, a in enumerate(cluster.get(TaskType.PS, []))]
    return tasks
