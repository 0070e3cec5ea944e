"""ParameterServerStrategy as TorchRec-sharded embedding tables (``pip install 'torchestimator[torchrec]'``)."""

from torchestimator.parallel.sharded._strategy import ShardedStrategy

__all__ = ["ShardedStrategy"]
