"""When to show progress bars: ``RunConfig.progress_bar``, else in a terminal or a notebook kernel.

With ``progress_bar=None`` (the default) a bar is drawn when stderr is a terminal or the code runs in a Jupyter
/ IPython kernel (where ``tqdm.auto`` draws a widget and stderr is not a terminal); log lines only otherwise,
so batch jobs and CI logs stay clean.
"""

from __future__ import annotations

import sys

__all__ = ["in_notebook", "progress_wanted"]


def in_notebook() -> bool:
    """True inside an IPython kernel (Jupyter, VS Code notebooks, Colab)."""
    shell = sys.modules.get("IPython")
    get_ipython = getattr(shell, "get_ipython", None)
    ip = get_ipython() if callable(get_ipython) else None
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def progress_wanted(setting: bool | None) -> bool:
    """The effective progress-bar choice for ``RunConfig.progress_bar``."""
    if setting is not None:
        return bool(setting)
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) or in_notebook()
