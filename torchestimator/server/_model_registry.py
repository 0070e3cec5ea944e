"""Which versions of which models are served: discovery under each base path, hot load, safe retirement.

TF Serving's file-system source and its availability-preserving policy, in one small class:

- a version is a sub-directory of the model's base path whose name is an integer (the exporter's
  ``<timestamp>`` directories; ``temp-*`` directories are ignored, and an export appears by an atomic
  rename, so a numeric directory is complete);
- the version policy picks the *aspired* versions: ``latest`` (the ``num_versions`` largest, default 1),
  ``all``, or ``specific`` versions;
- every ``file_system_poll_wait_seconds`` the base paths are listed again: a new aspired version is loaded
  **before** the version it replaces is retired, so a request never finds no version;
- a retired version leaves the routing table at once, but its predictor is released only when the last
  request that acquired it has finished (in-flight requests complete on the version they started on).

Example:
    >>> registry = ModelRegistry([ModelConfig("m", base_path)], poll_seconds=1.0)  # doctest: +SKIP
    >>> with registry.acquire("m") as servable:                                   # doctest: +SKIP
    ...     servable.predictor.signatures["predict"](examples=[...])
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from torchestimator.errors import InvalidArgumentError
from torchestimator.server._status import ServingError

__all__ = ["ModelConfig", "ModelRegistry", "Servable"]

_LOG = logging.getLogger("torchestimator.server")
_MAX_LOAD_ATTEMPTS = 5  # TF Serving's default max_num_load_retries


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model (TF Serving's ``ModelConfig`` subset).

    Attributes:
        name: the model name in request URLs and ``ModelSpec.name``.
        base_path: the directory holding numeric version sub-directories (an exporter's ``export_dir_base``).
        version_policy: ``"latest"`` (TF Serving's default), ``"all"`` or ``"specific"``.
        num_versions: how many of the largest versions ``latest`` serves.
        versions: the versions ``specific`` serves.
        version_labels: ``{label: version}`` for ``/labels/<label>`` and ``ModelSpec.version_label``.
    """

    name: str
    base_path: str
    version_policy: str = "latest"  # "latest" | "all" | "specific"
    num_versions: int = 1
    versions: tuple[int, ...] = ()
    version_labels: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidArgumentError("ModelConfig.name must be a non-empty model name; received ''.")
        if self.version_policy not in ("latest", "all", "specific"):
            raise InvalidArgumentError(
                f"ModelConfig.version_policy must be 'latest', 'all' or 'specific'; received {self.version_policy!r}."
            )
        if self.version_policy == "latest" and self.num_versions < 1:
            raise InvalidArgumentError(f"num_versions must be >= 1; received {self.num_versions}.")

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def aspired(self, available: Sequence[int]) -> list[int]:
        """The versions this policy serves among ``available``."""
        ordered = sorted(available)
        if self.version_policy == "all":
            return ordered
        if self.version_policy == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-self.num_versions :]


class Servable:
    """One loaded version: ``name``, ``version`` and the ``serving.load`` ``predictor``."""

    def __init__(self, name: str, version: int, predictor: Any) -> None:
        self.name = name
        self.version = version
        self.predictor = predictor
        self._in_flight = 0
        self._retired = False
        self.state = "AVAILABLE"

    def _acquire(self) -> None:
        self._in_flight += 1

    def _release(self) -> bool:
        """Drop one reference; True when a retired servable just became unused."""
        self._in_flight -= 1
        return self._retired and self._in_flight == 0

    def _retire(self) -> bool:
        self._retired = True
        self.state = "UNLOADING"
        return self._in_flight == 0


def list_versions(base_path: str) -> list[int]:
    """The integer-named sub-directories of ``base_path`` (empty when it does not exist)."""
    try:
        names = os.listdir(base_path)
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(base_path, n)))


