"""``Options`` (``tf.data.Options``): accepted and kept, so ``with_options`` calls port unchanged.

Any attribute path can be set (``options.experimental_distribute.auto_shard_policy = ...``,
``options.deterministic = False``); none of them changes the elements a dataset yields.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["AutoShardPolicy", "Options"]


class Options:
    """A namespace of dataset options; reading an unset option gives a nested ``Options``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = Options()
        object.__setattr__(self, name, value)
        return value

    def __repr__(self) -> str:
        return f"Options({vars(self)})"


class AutoShardPolicy(enum.IntEnum):
    """``tf.data.experimental.AutoShardPolicy`` (accepted; shard explicitly with ``Dataset.shard``)."""

    OFF = -1
    AUTO = 0
    FILE = 1
    DATA = 2
    HINT = 3
