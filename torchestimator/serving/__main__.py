"""``python -m torchestimator.serving show <export_dir>``."""

from __future__ import annotations

from torchestimator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
