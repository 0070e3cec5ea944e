"""Exporters for ``train_and_evaluate`` (``tf.estimator.{Latest,Best,Final}Exporter``).

``train_and_evaluate`` calls ``exporter.export(estimator, export_path, checkpoint_path, eval_result,
is_the_final_export)`` after every evaluation, with ``export_path = model_dir/export/<name>``.

=================  =====================================================  =========================
exporter           exports                                                garbage collection
=================  =====================================================  =========================
LatestExporter     after every evaluation                                 keeps ``exports_to_keep``
BestExporter       first time, then when ``compare_fn(best, current)``;   keeps ``exports_to_keep``
                   the best so far is rebuilt from the eval event files
FinalExporter      only when ``is_the_final_export``                      none
=================  =====================================================  =========================

Example:
    >>> exporter = LatestExporter("latest", serving_input_receiver_fn=lambda: None, exports_to_keep=2)
    >>> exporter.name
    'latest'
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from typing import Any

from torchestimator.errors import InvalidArgumentError

__all__ = ["BestExporter", "Exporter", "FinalExporter", "LatestExporter"]

logger = logging.getLogger("torchestimator")


class Exporter:
    """Base class: a ``name`` and ``export(...)`` returning the export path or None."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: Mapping[str, Any] | None,
        is_the_final_export: bool,
    ) -> str | None:
        raise NotImplementedError


class _SavedModelExporter(Exporter):
    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Callable[[], Any],
        assets_extra: Mapping[str, str] | None = None,
        as_text: bool = False,
    ) -> None:
        if not name:
            raise InvalidArgumentError("exporter name must be a non-empty string.")
        if serving_input_receiver_fn is None:
            raise InvalidArgumentError(f"exporter {name!r}: serving_input_receiver_fn must be defined.")
        self._name = name
        self._receiver_fn = serving_input_receiver_fn
        self._assets_extra = assets_extra
        self._as_text = as_text

    @property
    def name(self) -> str:
        return self._name

    def _export(self, estimator: Any, export_path: str, checkpoint_path: str | None) -> str:
        path: str = estimator.export_saved_model(
            export_path,
            self._receiver_fn,
            assets_extra=self._assets_extra,
            as_text=self._as_text,
            checkpoint_path=checkpoint_path,
        )
        return path


def _check_keep(exports_to_keep: int | None) -> int | None:
    if exports_to_keep is not None and (not isinstance(exports_to_keep, int) or exports_to_keep <= 0):
        raise InvalidArgumentError(
            f"`exports_to_keep` must be a positive number or None; got {exports_to_keep!r}."
        )
    return exports_to_keep


def garbage_collect_exports(export_dir_base: str, exports_to_keep: int | None) -> None:
    """Delete all but the ``exports_to_keep`` newest 10-digit timestamp directories."""
    if exports_to_keep is None or not os.path.isdir(export_dir_base):
        return
    stamps = sorted(int(n) for n in os.listdir(export_dir_base) if len(n) == 10 and n.isdigit())
    for stamp in stamps[:-exports_to_keep]:
        shutil.rmtree(os.path.join(export_dir_base, str(stamp)), ignore_errors=True)


class LatestExporter(_SavedModelExporter):
    """Export after every evaluation, keeping the ``exports_to_keep`` newest.

    Raises:
        InvalidArgumentError: a non-positive ``exports_to_keep``.
    """

    def __init__(
        self,
        name: str,
        serving_input_receiver_fn: Callable[[], Any],
        assets_extra: Mapping[str, str] | None = None,
        as_text: bool = False,
        exports_to_keep: int | None = 5,
    ) -> None:
        super().__init__(name, serving_input_receiver_fn, assets_extra, as_text)
        self._exports_to_keep = _check_keep(exports_to_keep)

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: Mapping[str, Any] | None,
        is_the_final_export: bool,
    ) -> str | None:
        path = self._export(estimator, export_path, checkpoint_path)
        garbage_collect_exports(export_path, self._exports_to_keep)
        return path


