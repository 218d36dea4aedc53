"""What a Ray cluster's workers run: reading and decoding files, and the app's Predictor.

The functions and the class here are handed to Ray Data's ``map_batches`` by
:mod:`resnet_desktop.app.cluster`; none of them imports Ray, so they run (and are tested)
like any other code. Batches are dicts of numpy arrays, one row per file:

* in: ``path`` (a local path or a URI that pyarrow's filesystems read) and the file's
  signature as the catalog checked it (``size``, ``mtime_ns``, ``ctime_ns``; -1 for none),
  carried along so the driver can record each result against the file as it was;
* after :func:`decode_files`: ``image`` (uint8, crop x crop x 3; zeros for a bad file) and
  ``error`` (the one-line reason, empty when the file decoded);
* after :class:`ModelActor`: ``indices`` and ``probs`` (top-k, -1 and NaN on error rows),
  ``ood_score`` (NaN where there is none), how the worker ran the network (``device``,
  ``precision``, ``engine``, ``batch_size``) and ``notice``, what the worker's set-up
  had to say (in the first row of its first batch); or only ``problem``, why this worker
  cannot run the model.

Decoding uses the local run's per-file boundary (:func:`imaging.load_input_bytes`), so a
bad file gives the same error row on a cluster as on a laptop.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.app.unknown import Notify, library_scorer
from resnet_desktop.core import imaging
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.imaging import DecodeError
from resnet_desktop.core.library import (
    METADATA_SUFFIX,
    OOD_SUFFIX,
    WEIGHTS_SUFFIX,
    ModelLibrary,
)
from resnet_desktop.core.model_loader import LoadedModel, load_library_model
from resnet_desktop.core.ood import OodScorer
from resnet_desktop.core.predictor import Predictor
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.safe_read import MIB
from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import numpy as np
    import pyarrow.fs

Batch = dict[str, "np.ndarray"]

MAX_FILE_BYTES = 256 * MIB  # read into memory whole: larger files are refused, not read
PACKAGE_NAME = "cluster-model"  # the model's name in a worker's own library folder
NO_SIGNATURE = -1


# ------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class ModelPackage:
    """A model as the library stores it: safetensors weights and JSON metadata, as bytes.

    What workers receive instead of a pickled network: safetensors holds tensors only,
    never code, and the JSON goes through the library's own validation on the worker.
    A model that says "unknown" has its setup in the JSON's metrics and, for kNN, its
    training features as a third file, checked on the worker as a local run checks them.
    """

    name: str  # the model's name as the user gave it
    preprocess: Preprocess  # also in the metadata; for decoding, which needs no network
    weights: bytes
    metadata: bytes
    ood_bank: bytes | None = None  # the library's <name>.ood.safetensors

    @classmethod
    def of(cls, model: LoadedModel, ood: OodScorer | None = None) -> ModelPackage:
        """``model``, with ``ood`` (the user's checked setup and features) if it has one."""
        with tempfile.TemporaryDirectory(prefix="resnet-desktop-package-") as folder:
            entry = ModelLibrary(Path(folder)).add(
                PACKAGE_NAME,
                model.spec.name,
                model.network.state_dict(),
                model.class_names,
                model.preprocess,
                metrics=None if ood is None else {"ood": ood.setup.to_dict()},
                ood_bank=None if ood is None else ood.bank,
            )
            metadata = Path(folder, PACKAGE_NAME + METADATA_SUFFIX).read_bytes()
            bank = None if entry.ood_path is None else entry.ood_path.read_bytes()
            weights = entry.weights_path.read_bytes()
        return cls(model.name, model.preprocess, weights, metadata, bank)

    def load(self, notify: Notify) -> tuple[LoadedModel, OodScorer | None]:
        """The network, rebuilt from the files in a library folder of its own, and what
        scores its images for "unknown" (None without a setup; a broken one is ``notify``'s
        one-line notice, as in a local run)."""
        with tempfile.TemporaryDirectory(prefix="resnet-desktop-package-") as folder:
            Path(folder, PACKAGE_NAME + WEIGHTS_SUFFIX).write_bytes(self.weights)
            Path(folder, PACKAGE_NAME + METADATA_SUFFIX).write_bytes(self.metadata)
            if self.ood_bank is not None:
                Path(folder, PACKAGE_NAME + OOD_SUFFIX).write_bytes(self.ood_bank)
            library = ModelLibrary(Path(folder))
            loaded = load_library_model(library, PACKAGE_NAME)
            ood = library_scorer(library, PACKAGE_NAME, notify, shown=self.name)
        return dataclasses.replace(loaded, name=self.name), ood


# ------------------------------------------------------------------------------ decoding


@functools.cache
def _filesystem(root: str) -> pyarrow.fs.FileSystem:
    """One filesystem per URI root (``s3://bucket``), made once per worker process."""
    import pyarrow.fs

    if not root:
        return pyarrow.fs.LocalFileSystem()
    return pyarrow.fs.FileSystem.from_uri(root)[0]


def _locate(uri: str) -> tuple[pyarrow.fs.FileSystem, str]:
    if "://" not in uri or uri.startswith("file://"):
        return _filesystem(""), uri.removeprefix("file://")
    scheme, rest = uri.split("://", 1)
    bucket = rest.split("/", 1)[0]
    filesystem = _filesystem(f"{scheme}://{bucket}")
    return filesystem, filesystem.normalize_path(rest)


def read_file(uri: str) -> bytes:
    """The bytes of a file on any of pyarrow's filesystems, refused past MAX_FILE_BYTES."""
    import pyarrow.fs

    filesystem, path = _locate(uri)
    info = filesystem.get_file_info(path)
    if info.type == pyarrow.fs.FileType.NotFound:
        raise FileNotFoundError(uri)
    if info.type == pyarrow.fs.FileType.Directory:
        raise DecodeError("is a folder, not a file")
    if info.type != pyarrow.fs.FileType.File:
        raise DecodeError("not a regular file")
    if info.size is not None and info.size > MAX_FILE_BYTES:
        raise DecodeError(f"file too large ({info.size // MIB} MiB; the limit is 256 MiB)")
    with filesystem.open_input_stream(path) as stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise DecodeError("file too large (it grew past 256 MiB while read)")
    return data


def decode_or_reason(uri: str, preprocess: Preprocess) -> np.ndarray | str:
    """The network input for ``uri``, or the one-line reason a local run would give."""
    read = functools.partial(read_file, uri)
    return imaging.array_or_reason(lambda: imaging.load_input_bytes(read, preprocess), uri)


def decode_files(batch: Batch, preprocess: Preprocess) -> Batch:
    """Read and decode a batch of files (a CPU task of its own): ``image`` and ``error``."""
    import numpy as np

    decoded = [decode_or_reason(str(uri), preprocess) for uri in batch["path"]]
    blank = np.zeros((preprocess.crop, preprocess.crop, 3), np.uint8)
    images = np.stack([blank if isinstance(item, str) else item for item in decoded])
    errors = np.array([item if isinstance(item, str) else "" for item in decoded], dtype=object)
    return {**batch, "image": images, "error": errors}


# ------------------------------------------------------------------------------ the model


class ModelActor:
    """The app's :class:`Predictor` in a Ray actor, set up for the worker's own hardware.

    The runtime options (``auto`` included) are resolved here, on the worker: a GPU node
    runs CUDA, a CPU node OpenVINO where it can, whatever the driver's machine has. What
    the set-up says (an engine fallback, features that do not fit) goes back with the
    first batch, for the driver to tell the user as a local run would.
    """

    def __init__(
        self, fetch: Callable[[], ModelPackage], options: RuntimeOptions, top_k: int
    ) -> None:
        # A problem the user can fix (an option this worker's hardware cannot run) goes
        # back as data, in the ``problem`` column: Ray passes on neither a failed
        # __init__'s exception nor the type of one raised in a batch.
        self.problem = ""
        self.notices: list[str] = []  # not yet sent
        try:
            loaded, ood = fetch().load(self.notices.append)
            runtime = options.resolve(loaded.preprocess)
            # One decoding thread at most: the files come decoded, by the CPU tasks.
            self.predictor = Predictor(
                loaded, runtime, top_k=top_k, decode_workers=1, notify=self.notices.append,
                ood=ood,
            )  # fmt: skip
        except UserError as error:
            self.problem = str(error)

    def __call__(self, batch: Batch) -> Batch:
        import numpy as np

        if self.problem:
            return {"problem": np.array([self.problem] * len(batch["path"]), dtype=object)}

        paths = [str(uri) for uri in batch["path"]]
        decoded = [
            str(error) if error else image
            for image, error in zip(batch["image"], batch["error"], strict=True)
        ]
        predictions = self.predictor.predict_decoded([Path(p) for p in paths], decoded)
        k = self.predictor.top_k
        indices = np.full((len(paths), k), -1, np.int64)
        probs = np.full((len(paths), k), np.nan, np.float32)
        scores = np.full(len(paths), np.nan, np.float64)
        for row, prediction in enumerate(predictions):
            if prediction.ok:
                indices[row] = prediction.indices
                probs[row] = prediction.probs
            if prediction.ood_score is not None:
                scores[row] = prediction.ood_score
        runtime = self.predictor.runtime
        rows = len(paths)
        notices = np.array([""] * rows, dtype=object)
        if self.notices:  # once, in a first row: the driver tells the user each once
            notices[0], self.notices = "\n".join(self.notices), []
        kept = {key: batch[key] for key in ("path", "size", "mtime_ns", "ctime_ns")}
        return {
            **kept,
            "error": np.array([p.error or "" for p in predictions], dtype=object),
            "indices": indices,
            "probs": probs,
            "ood_score": scores,
            "device": np.array([runtime.device] * rows, dtype=object),
            "precision": np.array([runtime.precision] * rows, dtype=object),
            "engine": np.array([runtime.engine] * rows, dtype=object),
            "batch_size": np.full(rows, self.predictor.batch_size, np.int64),
            "problem": np.array([""] * rows, dtype=object),
            "notice": notices,
        }
