"""Heatmaps for the window: "why this label?" as a job, with the model kept between clicks.

The user looks at one image after another, or clicks one class after another, with the
same model: loading it (a second for ResNet-50) is done once, and every later heatmap
costs only its own pass. The window runs :meth:`Explainer.job` in a worker; two jobs
that overlap (a click while the previous heatmap is computed) take turns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.core.explain import ExplainError, Explanation, explain_file
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.model_loader import LoadedModel, load_model
from resnet_desktop.core.zoo import SPECS

ShouldStop = Callable[[], bool]
WINDOW_SIDE = 1024  # heatmaps for the window: larger than the panel, smaller than a photo


@dataclass(frozen=True)
class ExplainRequest:
    """The heatmap of ``label`` (None: the top-1) of model ``model`` over the image ``path``."""

    model: str
    path: Path
    label: str | None = None


@dataclass(frozen=True)
class ExplainResult:
    request: ExplainRequest
    explanation: Explanation


class Explainer:
    """Makes heatmaps with the last model it loaded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: LoadedModel | None = None

    def job(self, request: ExplainRequest) -> Callable[[ShouldStop], Iterator[ExplainResult]]:
        """A job that yields the one result of ``request``, unless stopped before the pass."""

        def job(should_stop: ShouldStop) -> Iterator[ExplainResult]:
            with self._lock:
                model = self._load(request.model, should_stop)
                if should_stop():
                    return
                explanation = explain_file(model, request.path, request.label, WINDOW_SIDE)
            yield ExplainResult(request, explanation)

        return job

    def forget(self) -> None:
        """Drop the kept model (its library entry changed); a running job finishes first."""
        with self._lock:
            self._model = None

    def _load(self, name: str, should_stop: ShouldStop) -> LoadedModel:
        if name not in SPECS and name not in ModelLibrary():
            raise ExplainError(
                f"“{name}”, the model that classified this image, is no longer in the "
                "library: classify the image again"
            )
        if self._model is None or self._model.name != name:
            self._model = None  # free the old network before the new one is built
            self._model = load_model(name, should_stop=should_stop)
        return self._model
