"""Launch DDP training: one command for a local multi-process run, and TF_CONFIG clusters -> torchrun.

Command line (wraps ``torchrun``; the script sets ``RunConfig(train_distribute='ddp')`` or ``'auto'``)::

    python -m torchestimator.parallel.launch --nproc 2 train.py --my-flag    # one node, 2 processes
    TF_CONFIG='{"cluster": {...}, "task": {...}}' \\
        python -m torchestimator.parallel.launch train.py                     # a TF job spec, unchanged

With a ``TF_CONFIG`` cluster each training task (``chief``/``master``, then the ``worker`` list, in TF's
order) becomes one torchrun node: ``--nnodes=<#chief + #worker> --node-rank=<position>`` and a static
rendezvous at the chief's address, so the chief is always rank 0 and writes the checkpoints. An
``evaluator`` task runs the script as one plain process (``train_and_evaluate`` then follows the
chief's checkpoints); a ``ps`` task has nothing to do under DDP and exits 0 - unless ``--sharded`` (the
script trains with ``train_distribute='ParameterServerStrategy'`` / ``'sharded'``): then the ``ps`` tasks
are ranks too, after the workers, and hold their share of the sharded embedding tables.

From Python, :func:`run_local` runs a function in N local processes and returns each rank's result::

    from torchestimator.parallel.launch import run_local
    results = run_local(train_fn, nproc=2, args=(model_dir,))   # {0: ..., 1: ...}

``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1`` is set for every launch: without it, elastic restarts
(``--max-restarts``) on gloo hang or fail to reconnect (pytorch/pytorch#135712).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from torchestimator.errors import DistributedError, InvalidArgumentError
from torchestimator.parallel.tf_config import TaskType, parse_tf_config, training_tasks

__all__ = ["launch_env", "main", "run_local", "torchrun_args_from_tf_config"]

logger = logging.getLogger("torchestimator")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for torchrun and its workers (elastic-restart fix; one OpenMP thread by default)."""
    env = dict(os.environ if base is None else base)
    env.setdefault("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _split_address(address: str, task: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise DistributedError(f"TF_CONFIG address {address!r} of {task} must be 'host:port'.")
    return host.strip("[]"), int(port)


def torchrun_args_from_tf_config(
    tf_config: str | None = None, nproc_per_node: int = 1, max_restarts: int = 0, include_ps: bool = False
) -> list[str] | None:
    """torchrun options for this task of a ``TF_CONFIG`` cluster.

    Args:
        tf_config: the ``TF_CONFIG`` JSON (default: the environment variable).
        nproc_per_node: processes (devices) per task.
        max_restarts: ``--max-restarts`` for elastic recovery.
        include_ps: ``ps`` tasks train too, as the last ranks (the sharded strategy).

    Returns:
        The options (``--nnodes``, ``--node-rank``, ``--nproc-per-node``, ``--master-addr``,
        ``--master-port``, ``--max-restarts``), or ``None`` for a task that does not train (evaluator,
        ps) or when there is no cluster.

    Raises:
        DistributedError: an invalid TF_CONFIG (TF's validation errors) or address.

    Example:
        >>> torchrun_args_from_tf_config('{"cluster": {"chief": ["h0:2222"], "worker": ["h1:2222"]}, '
        ...                              '"task": {"type": "worker", "index": 0}}')
        ['--nnodes=2', '--node-rank=1', '--nproc-per-node=1', '--master-addr=h0', '--master-port=2222', '--max-restarts=0']
    """
    if nproc_per_node < 1:
        raise InvalidArgumentError(f"nproc_per_node must be >= 1; received {nproc_per_node}.")
    info = parse_tf_config(os.environ.get("TF_CONFIG") if tf_config is None else tf_config)
    if not info.cluster_spec or info.task_type == TaskType.EVALUATOR:
        return None
    if info.task_type == TaskType.PS and not include_ps:
        return None
    tasks = training_tasks(info.cluster_spec, include_ps=include_ps)
    order = [(t, i) for t, i, _ in tasks]
    node_rank = order.index((info.task_type, info.task_id))
    chief_type, chief_index, chief_address = tasks[0]
    host, port = _split_address(chief_address, f"{chief_type} {chief_index}")
    return [
        f"--nnodes={len(tasks)}",
        f"--node-rank={node_rank}",
        f"--nproc-per-node={nproc_per_node}",
        f"--master-addr={host}",
        f"--master-port={port}",
        f"--max-restarts={max_restarts}",
    ]


def _command(args: argparse.Namespace, script_and_args: Sequence[str]) -> list[str] | None:
    """The command this process should exec (None: nothing to run)."""
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    raw = os.environ.get("TF_CONFIG")
    info = parse_tf_config(raw)
    if info.cluster_spec or info.task_type == TaskType.EVALUATOR:
        if info.task_type == TaskType.PS and not args.sharded:
            logger.warning(
                "TF_CONFIG task 'ps': DDP needs no parameter servers; nothing to run. With "
                "train_distribute='ParameterServerStrategy' (sharded tables) pass --sharded: ps tasks then train "
                "and hold table shards."
            )
            return None
        if info.task_type == TaskType.EVALUATOR:
            return [sys.executable, *script_and_args]
        options = torchrun_args_from_tf_config(raw, args.nproc, args.max_restarts, include_ps=args.sharded)
        assert options is not None  # a training task of a cluster
        return [*torchrun, *options, *script_and_args]
    if args.nnodes > 1:
        if not args.rdzv_endpoint:
            raise InvalidArgumentError(
                "--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the same on every node)."
            )
        rdzv = [
            f"--nnodes={args.nnodes}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={args.rdzv_endpoint}",
            f"--rdzv-id={args.rdzv_id}",
        ]
    else:
        rdzv = ["--standalone"]
    return [
        *torchrun,
        *rdzv,
        f"--nproc-per-node={args.nproc}",
        f"--max-restarts={args.max_restarts}",
        *script_and_args,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m torchestimator.parallel.launch [options] script.py [script args]``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m torchestimator.parallel.launch",
        description="Run a torchestimator training script on N local processes, or as this task of a TF_CONFIG cluster.",
    )
    parser.add_argument("--nproc", type=int, default=1, help="processes per node (one per device); default 1")
    parser.add_argument(
        "--nnodes", type=int, default=1, help="nodes (without TF_CONFIG); > 1 needs --rdzv-endpoint"
    )
    parser.add_argument("--rdzv-endpoint", default="", help="HOST:PORT of the c10d rendezvous (multi-node)")
    parser.add_argument(
        "--rdzv-id", default="torchestimator", help="job id shared by every node (multi-node)"
    )
    parser.add_argument("--max-restarts", type=int, default=0, help="elastic restarts after a worker failure")
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    parser.add_argument(
        "--sharded",
        action="store_true",
        help="TF_CONFIG ps tasks train too (train_distribute='ParameterServerStrategy' / 'sharded')",
    )
    parser.add_argument("script", help="the training script")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments for the script")
    args = parser.parse_args(argv)
    command = _command(args, [args.script, *args.script_args])
    if command is None:
        return 0
    if args.dry_run:
        print(" ".join(command))
        return 0
    return subprocess.call(command, env=launch_env())


def _call_with_rank_env(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return fn(*args)


def run_local(
    fn: Callable[..., Any], nproc: int = 2, args: tuple[Any, ...] = (), max_restarts: int = 0
) -> dict[int, Any]:
    """Run ``fn(*args)`` in ``nproc`` local processes under torchrun's agent; return each rank's result.

    ``fn`` must be importable by the spawned processes (a module-level function) and its arguments
    and result picklable. Inside, ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_*`` are set, so
    ``RunConfig(train_distribute='ddp')`` just works.

    Args:
        fn: the function to run on every rank.
        nproc: number of processes.
        args: positional arguments for ``fn``.
        max_restarts: elastic restarts after a failure.

    Returns:
        ``{rank: fn's return value}``.

    Raises:
        InvalidArgumentError: ``nproc < 1``.
        DistributedError: a rank failed (the message names it and its error).
    """
    if nproc < 1:
        raise InvalidArgumentError(f"nproc must be >= 1; received {nproc}.")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    for key, value in launch_env({}).items():
        os.environ.setdefault(key, value)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"torchestimator-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint=f"127.0.0.1:{free_port()}",
        max_restarts=max_restarts,
        start_method="spawn",
    )
    try:
        results = elastic_launch(config, _call_with_rank_env)(fn, args)
    except ChildFailedError as e:
        raise DistributedError(f"run_local: {e.format_msg().strip()}") from e
    return dict(results)


if __name__ == "__main__":
    sys.exit(main())