class ModelRegistry:
    """The served models and their loaded versions (see the module docstring).

    Args:
        configs: the models.
        load: ``path -> predictor`` (default ``serving.load(path, backend=backend)``).
        poll_seconds: seconds between base-path scans; ``0`` scans once, at :meth:`start`.
        backend: the ``serving.load`` backend when ``load`` is not given.
        providers: ONNX Runtime execution providers for ``serving.load`` when ``load`` is not given.
    """

    def __init__(
        self,
        configs: Sequence[ModelConfig],
        load: Callable[[str], Any] | None = None,
        poll_seconds: float = 1.0,
        backend: str | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        names = [c.name for c in configs]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"Illegal to list a model multiple times in config list: {names}.")
        self.configs = {c.name: c for c in configs}
        self._load = load or _default_loader(backend, providers)
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._serving: dict[str, dict[int, Servable]] = {c.name: {} for c in configs}
        self._states: dict[str, dict[int, tuple[str, str]]] = {c.name: {} for c in configs}  # (state, error)
        self._attempts: dict[tuple[str, int], int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_change: Callable[[str, int, str], None] | None = None

    def start(self) -> None:
        """Load the aspired versions now, then poll the base paths in a daemon thread."""
        self.poll_once()
        if self.poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll_loop, name="te-model-poll", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop polling (loaded versions stay usable until the process exits)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll_once()
            except Exception:  # a bad scan must not stop future scans
                _LOG.exception("model poll failed")

    def poll_once(self) -> None:
        """Scan every base path once: load new aspired versions, then retire the others."""
        for name, config in self.configs.items():
            aspired = config.aspired(list_versions(config.base_path))
            if not aspired and not self._serving[name]:
                _LOG.warning("No versions of servable %s found under base path %s", name, config.base_path)
            for version in aspired:
                if version not in self._serving[name]:
                    self._load_version(name, version, os.path.join(config.base_path, str(version)))
            loaded = set(self._serving[name])
            if (
                loaded & set(aspired) or not aspired
            ):  # availability preserving: keep the old until a new one loads
                for version in sorted(loaded - set(aspired)):
                    self._retire_version(name, version)

    def _load_version(self, name: str, version: int, path: str) -> None:
        attempts = self._attempts.get((name, version), 0)
        if attempts >= _MAX_LOAD_ATTEMPTS:
            return
        self._attempts[(name, version)] = attempts + 1
        with self._lock:
            self._states[name][version] = ("LOADING", "")
        try:
            predictor = self._load(path)
        except Exception as err:
            _LOG.error("Loading servable {name: %s version: %d} failed: %s", name, version, err)
            with self._lock:
                self._states[name][version] = ("END", f"{type(err).__name__}: {err}")
            return
        with self._lock:
            self._serving[name][version] = Servable(name, version, predictor)
            self._states[name][version] = ("AVAILABLE", "")
        _LOG.info("Successfully loaded servable version {name: %s version: %d}", name, version)
        if self.on_change is not None:
            self.on_change(name, version, "AVAILABLE")

    def _retire_version(self, name: str, version: int) -> None:
        with self._lock:
            servable = self._serving[name].pop(version)
            self._states[name][version] = ("UNLOADING", "")
            unused = servable._retire()
        if unused:
            self._finish(servable)

    def _finish(self, servable: Servable) -> None:
        servable.predictor = None
        servable.state = "END"
        with self._lock:
            self._states[servable.name][servable.version] = ("END", "")
        _LOG.info("Unloaded servable version {name: %s version: %d}", servable.name, servable.version)
        if self.on_change is not None:
            self.on_change(servable.name, servable.version, "END")

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a request names, acquired (call :meth:`release` after use).

        Raises:
            ServingError: NOT_FOUND (TF Serving's "Servable not found for request: ..."), INVALID_ARGUMENT for
                an unknown label.
        """
        if label is not None:
            config = self.configs.get(name)
            if config is None or label not in config.version_labels:
                raise ServingError("INVALID_ARGUMENT", f"Unrecognized servable version label: {label}")
            version = config.version_labels[label]
        with self._lock:
            versions = self._serving.get(name, {})
            if version is None:
                servable = versions[max(versions)] if versions else None
                request = f"Latest({name})"
            else:
                servable = versions.get(version)
                request = f"Specific({name}, {version})"
            if servable is None:
                raise ServingError("NOT_FOUND", f"Servable not found for request: {request}")
            servable._acquire()
        return servable

    def release(self, servable: Servable) -> None:
        """Drop a reference taken by :meth:`resolve`; unloads a retired version when it was the last."""
        with self._lock:
            unused = servable._release()
        if unused:
            self._finish(servable)

    @contextmanager
    def acquire(self, name: str, version: int | None = None, label: str | None = None) -> Iterator[Servable]:
        """:meth:`resolve` and :meth:`release` around a block."""
        servable = self.resolve(name, version, label)
        try:
            yield servable
        finally:
            self.release(servable)

    def status(self, name: str, version: int | None = None) -> list[tuple[int, str, str]]:
        """``[(version, state, error message)]`` as ``GetModelStatus`` reports it.

        Raises:
            ServingError: NOT_FOUND with TF Serving's messages.
        """
        with self._lock:
            states = dict(self._states.get(name, {}))
        if version is not None:
            if version not in states:
                raise ServingError("NOT_FOUND", f"Could not find version {version} of model {name}")
            return [(version, *states[version])]
        if not states:
            raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
        return [(v, *states[v]) for v in sorted(states, reverse=True)]

    def ready(self) -> bool:
        """True when every model has at least one available version."""
        with self._lock:
            return all(self._serving[name] for name in self.configs)


def _default_loader(backend: str | None, providers: Sequence[str] | None = None) -> Callable[[str], Any]:
    def load(path: str) -> Any:
        from torchestimator import serving

        return serving.load(path, backend=backend, providers=providers)

    return load
