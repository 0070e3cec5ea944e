"""The dataset nodes ``Dataset``'s methods build, looked up by name at call time.

The node modules (``_sources``, ``_transforms``, ``_mapping``, ...) subclass :class:`Dataset`, so
``_dataset.py`` cannot import them without a cycle; each registers its nodes here when
``torchestimator.data`` imports it, and ``Dataset.map`` builds ``NODES.Map(...)``.
"""

from __future__ import annotations

from typing import Any

from torchestimator.errors import InvalidArgumentError

__all__ = ["NODES", "register_nodes"]


class _NodeTable:
    """The node classes (and node-building functions) ``Dataset``'s methods construct, by name.

    The node modules subclass ``Dataset``, so ``_dataset.py`` cannot import them; each registers its
    nodes with :func:`register_nodes` when ``torchestimator.data`` imports it, and the methods look them
    up here at call time (``Dataset.map`` -> ``NODES.Map``).
    """

    def __getattr__(self, name: str) -> Any:
        raise InvalidArgumentError(
            f"te.data has no dataset node {name!r} registered; import torchestimator.data (its package "
            "registers every node) before building datasets."
        )


NODES = _NodeTable()


def register_nodes(*nodes: Any) -> None:
    """Make node classes / functions known to :class:`Dataset`'s methods under their ``__name__``."""
    for node in nodes:
        setattr(NODES, node.__name__, node)
