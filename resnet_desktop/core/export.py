"""CSV export of predictions, shared by the CLI and the GUI. (OWNER: lead)"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from resnet_desktop.core.predictor import Prediction


def csv_header(top_k: int) -> list[str]:
    """``path,label_1,prob_1,...,label_k,prob_k,error``."""
    raise NotImplementedError


def write_csv(path: str | Path, predictions: Iterable[Prediction], top_k: int) -> int:
    """Write atomically; returns the number of rows."""
    raise NotImplementedError


def csv_text(predictions: Iterable[Prediction], top_k: int) -> str:
    """The same CSV as a string (clipboard)."""
    raise NotImplementedError
