"""Saying "none of my classes": out-of-distribution scores, their threshold, their files.

A fine-tuned model's maximum softmax probability is a weak test of "this image is none of
my classes" (a shopping basket reads "ship 99.998 %"). This module scores every image
with one of the candidates measured in ``tests/benchmarks/ood_bench.py``: maximum
softmax, max logit, energy (Liu et al. 2020), or the distance to the k-th nearest
training image in the network's normalised penultimate feature space (Sun et al. 2022).
Higher scores always mean "more like the training images"; an image scoring below the
model's threshold is reported as unknown.

The threshold suggested for a model is the score at which 95 % of its validation images
are still accepted. The setup (method, k, threshold) lives in the model's JSON metadata;
the kNN method's training features live in a safetensors file beside the model. Both
are validated and size-bounded when read, since a model folder may come from anyone.

numpy is imported inside the functions (as in :mod:`.imaging`) and torch only by
:func:`logits_and_features`, so the window can read a model's setup before either loads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from resnet_desktop.core.atomic import atomic_write_bytes
from resnet_desktop.core.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from resnet_desktop.core.predictor import Prediction

METHODS = ("msp", "max_logit", "energy", "knn")
DEFAULT_ACCEPT = 0.95  # share of validation images the suggested threshold accepts
MAX_K = 1000
MAX_CHOSEN_K = 50
MAX_ABS_THRESHOLD = 1e6
BANK_KEY = "features"
MAX_BANK_ROWS = 200_000
MAX_BANK_DIM = 4096
_MAX_HEADER_BYTES = 64 * 1024
_MAX_BANK_BYTES = 8 + _MAX_HEADER_BYTES + MAX_BANK_ROWS * MAX_BANK_DIM * 4
_SIMILARITY_CHUNK = 1 << 22  # query rows x bank rows per matrix product: 16 MB of float32
_SCORE_RANGES = {"msp": (0.0, 1.0), "knn": (-2.0, 0.0)}  # what each method can score


class OodError(UserError):
    """An out-of-distribution setup or feature file that cannot be used; worded for the user."""


# ------------------------------------------------------------------------------ scores


def msp(logits: np.ndarray) -> np.ndarray:
    """Maximum softmax probability per row (Hendrycks & Gimpel 2017): the baseline."""
    import numpy as np

    values = _rows(logits, "logits")
    shifted = values - values.max(axis=1, keepdims=True)
    return 1.0 / np.exp(shifted).sum(axis=1)


def max_logit(logits: np.ndarray) -> np.ndarray:
    """The largest logit per row (Hendrycks et al. 2022): not squashed by the softmax."""
    return _rows(logits, "logits").max(axis=1)


def energy(logits: np.ndarray) -> np.ndarray:
    """Negative free energy at temperature 1, ``logsumexp(logits)`` (Liu et al. 2020)."""
    import numpy as np

    values = _rows(logits, "logits")
    top = values.max(axis=1)
    return top + np.log(np.exp(values - top[:, None]).sum(axis=1))


def l2_normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); all-zero rows stay zero."""
    import numpy as np

    values = _rows(features, "features").astype(np.float32)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    return values / np.maximum(norms, np.float32(1e-12))