class FinalExporter(_SavedModelExporter):
    """Export once, when training has finished (``is_the_final_export``)."""

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: Mapping[str, Any] | None,
        is_the_final_export: bool,
    ) -> str | None:
        if not is_the_final_export:
            return None
        return self._export(estimator, export_path, checkpoint_path)


def _loss_smaller(best_eval_result: Mapping[str, Any], current_eval_result: Mapping[str, Any]) -> bool:
    """TF's default: True when ``current['loss'] < best['loss']``.

    Raises:
        InvalidArgumentError: a result without ``loss``.
    """
    for which, result in (
        ("best_eval_result", best_eval_result),
        ("current_eval_result", current_eval_result),
    ):
        if not result or "loss" not in result:
            raise InvalidArgumentError(
                f"{which} cannot be empty or have no loss; received {dict(result or {})}."
            )
    return bool(current_eval_result["loss"] < best_eval_result["loss"])


class BestExporter(_SavedModelExporter):
    """Export when the new evaluation beats the best so far (``compare_fn(best, current)``).

    Args:
        name: the exporter (and ``export/<name>`` directory) name.
        serving_input_receiver_fn: the receiver fn.
        event_file_pattern: eval event files under ``model_dir`` to recover the best result from.
        compare_fn: ``(best_eval_result, current_eval_result) -> bool``; default compares ``loss``.
        assets_extra: see :func:`~torchestimator.export.export_saved_model`.
        as_text: see :func:`~torchestimator.export.export_saved_model`.
        exports_to_keep: keep this many newest exports (None keeps all).

    Raises:
        InvalidArgumentError: no ``compare_fn`` or a bad ``exports_to_keep``.
    """

    def __init__(
        self,
        name: str = "best_exporter",
        serving_input_receiver_fn: Callable[[], Any] | None = None,
        event_file_pattern: str = "eval/*.tfevents.*",
        compare_fn: Callable[[Mapping[str, Any], Mapping[str, Any]], bool] = _loss_smaller,
        assets_extra: Mapping[str, str] | None = None,
        as_text: bool = False,
        exports_to_keep: int | None = 5,
    ) -> None:
        if compare_fn is None:
            raise InvalidArgumentError("`compare_fn` must not be None.")
        super().__init__(name, serving_input_receiver_fn, assets_extra, as_text)  # type: ignore[arg-type]
        self._compare_fn = compare_fn
        self._event_file_pattern = event_file_pattern
        self._exports_to_keep = _check_keep(exports_to_keep)
        self._best_eval_result: dict[str, Any] | None = None
        self._model_dir: str | None = None

    def _recover_best(self, model_dir: str) -> dict[str, Any] | None:
        from torchestimator.summaries import read_eval_results

        best: dict[str, Any] | None = None
        dirs = sorted(
            {os.path.dirname(p) for p in glob.glob(os.path.join(model_dir, self._event_file_pattern))}
        )
        for eval_dir in dirs:
            for _step, result in read_eval_results(eval_dir).items():
                if not result:
                    continue
                if best is None or self._compare_fn(best, result):
                    best = dict(result)
        return best

    def export(
        self,
        estimator: Any,
        export_path: str,
        checkpoint_path: str | None,
        eval_result: Mapping[str, Any] | None,
        is_the_final_export: bool,
    ) -> str | None:
        if self._model_dir != estimator.model_dir and self._event_file_pattern:
            self._model_dir = estimator.model_dir
            self._best_eval_result = self._recover_best(estimator.model_dir)
        if eval_result is None:
            return None
        if self._best_eval_result is None or self._compare_fn(self._best_eval_result, eval_result):
            logger.info(
                "Exporting a better model (%s instead of %s)...", dict(eval_result), self._best_eval_result
            )
            path = self._export(estimator, export_path, checkpoint_path)
            garbage_collect_exports(export_path, self._exports_to_keep)
            self._best_eval_result = dict(eval_result)
            return path
        return None
