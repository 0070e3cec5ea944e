"""``message_classes``: the message classes of a private protobuf ``DescriptorPool``, made once and kept.

torchestimator builds its wire formats (``tf.train.Example``, TF Serving's APIs) from descriptors at runtime
in pools of its own. Every message type of the pool's files, nested map entries included, gets its class
here, and the caller keeps them with the pool for the life of the process: otherwise the upb runtime makes
a nested type's class on first access and may free and remake it later. One full test run on 2026-12-02
died in a segfault in upb reading an Example's ``.features`` (a nested message field); pinning removes
that churn::

    pool = descriptor_pool.DescriptorPool(); pool.Add(file_proto)
    classes = message_classes(pool, [file_proto.name])    # {"tensorflow.Example": <class>, ...}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import message_factory
from google.protobuf.message import Message

__all__ = ["message_classes"]


def message_classes(pool: Any, file_names: Iterable[str]) -> dict[str, type[Message]]:
    """``{full name: class}`` for every message type (nested ones included) of ``file_names`` in ``pool``."""
    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is None:  # protobuf < 4.22
        get_class = message_factory.MessageFactory(pool).GetPrototype  # pragma: no cover
    classes: dict[str, type[Message]] = {}
    for name in file_names:
        pending = list(pool.FindFileByName(name).message_types_by_name.values())
        while pending:
            desc = pending.pop()
            pending.extend(desc.nested_types)
            classes[desc.full_name] = get_class(desc)
    return classes
