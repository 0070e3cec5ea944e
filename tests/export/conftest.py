from __future__ import annotations

from export_cases import case, export_root, titanic_case  # noqa: F401  (fixtures)
