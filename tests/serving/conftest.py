from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "export"))

from export_cases import case, export_root, titanic_case  # noqa: F401  (fixtures)
