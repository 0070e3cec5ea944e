"""TorchX component: a torchestimator job with sharded embedding tables.

Run it with TorchX's CLI on any scheduler it supports (local, Kubernetes, Slurm, AWS Batch, ...)::

    torchx run -s kubernetes deploy/torchx_component.py:trainer --script train.py --nnodes 2 --nproc_per_node 1 \\
        -- --model_dir=/models/ctr

``trainer`` is TorchX's ``dist.ddp`` component (torchrun under the hood, one rendezvous for the job), so the
script sees torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) and ``RunConfig(train_distribute="ParameterServerStrategy")`` (or ``"sharded"``) joins it.
``max_retries`` restarts the whole job from the chief's last checkpoint after a failure.
"""

from __future__ import annotations

import torchx.specs as specs
from torchx.components.dist import ddp


def trainer(
    *script_args: str,
    script: str = "train.py",
    image: str = "registry.example.com/ctr-train:latest",
    nnodes: int = 2,
    nproc_per_node: int = 1,
    cpu: int = 8,
    memMB: int = 32768,  # TorchX's argument name
    max_retries: int = 1,
) -> specs.AppDef:
    """A torchestimator training job over ``nnodes * nproc_per_node`` ranks.

    Args:
        script_args: arguments for the training script (after ``--``).
        script: the training script inside the image.
        image: a container image with ``pip install 'torchestimator[torchrec]'`` and the script.
        nnodes: machines (each one TorchX role replica).
        nproc_per_node: processes per machine (one per GPU; 1 on CPU).
        cpu: CPUs per replica.
        memMB: memory per replica, in MB.
        max_retries: job restarts after a failure (resumes from the last checkpoint).

    Returns:
        The TorchX application.
    """
    return ddp(
        *script_args,
        script=script,
        image=image,
        name="torchestimator-sharded",
        cpu=cpu,
        memMB=memMB,
        j=f"{nnodes}x{nproc_per_node}",
        max_retries=max_retries,
        env={"OMP_NUM_THREADS": str(cpu // max(nproc_per_node, 1))},
    )
