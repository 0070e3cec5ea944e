"""Small datasets shipped inside the package, so examples run from any install (no download, no repo checkout).

Byte copies of the repository's ``data/`` files (provenance, recipes and licences in ``data/README.md``; the
Titanic rows come from explainerdashboard's MIT-licensed copy, ``LICENSE-titanic-explainerdashboard.txt`` here;
Iris from scikit-learn, BSD-3-Clause):

=====================  ==========================================================================
``titanic()``          ``{"train": path, "eval": path}``: 627 + 264 passengers, the TF linear-model
                       tutorial's columns (``survived`` is the label)
``iris()``             ``{"train": path, "test": path}``: 120 + 30 flowers, TF's premade-estimator
                       tutorial header (``Species`` is the label, 0-2)
=====================  ==========================================================================

>>> import os
>>> os.path.basename(titanic()["train"])
'titanic_train.csv'
"""

from __future__ import annotations

import os

__all__ = ["iris", "titanic"]

_HERE = os.path.dirname(os.path.abspath(__file__))


def titanic() -> dict[str, str]:
    """Paths of the Titanic train / eval CSV files."""
    return {
        "train": os.path.join(_HERE, "titanic_train.csv"),
        "eval": os.path.join(_HERE, "titanic_eval.csv"),
    }


def iris() -> dict[str, str]:
    """Paths of the Iris training / test CSV files."""
    return {"train": os.path.join(_HERE, "iris_training.csv"), "test": os.path.join(_HERE, "iris_test.csv")}
