"""Batch prediction: a generator of results the CLI and the GUI both consume. (OWNER: lead)"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.core.model_loader import LoadedModel


@dataclass(frozen=True)
class Prediction:
    """The top-k of one image, or why it has none (``error``)."""

    path: Path
    labels: tuple[str, ...] = ()
    probs: tuple[float, ...] = ()
    indices: tuple[int, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class BatchResult:
    predictions: list[Prediction]
    done: int  # images finished so far, this batch included
    total: int
    elapsed: float  # seconds since the run started

    @property
    def images_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.images_per_second
        return (self.total - self.done) / rate if rate > 0 else None


class Predictor:
    """Runs one loaded model over lists of image paths.

    ``device``: auto|cpu|cuda|mps; ``precision``: auto|fp32|bf16|fp16.
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int | None = None,
        top_k: int = 5,
    ) -> None:
        raise NotImplementedError

    def predict_iter(
        self, paths: Sequence[Path], should_stop: Callable[[], bool] | None = None
    ) -> Iterator[BatchResult]:
        raise NotImplementedError
