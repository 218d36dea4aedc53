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

import json
import math
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from resnet_desktop.core.atomic import atomic_write_bytes

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

METHODS = ("msp", "max_logit", "energy", "knn")
DEFAULT_ACCEPT = 0.95  # share of validation images the suggested threshold accepts
MAX_K = 1000
MAX_ABS_THRESHOLD = 1e6
BANK_KEY = "features"
MAX_BANK_ROWS = 200_000
MAX_BANK_DIM = 4096
_MAX_HEADER_BYTES = 64 * 1024
_MAX_BANK_BYTES = 8 + _MAX_HEADER_BYTES + MAX_BANK_ROWS * MAX_BANK_DIM * 4
_SIMILARITY_CHUNK = 1 << 22  # query rows x bank rows per matrix product: 16 MB of float32


class OodError(ValueError):
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
    import numpy as np

    queries, rows = l2_normalise(features), l2_normalise(bank)
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


# ------------------------------------------------------------------ threshold and AUROC


def suggest_threshold(val_scores: np.ndarray, accept: float = DEFAULT_ACCEPT) -> float:
    """The score at which ``accept`` of the validation images are still accepted.

    An image is accepted when its score is at least the threshold, so this is the
    ``1 - accept`` quantile (the 5th percentile by default), taken as an observed score
    (``lower``) so that at least ``accept`` of these images pass it.
    """
    import numpy as np

    scores = np.asarray(val_scores, dtype=np.float64).ravel()
    if not scores.size or not np.isfinite(scores).all():
        raise OodError("the threshold needs at least one validation score, all finite")
    if not 0.0 < accept <= 1.0:
        raise OodError(f"the accepted share must be in (0, 1], not {accept}")
    return float(np.quantile(scores, 1.0 - accept, method="lower"))


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
