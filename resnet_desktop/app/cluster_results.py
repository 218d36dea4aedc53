"""Where a cluster job's results go: Parquet shards, then the catalog, in batches.

The driver turns each batch the model actors return (see
:mod:`resnet_desktop.app.cluster_workers` for its columns) into the local run's
``Prediction`` rows, and a :class:`Recorder` keeps them: one Parquet file with the CSV's
columns and ``ood_score`` every SHARD_ROWS rows or SHARD_SECONDS, then the same rows in
the catalog through the local run's store.
"""

from __future__ import annotations

import io
import math
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_desktop.app.catalog_run import ResultStore
from resnet_desktop.app.cluster_workers import NO_SIGNATURE, Batch
from resnet_desktop.core import paths as app_paths
from resnet_desktop.core.atomic import atomic_write_bytes
from resnet_desktop.core.catalog import FileSignature
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.export import csv_header
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.runtime import ResolvedRuntime, RuntimeOptions

if TYPE_CHECKING:
    from resnet_desktop.app.model_identity import IdentifiedModel

SHARD_ROWS = 8192  # results per Parquet shard, at most
SHARD_SECONDS = 10.0  # and at most this long between shards
OOD_SCORE = "ood_score"  # the shards' column beside the CSV's


def default_shards_folder(model: IdentifiedModel) -> Path:
    """Where a model's shards go unless --shards says: one folder per model identity."""
    key = model.identity.key[:12] if model.identity is not None else "unrecorded"
    return app_paths.data_dir() / "cluster-results" / f"{model.args.name}-{key}"


class ShardWriter:
    """Results as Parquet files with the CSV's columns, each written atomically.

    And ``ood_score``, each image's "unknown" score where the model has one (null
    otherwise): the CSV's ``decision`` depends on a threshold the user may change.

    Names start with the job's start time, so the shards of a resumed job sit beside
    those of the first; each image's latest result is the catalog's.
    """

    def __init__(self, folder: Path, top_k: int) -> None:
        self.folder = folder
        self.top_k = top_k
        self._stem = datetime.now(timezone.utc).strftime("part-%Y%m%dT%H%M%S")
        self._count = 0
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"cannot make the shards folder {folder}: {error}") from None

    def write(self, predictions: list[Prediction]) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, list[Any]] = {name: [] for name in [*csv_header(self.top_k), OOD_SCORE]}
        for prediction in predictions:
            columns["path"].append(os.fspath(prediction.path))
            for rank in range(1, self.top_k + 1):
                ok = rank <= len(prediction.labels)
                columns[f"label_{rank}"].append(prediction.labels[rank - 1] if ok else None)
                columns[f"prob_{rank}"].append(prediction.probs[rank - 1] if ok else None)
            columns["error"].append(prediction.error)
            columns[OOD_SCORE].append(prediction.ood_score)
        types = {
            name: pa.float64() if name.startswith("prob_") or name == OOD_SCORE else pa.string()
            for name in columns
        }
        table = pa.table({name: pa.array(values, types[name]) for name, values in columns.items()})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        self._count += 1
        path = self.folder / f"{self._stem}-{self._count:06d}.parquet"
        try:
            atomic_write_bytes(path, buffer.getvalue())
        except OSError as error:
            raise UserError(f"cannot write the shard {path}: {error}") from None
        return path


class Recorder:
    """Finished batches, kept as one shard and then in the catalog, every so often.

    One shard per SHARD_ROWS rows or SHARD_SECONDS, not per batch: each shard is synced
    to disk (about 10 ms here), which per batch would take a GPU job's driver half its
    time. The shard is written before the catalog records its rows, so a driver killed
    in between leaves rows that the next run computes again (a repeat in the shards,
    never a result missing from them); the catalog holds each file once.
    """

    def __init__(self, store: ResultStore, shards: ShardWriter) -> None:
        self.store = store
        self.shards = shards
        self._batches: list[tuple[list[Prediction], dict, ResolvedRuntime]] = []
        self._rows = 0
        self._since = time.monotonic()

    def add(
        self,
        predictions: list[Prediction],
        signatures: dict[Path, FileSignature | None],
        runtime: ResolvedRuntime,
    ) -> None:
        self._batches.append((predictions, signatures, runtime))
        self._rows += len(predictions)
        if self._rows >= SHARD_ROWS or time.monotonic() - self._since >= SHARD_SECONDS:
            self.flush()

    def flush(self) -> None:
        batches, self._batches, self._rows = self._batches, [], 0
        self._since = time.monotonic()
        if not batches:
            return
        self.shards.write([row for predictions, _, _ in batches for row in predictions])
        for predictions, signatures, runtime in batches:
            self.store.record(predictions, signatures, runtime)


def batch_predictions(batch: Batch, class_names: list[str]) -> list[Prediction]:
    predictions = []
    for path, error, indices, probs, score in zip(
        batch["path"], batch["error"], batch["indices"], batch["probs"], batch["ood_score"],
        strict=True,
    ):  # fmt: skip
        if error:
            predictions.append(Prediction(Path(path), error=str(error)))
            continue
        kept = tuple(int(index) for index in indices)
        predictions.append(
            Prediction(
                Path(path),
                labels=tuple(class_names[index] for index in kept),
                probs=tuple(float(prob) for prob in probs),
                indices=kept,
                ood_score=None if math.isnan(score) else float(score),
            )
        )
    return predictions


def batch_notices(batch: Batch) -> list[str]:
    """The one-line notices a worker's set-up sent with ``batch``."""
    return [line for notice in batch["notice"] if notice for line in str(notice).splitlines()]


def batch_signatures(batch: Batch) -> dict[Path, FileSignature | None]:
    return {
        Path(path): None if size == NO_SIGNATURE else FileSignature(int(size), int(m), int(c))
        for path, size, m, c in zip(
            batch["path"], batch["size"], batch["mtime_ns"], batch["ctime_ns"], strict=True
        )
    }


def batch_runtime(batch: Batch, options: RuntimeOptions) -> ResolvedRuntime:
    """How the worker that computed ``batch`` ran the network."""
    return ResolvedRuntime(
        options,
        str(batch["device"][0]),
        str(batch["precision"][0]),
        str(batch["engine"][0]),
        int(batch["batch_size"][0]),
        "chosen by the Ray worker for its hardware",
    )