def knn_score(features: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    """Minus the distance to the k-th nearest bank row, both sides L2-normalised.

    Sun et al. 2022, "Out-of-distribution detection with deep nearest neighbors". The
    similarities are computed a chunk of queries at a time, so a large bank never needs
    a queries x bank matrix in memory.
    """

    return _kth_distance(l2_normalise(features), l2_normalise(bank), k)


def _kth_distance(queries: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """:func:`knn_score` of rows already normalised (a model's bank is, once)."""
    import numpy as np

    if queries.shape[1] != rows.shape[1]:
        raise OodError(f"features have {queries.shape[1]} values, the bank {rows.shape[1]}")
    if not 1 <= k <= len(rows):
        raise OodError(f"k must be between 1 and the bank's {len(rows)} rows, not {k}")
    chunk = max(1, _SIMILARITY_CHUNK // len(rows))
    kth = np.empty(len(queries), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        similarity = queries[start : start + chunk] @ rows.T
        kth[start : start + chunk] = -np.partition(-similarity, k - 1, axis=1)[:, k - 1]
    return -np.sqrt(np.maximum(2.0 - 2.0 * kth, 0.0))


def _rows(values: np.ndarray, what: str) -> np.ndarray:
    import numpy as np

    array = np.asarray(values)
    if array.ndim != 2 or array.shape[1] == 0:
        raise OodError(f"{what} must be a 2-D array with at least one column, not {array.shape}")
    return array.astype(np.float64) if what == "logits" else array


_LOGIT_SCORES = {"msp": msp, "max_logit": max_logit, "energy": energy}


# ------------------------------------------------------------------ threshold and AUROC


def suggest_threshold(val_scores: np.ndarray, accept: float = DEFAULT_ACCEPT) -> float:
    """The highest validation score that still accepts ``accept`` of the validation images.

    An image is accepted when its score is at least the threshold; with the default 0.95
    this is the 5th percentile, taken as an observed score so that at least 95 % pass.
    """
    import numpy as np

    scores = np.sort(np.asarray(val_scores, dtype=np.float64).ravel())
    if not scores.size or not np.isfinite(scores).all():
        raise OodError("the threshold needs at least one validation score, all finite")
    if not 0.0 < accept <= 1.0:
        raise OodError(f"the accepted share must be in (0, 1], not {accept}")
    rejected = math.floor((1.0 - accept) * scores.size + 1e-9)  # (1 - 0.9) * 10 is 0.999..
    return float(scores[rejected])


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Area under the ROC curve of "in scores higher than out": 1 perfect, 0.5 chance.

    The Mann-Whitney statistic from average ranks, so a tie between an in and an out
    score counts one half, as the pairwise definition does.
    """
    import numpy as np

    positives = np.asarray(in_scores, dtype=np.float64).ravel()
    negatives = np.asarray(out_scores, dtype=np.float64).ravel()
    if not positives.size or not negatives.size:
        raise OodError("AUROC needs at least one in-distribution and one out score")
    ranks = _average_ranks(np.concatenate([positives, negatives]))
    rank_sum = ranks[: positives.size].sum()
    wins = rank_sum - positives.size * (positives.size + 1) / 2.0
    return float(wins / (positives.size * negatives.size))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given the mean of the ranks they span."""
    import numpy as np

    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    mean_rank = (starts + ends + 1) / 2.0  # mean of starts+1 .. ends
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


# ------------------------------------------------------------------------ the setup


def choose_k(class_counts: Sequence[int]) -> int:
    """k for a bank of training features: a quarter of the smallest class, at most 50.

    A k larger than an image's own class in the bank makes the k-th neighbour of an
    in-distribution image one from another class, and its score collapses. Measured on
    held-out CIFAR-10 classes (``ood_bench.py``), a quarter of the per-class count was
    best at 16, 40 and 80 images per class; 50 is Sun et al.'s k for CIFAR-10.
    """
    present = [count for count in class_counts if count > 0]
    if not present:
        raise OodError("the feature bank needs at least one training image")
    return max(1, min(MAX_CHOSEN_K, min(present) // 4))


def score_range(method: str) -> tuple[float, float]:
    """The lowest and highest score (and so threshold) ``method`` can give."""
    return _SCORE_RANGES.get(method, (-MAX_ABS_THRESHOLD, MAX_ABS_THRESHOLD))


@dataclass(frozen=True)
class OodSetup:
    """How a model says "unknown": its score, k for ``knn``, and the threshold.

    Stored in the model's metadata; a user may change the threshold. Images scoring
    below it are unknown.
    """

    method: str
    threshold: float
    k: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise OodError(f"unknown OOD method {self.method!r}; known: {', '.join(METHODS)}")
        if not _is_number(self.threshold):
            raise OodError(f"the OOD threshold must be a number, not {self.threshold!r}")
        low, high = score_range(self.method)
        if not low <= self.threshold <= high:
            raise OodError(f"a {self.method} threshold must be in [{low}, {high}]")
        object.__setattr__(self, "threshold", float(self.threshold))
        self._check_k()

    def _check_k(self) -> None:
        if self.method != "knn":
            if self.k is not None:
                raise OodError(f"k applies to the knn method only, not {self.method}")
        elif not (_is_int(self.k) and 1 <= self.k <= MAX_K):  # type: ignore[operator]
            raise OodError(f"k must be a whole number from 1 to {MAX_K}, not {self.k!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "threshold": self.threshold, "k": self.k}

    @classmethod
    def from_dict(cls, data: Any) -> OodSetup:
        """The setup in a model's metadata; unknown keys are ignored, bad values refused."""
        if not isinstance(data, dict):
            raise OodError(f"the OOD setup must be a JSON object, not {type(data).__name__}")
        missing = [key for key in ("method", "threshold") if key not in data]
        if missing:
            raise OodError(f"the OOD setup lacks {', '.join(missing)}")
        return cls(method=data["method"], threshold=data["threshold"], k=data.get("k"))

    def scores(
        self, logits: np.ndarray, features: np.ndarray, bank: np.ndarray | None = None
    ) -> np.ndarray:
        """Each image's score under this setup; ``bank`` is needed by ``knn`` only."""
        if self.method == "knn":
            if bank is None or self.k is None:
                raise OodError("the knn method needs the model's training features")
            return knn_score(features, bank, self.k)
        return _LOGIT_SCORES[self.method](logits)

    def accepts(self, scores: np.ndarray) -> np.ndarray:
        """True where an image is one of the model's classes, False where it is unknown."""
        import numpy as np

        return np.asarray(scores) >= self.threshold


@dataclass(frozen=True, eq=False)
class OodScorer:
    """A model's setup with what its method needs, ready to score a prediction's batches.

    The bank is normalised once here, not per batch.
    """

    setup: OodSetup
    bank: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.needs_features:
            if self.bank is None:
                raise OodError("the knn method needs the model's training features")
            bank = _checked_bank(l2_normalise(self.bank), "the feature bank")
            if self.setup.k is None or self.setup.k > len(bank):
                raise OodError(f"k = {self.setup.k} needs more than the bank's {len(bank)} rows")
            object.__setattr__(self, "bank", bank)

    @property
    def needs_features(self) -> bool:
        """Whether scoring needs the penultimate features, not only the logits."""
        return self.setup.method == "knn"

    @property
    def width(self) -> int | None:
        """Features per image the bank holds (None: no bank)."""
        return None if self.bank is None else int(self.bank.shape[1])

    def scores(self, logits: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        """One score per row; ``features`` are needed when :attr:`needs_features`."""
        if not self.needs_features:
            return _LOGIT_SCORES[self.setup.method](logits)
        if features is None or self.bank is None or self.setup.k is None:
            raise OodError("the knn method needs the images' features")
        return _kth_distance(l2_normalise(features), self.bank, self.setup.k)


UNKNOWN = "unknown"


@dataclass(frozen=True)
class Decider:
    """Reads a result as one of the model's classes or ``unknown``.

    ``from_confidence``: the model has no setup of its own (a threshold given on the
    command line), so its score is the top-1 probability, the maximum softmax.
    """

    threshold: float
    from_confidence: bool = False

    def score(self, prediction: Prediction) -> float | None:
        if not prediction.ok or not prediction.probs:
            return None
        return self.score_of(prediction.probs[0], prediction.ood_score)

    def score_of(self, confidence: float, ood_score: float | None) -> float | None:
        """The score compared with the threshold, from a result's top-1 probability and
        its OOD score (what the catalog stores of it)."""
        return confidence if self.from_confidence else ood_score

    def below(self, confidence: float, ood_score: float | None) -> bool:
        """Whether a result with these scores is unknown; one without a score is known."""
        score = self.score_of(confidence, ood_score)
        return score is not None and score < self.threshold

    def is_unknown(self, prediction: Prediction) -> bool:
        """Below the threshold; a result stored without a score is taken as known."""
        if not prediction.ok or not prediction.probs:
            return False
        return self.below(prediction.probs[0], prediction.ood_score)

    def decide(self, prediction: Prediction) -> str:
        """The label, ``unknown``, or '' for an image that could not be classified."""
        if not prediction.ok or not prediction.labels:
            return ""
        return UNKNOWN if self.is_unknown(prediction) else prediction.labels[0]


def knn_setup(
    train_features: np.ndarray,
    val_features: np.ndarray,
    class_counts: Sequence[int],
    accept: float = DEFAULT_ACCEPT,
) -> tuple[OodSetup, np.ndarray]:
    """The kNN setup a fine-tuning run stores, and the bank to save beside the model.

    The threshold comes from the validation images, which are not in the bank, so they
    score as new in-distribution images will.
    """
    bank = l2_normalise(train_features)
    k = min(choose_k(class_counts), len(bank))
    threshold = suggest_threshold(knn_score(val_features, bank, k), accept)
    return OodSetup("knn", threshold, k), bank


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


# ------------------------------------------------------------------- the feature bank


def save_bank(path: str | os.PathLike[str], features: np.ndarray) -> None:
    """Write L2-normalised float32 training features as safetensors, atomically."""
    atomic_write_bytes(path, bank_bytes(features, os.fspath(path)))


def bank_bytes(features: np.ndarray, where: str = "the feature bank") -> bytes:
    """The safetensors file :func:`load_bank` reads: the features, L2-normalised float32."""
    import safetensors.numpy

    return safetensors.numpy.save({BANK_KEY: _checked_bank(l2_normalise(features), where)})


def load_bank(path: str | os.PathLike[str]) -> np.ndarray:
    """The training features saved by :func:`save_bank`, read with a size bound and checked.

    Raises:
        OodError: the file is missing, too large, not safetensors, or holds anything but
            one finite float32 matrix of at most MAX_BANK_ROWS x MAX_BANK_DIM.
    """
    import safetensors.numpy

    data = _read_bounded(path, _MAX_BANK_BYTES)
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as error:  # safetensors raises its own error type for damaged files
        raise OodError(f"{os.fspath(path)} is not a readable feature file ({error})") from None
    if set(tensors) != {BANK_KEY}:
        raise OodError(f"{os.fspath(path)} must hold one tensor named {BANK_KEY!r}")
    return _checked_bank(tensors[BANK_KEY], os.fspath(path))


def _read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise OodError(f"cannot read {os.fspath(path)}: {error.strerror or error}") from None
    if len(data) > limit:
        raise OodError(f"{os.fspath(path)} is larger than a feature file can be")
    return data


def _checked_bank(bank: np.ndarray, where: str) -> np.ndarray:
    import numpy as np

    if bank.dtype != np.float32 or bank.ndim != 2:
        raise OodError(f"{where}: features must be a float32 matrix, not {bank.dtype} {bank.shape}")
    rows, dim = bank.shape
    if not (1 <= rows <= MAX_BANK_ROWS and 1 <= dim <= MAX_BANK_DIM):
        raise OodError(
            f"{where}: {rows} x {dim} features; at most {MAX_BANK_ROWS} x {MAX_BANK_DIM}"
        )
    if not np.isfinite(bank).all():
        raise OodError(f"{where}: the features contain NaN or infinity")
    return np.ascontiguousarray(bank)


# ------------------------------------------------------------------------ features


def logits_and_features(
    network: nn.Module, head: nn.Module, inputs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass giving the logits and the head's input (the penultimate features).

    A forward hook reads what the head receives, so this works for any architecture of
    the zoo without knowing how its features are pooled.
    """
    captured: list[torch.Tensor] = []
    handle = head.register_forward_hook(lambda _module, args, _output: captured.append(args[0]))
    try:
        logits = network(inputs)
    finally:
        handle.remove()
    return logits, captured[0].flatten(1)
