"""Column type -> export half: how export rebuilds a column's inputs inside the serving graph.

Next to :mod:`torchestimator.columns.serialization`'s registry (JSON), this one says what a column type
does in an export (see :mod:`torchestimator.columns.export_contract`). Export looks every column up here
and never switches on column classes, so a new column type is one module plus two registrations::

    register_column_type(MyColumn)                                    # serialization
    register_column_export(MyColumn, ColumnExport(plan=..., dense=...))  # export

A type without an entry of its own uses the nearest registered base class (its MRO); one with none
is an :class:`~torchestimator.errors.ExportError` that names it and says how to register it.
"""

from __future__ import annotations

from typing import Any

from torchestimator.columns.export_contract import ColumnExport
from torchestimator.columns.export_halves import BUILTIN_EXPORTS
from torchestimator.errors import ExportError, InvalidArgumentError

__all__ = ["ColumnExport", "column_export", "register_column_export"]

_REGISTRY: dict[type, ColumnExport] = dict(BUILTIN_EXPORTS)


def register_column_export(cls: type, export: ColumnExport) -> None:
    """Make export of columns of type ``cls`` (and of subclasses without their own entry) use ``export``.

    Raises:
        InvalidArgumentError: ``cls`` is not a class or ``export`` not a :class:`ColumnExport`.
    """
    if not isinstance(cls, type) or not isinstance(export, ColumnExport):
        raise InvalidArgumentError(
            f"register_column_export(cls, export) takes a column class and a ColumnExport; received "
            f"{cls!r} and {type(export).__name__}."
        )
    _REGISTRY[cls] = export


def column_export(column: Any) -> ColumnExport:
    """The export half of ``column``'s type (or of its nearest registered base class).

    Raises:
        ExportError: no class in the column's MRO has a registered half.
    """
    for cls in type(column).__mro__:
        found = _REGISTRY.get(cls)
        if found is not None:
            return found
    kind = type(column).__name__
    raise ExportError(
        f"column {getattr(column, 'name', column)!r} ({kind}) cannot be exported: no export half is registered "
        f"for {kind}. Register one beside the column's class with torchestimator.columns.export_registry."
        f"register_column_export({kind}, ColumnExport(plan=..., dense=..., ids=...))."
    )
