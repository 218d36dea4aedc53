"""The user's model library: imported and fine-tuned models as safetensors + JSON.

Each model is two files in the library folder: ``<name>.safetensors`` (the weights, which
cannot carry code) and ``<name>.json`` (architecture, class names, preprocessing, where it
came from). Both are written atomically, weights first and JSON last, and removed JSON
first: the JSON file's presence is what makes a model exist, so a crash at any point
leaves either the whole model or none of it. Overwriting a model writes the new weights
under a new name (``<name>.<8 hex>.safetensors``, recorded in the JSON's
``weights_file``) before the JSON is replaced, so until that moment the old model is
whole, and after it the new one.

A fine-tuned model may have a third file, ``<name>.ood.safetensors`` (recorded in the
JSON's ``ood_file``): the training images' features that tell its classes from anything
else (:mod:`~resnet_desktop.core.ood`). It is written before the JSON, renamed and removed
with the model like its weights, and a model whose file is missing or damaged still works,
without "unknown".

Every change runs under an OS file lock on the folder (``.lock``), and every JSON file is
read as untrusted data: bounded in size, checked field by field. An entry that fails is
listed as damaged, with the reason, and can be removed like any other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import secrets
import shlex
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_desktop.core import paths, zoo
from resnet_desktop.core.atomic import atomic_open, atomic_write_bytes, atomic_write_text
from resnet_desktop.core.errors import REMEDY_LIBRARY_REMOVE, UserError
from resnet_desktop.core.locking import LockTimeout, file_lock
from resnet_desktop.core.ood import OodError, OodScorer, OodSetup, bank_bytes, load_bank
from resnet_desktop.core.safe_read import MIB, check_regular_file, read_json
from resnet_desktop.core.weights import (
    MAX_CLASS_NAME_LENGTH,
    MAX_CLASSES,
    MAX_WEIGHTS_BYTES,
    WeightsError,
    apply_state_dict,
    file_sha256,
    load_state_dict_file,
)
from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import numpy as np
    import torch

FORMAT_VERSION = 1
WEIGHTS_SUFFIX = ".safetensors"
METADATA_SUFFIX = ".json"
OOD_SUFFIX = ".ood.safetensors"
MAX_NAME_LENGTH = 64
MAX_METADATA_BYTES = 16 * MIB  # 100,000 class names fit several times over
LOCK_FILE = ".lock"
LOCK_TIMEOUT_S = 60.0  # saving the largest model takes a few seconds
SPACE_MARGIN = 16 * MIB  # free space wanted beyond the weights themselves
ABANDONED_AFTER_S = 24 * 3600  # no save takes a day: older temporary files are litter
MIN_CROP, MAX_CROP, MAX_RESIZE = 8, 1024, 2048
MAX_NORMALISATION = 1000.0  # bound of each preprocessing mean and std value
_BUSY = "busy: another resnet-desktop is saving or removing a model; try again"
_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9 _.\-]+")
# Names Windows reserves for devices, with or without an extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"{p}{i}" for p in ("com", "lpt") for i in range(10))}


class LibraryError(UserError):
    """A library problem worded for the user."""


def _unusable(name: str, text: str) -> LibraryError:
    """The error for a model that cannot be used: removing it (each front end says how)
    and importing it again fixes it."""
    return LibraryError(text, remedy=REMEDY_LIBRARY_REMOVE, fields={"name": name})


@dataclass(frozen=True)
class LibraryModel:
    name: str
    architecture: str
    class_names: tuple[str, ...]
    preprocess: Preprocess
    created: str
    weights_path: Path
    source_sha256: str | None = None
    base_weights: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    ood_path: Path | None = None  # the training images' features, when it has them


def check_name(name: str) -> None:
    """Raise LibraryError saying why ``name`` cannot name a library model.

    Names become file names on every platform, and share the namespace of the command
    line's ``--model`` with the zoo, so they are kept to a portable character set.
    """
    _check_name_syntax(name)
    if name.casefold() in {spec.casefold() for spec in zoo.SPECS}:
        raise LibraryError(f"{name!r} is the name of a built-in architecture; choose another")


def _check_name_syntax(name: str) -> None:
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise LibraryError(f"a model name must be 1 to {MAX_NAME_LENGTH} characters long")
    if not _NAME_CHARACTERS.fullmatch(name):
        raise LibraryError(
            f"model name {name!r} may contain only letters A-Z, digits, spaces, '-', '_' and '.'"
        )
    if name.startswith(".") or name != name.strip():
        raise LibraryError(f"model name {name!r} must not start with '.' or start/end with a space")
    if name.split(".")[0].casefold() in _RESERVED:
        raise LibraryError(f"{name!r} is a reserved file name on Windows; choose another")


@dataclass(frozen=True)
class DamagedEntry:
    """A library entry whose JSON file cannot be used, and why."""

    name: str  # the JSON file's name without ``.json``
    path: Path
    reason: str

    def error(self) -> LibraryError:
        return _unusable(self.name, f"the library entry {self.path} is damaged: {self.reason}")


class ModelLibrary:
    """The models in one folder (by default the user's library folder).

    Reading needs no lock (every file appears by an atomic rename); every change (save,
    overwrite, remove) checks and writes while holding the folder's lock, so two
    processes saving one name can neither both succeed nor mix their files.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.library_dir()

    def _weights_path(self, name: str) -> Path:
        return self.root / f"{name}{WEIGHTS_SUFFIX}"

    def _metadata_path(self, name: str) -> Path:
        return self.root / f"{name}{METADATA_SUFFIX}"

    def list(self) -> list[LibraryModel]:
        """Every usable model, sorted by name; :meth:`damaged` lists the others."""
        return self.contents()[0]

    def damaged(self) -> list[DamagedEntry]:
        """The entries that cannot be used, each with the reason, sorted by name."""
        return self.contents()[1]

    def contents(self) -> tuple[list[LibraryModel], list[DamagedEntry]]:
        """The usable models and the damaged entries, each sorted by name, in one reading."""
        entries = sorted(self._entries(), key=_by_name)
        models = [entry for entry in entries if isinstance(entry, LibraryModel)]
        return models, [entry for entry in entries if isinstance(entry, DamagedEntry)]

    def _entries(self) -> Iterator[LibraryModel | DamagedEntry]:
        return (self._read(path) for path in self._metadata_files())

    def _metadata_files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob(f"*{METADATA_SUFFIX}") if not p.name.startswith(".")]

    def get(self, name: str) -> LibraryModel:
        """The model called ``name``; LibraryError if there is none or it is damaged."""
        entry = self._read(self._existing_metadata_path(name))
        if isinstance(entry, DamagedEntry):
            raise entry.error()
        return entry

    def _existing_metadata_path(self, name: str) -> Path:
        """The JSON file of ``name``, which exists; the name cannot reach outside the folder."""
        if not _is_plain_file_name(name):
            raise LibraryError(f"no model named {name!r} in the library")
        path = self._metadata_path(name)
        if not os.path.lexists(path):
            raise LibraryError(f"no model named {name!r} in the library ({self.root})")
        return path

    def exists(self, name: str) -> bool:
        """Whether the library has an entry called ``name``, usable or damaged."""
        return _is_plain_file_name(name) and os.path.lexists(self._metadata_path(name))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.get(name)
        except LibraryError:
            return False
        return True

    def _read(self, path: Path) -> LibraryModel | DamagedEntry:
        """The model described by the JSON file ``path``, or why it is damaged."""
        try:
            data = read_json(path, MAX_METADATA_BYTES)
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, found {type(data).__name__}")
            weights_file = data.get("weights_file", f"{path.stem}{WEIGHTS_SUFFIX}")
            model = _model_from_metadata(data, self._weights_file_path(weights_file), path.stem)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            return DamagedEntry(path.stem, path, _reason(error))
        return dataclasses.replace(model, ood_path=self._ood_path(data.get("ood_file")))

    def _ood_path(self, file_name: object) -> Path | None:
        """The features file metadata names; None when it names none, or nothing usable
        (the model works without it: :meth:`ood_scorer` says why)."""
        try:
            return None if file_name is None else self._weights_file_path(file_name)
        except ValueError:
            return None

    def _weights_file_path(self, file_name: object) -> Path:
        """A weights file named in metadata: a plain .safetensors name inside the folder."""
        if not isinstance(file_name, str) or not _is_plain_file_name(file_name):
            raise ValueError(f"weights_file {file_name!r} is not a file name")
        if not file_name.endswith(WEIGHTS_SUFFIX):
            raise ValueError(f"weights_file {file_name!r} is not a safetensors file")
        return self.root / file_name

    def _files_named_by(self, metadata_path: Path) -> set[Path]:
        """The weights (and features) files a JSON file names, as far as it can be read."""
        default = self.root / f"{metadata_path.stem}{WEIGHTS_SUFFIX}"
        try:
            data = read_json(metadata_path, MAX_METADATA_BYTES)
            named = {self._weights_file_path(data.get("weights_file", default.name))}
        except (OSError, ValueError, AttributeError):
            return {default}
        with contextlib.suppress(ValueError):
            if data.get("ood_file") is not None:
                named.add(self._weights_file_path(data["ood_file"]))
        return named

    def _named_files(self) -> set[Path]:
        return {file for path in self._metadata_files() for file in self._files_named_by(path)}

    def _delete_unless_named(self, files: set[Path]) -> None:
        """Delete the files no entry names (copied entries may share one)."""
        for path in files - self._named_files():
            with contextlib.suppress(OSError):  # a leftover goes in clean_abandoned()
                path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self, action: str) -> Iterator[None]:
        """Hold the library's lock, so no other process changes it meanwhile."""
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(file_lock(self.root / LOCK_FILE, LOCK_TIMEOUT_S, _BUSY))
            except LockTimeout:
                raise LibraryError(f"the model library ({self.root}) is {_BUSY}") from None
            except OSError as error:
                raise LibraryError(f"could not {action} in {self.root}: {_reason(error)}") from None
            yield

    def add(
        self,
        name: str,
        architecture: str,
        state_dict: dict[str, torch.Tensor],
        class_names: Sequence[str],
        preprocess: Preprocess,
        *,
        overwrite: bool = False,
        source_sha256: str | None = None,
        base_weights: str | None = None,
        training: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        ood_bank: np.ndarray | None = None,
    ) -> LibraryModel:
        """Save a model after checking its name and that the weights fit the architecture.

        ``training`` and ``metrics`` are free-form JSON-compatible dicts (hyper-parameters,
        accuracies); they are serialised before anything is written, so a bad value leaves
        the library untouched. The name is checked again under the library's lock, so of
        two processes saving one name without ``overwrite`` only the first succeeds.
        ``ood_bank``: the training images' features, saved beside the model for the OOD
        setup in ``metrics["ood"]``.
        """
        self.check_new_name(name, overwrite)
        _check_class_names(class_names)
        _check_preprocess(preprocess)
        _check_fits(architecture, state_dict, len(class_names))
        metadata = {
            "format_version": FORMAT_VERSION,
            "name": name,
            "architecture": architecture,
            "class_names": list(class_names),
            "preprocess": preprocess.to_dict(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source_sha256": source_sha256,
            "base_weights": base_weights,
            "training": training or {},
            "metrics": metrics or {},
        }
        _json_text(metadata)  # raises TypeError for a value JSON cannot hold
        weights = _safetensors_bytes(state_dict)
        bank = None if ood_bank is None else _bank_bytes(ood_bank)
        with self._locked(f"save model {name!r}"):
            self.check_new_name(name, overwrite)
            self._write(name, weights, metadata, bank)
            return self.get(name)

    def check_new_name(self, name: str, overwrite: bool = False) -> None:
        """Raise LibraryError if ``name`` is invalid, or taken (by a damaged entry too)."""
        check_name(name)
        path = self._metadata_path(name)
        if overwrite or not os.path.lexists(path):
            return
        entry = self._read(path)
        if isinstance(entry, DamagedEntry):
            raise LibraryError(
                f"a damaged library entry named {name!r} exists ({entry.reason}); remove it "
                "or overwrite it"
            )
        raise LibraryError(f"a model named {name!r} already exists; choose another name")

    def check_writable(self, name: str, overwrite: bool, needed_bytes: int) -> None:
        """Raise LibraryError now if saving ``name`` (about ``needed_bytes``) would fail.

        Fine-tuning calls this before training, so a taken name, a read-only folder or a
        full disk is reported before the work, not after it.
        """
        self.check_new_name(name, overwrite)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-test-", suffix=".tmp"):
                pass
            free = shutil.disk_usage(self.root).free
        except OSError as error:
            raise LibraryError(f"cannot save models in {self.root}: {_reason(error)}") from None
        needed = needed_bytes + SPACE_MARGIN
        if free < needed:
            raise LibraryError(
                f"not enough free space in {self.root} to save the model: "
                f"{free / MIB:.0f} MiB free, {needed / MIB:.0f} MiB needed"
            )

    def _write(
        self, name: str, weights: bytes, metadata: dict[str, Any], bank: bytes | None = None
    ) -> None:
        """Weights (and features) first, JSON last; a failure leaves the library as it was.

        A model being replaced keeps its files until the new JSON is in place; they go
        only after that, so an overwrite never loses both versions. Called locked.
        """
        metadata_path = self._metadata_path(name)
        exists = os.path.lexists(metadata_path)
        old_files = self._files_named_by(metadata_path) if exists else set()
        metadata = {key: value for key, value in metadata.items() if key != "ood_file"}
        files = {"weights_file": (self._free_path(name, WEIGHTS_SUFFIX), weights)}
        if bank is not None:
            files["ood_file"] = (self._free_path(name, OOD_SUFFIX), bank)
        default_weights = self._weights_path(name)
        try:
            for key, (path, data) in files.items():
                atomic_write_bytes(path, data)
                if key != "weights_file" or path != default_weights:
                    metadata = {**metadata, key: path.name}
            atomic_write_text(metadata_path, _json_text(metadata))
        except OSError as error:
            for path, _ in files.values():
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
            raise LibraryError(f"could not save model {name!r} in {self.root}: {error}") from None
        self._delete_unless_named(old_files)

    def _free_path(self, name: str, suffix: str) -> Path:
        """``<name><suffix>``, or with a random part when that exists (the old model's, or
        a stray file: left be)."""
        path = self.root / f"{name}{suffix}"
        if os.path.lexists(path):
            stem = suffix.removesuffix(WEIGHTS_SUFFIX)
            path = self.root / f"{name}{stem}.{secrets.token_hex(4)}{WEIGHTS_SUFFIX}"
        return path

    def import_file(
        self,
        weights_file: str | Path,
        architecture: str,
        class_names: Sequence[str],
        name: str,
        *,
        overwrite: bool = False,
    ) -> LibraryModel:
        """Add a state-dict file (.pth/.safetensors/...) with the architecture's preprocessing.

        Raises WeightsError for an unreadable or unsafe file, LibraryError otherwise.
        """

        self.check_new_name(name, overwrite)
        spec = _spec(architecture)
        state_dict = load_state_dict_file(weights_file)
        return self.add(
            name,
            architecture,
            state_dict,
            class_names,
            spec.preprocess,
            overwrite=overwrite,
            source_sha256=file_sha256(weights_file),
        )

    def remove(self, name: str) -> None:
        """Delete the model, damaged or not: JSON first, so a crash never leaves half a model.

        Its weights and features files go too, unless another entry (a copied JSON file)
        names them.
        """
        self._existing_metadata_path(name)
        with self._locked(f"remove model {name!r}"):
            metadata_path = self._existing_metadata_path(name)
            files = self._files_named_by(metadata_path)
            try:
                metadata_path.unlink()
            except OSError as error:
                raise LibraryError(f"could not remove model {name!r}: {_reason(error)}") from None
            self._delete_unless_named(files)

    def load_state_dict(self, name: str) -> dict[str, torch.Tensor]:
        """The model's tensors, read from its safetensors file (which holds no code).

        If another process overwrites the model between the reading of its JSON and of
        its weights, the old weights are gone; the new JSON is then read once more.
        """
        with contextlib.suppress(FileNotFoundError):
            return _load_safetensors(name, self.get(name).weights_path)
        weights_path = self.get(name).weights_path  # the new JSON, naming the new weights
        try:
            return _load_safetensors(name, weights_path)
        except FileNotFoundError:
            raise _unusable(
                name, f"the weights file of {name!r} ({weights_path}) is missing"
            ) from None

    # --- editing: rename, class names (Manage Models) ---------------------------------------

    def rename(self, name: str, new_name: str) -> LibraryModel:
        """Give model ``name`` the name ``new_name``.

        The new files are written whole before the old ones go: a crash in between leaves
        the model under both names, never under neither.
        """
        old = self.get(name)
        metadata = {**self._metadata(name), "name": new_name}
        metadata.pop("weights_file", None)
        metadata.pop("ood_file", None)
        with self._locked("rename a model"):  # the name is checked and taken in one step
            self.check_new_name(new_name)
            copies = [(old.weights_path, self._free_path(new_name, WEIGHTS_SUFFIX))]
            if old.ood_path is not None and old.ood_path.is_file():  # a missing one stays so
                copies.append((old.ood_path, self._free_path(new_name, OOD_SUFFIX)))
                metadata["ood_file"] = copies[-1][1].name
            if copies[0][1] != self._weights_path(new_name):
                metadata["weights_file"] = copies[0][1].name
            try:
                for source_path, target in copies:
                    with open(source_path, "rb") as source, atomic_open(target, "wb") as out:
                        shutil.copyfileobj(source, out)
                atomic_write_text(self._metadata_path(new_name), _json_text(metadata))
            except OSError as error:
                raise LibraryError(f"could not rename {name!r}: {_reason(error)}") from None
        self.remove(name)
        return self.get(new_name)

    def set_class_names(self, name: str, class_names: Sequence[str]) -> LibraryModel:
        """Rename the classes of ``name`` (as many as before, in the head's order)."""
        _check_class_names(class_names)
        old = self.get(name)
        if len(class_names) != len(old.class_names):
            raise LibraryError(
                f"{name!r} has {len(old.class_names)} classes; {len(class_names)} names were given"
            )
        metadata = {**self._metadata(name), "class_names": list(class_names)}
        with self._locked("save a model"):
            try:
                atomic_write_text(self._metadata_path(name), _json_text(metadata))
            except OSError as error:
                raise LibraryError(f"could not save {name!r}: {_reason(error)}") from None
        return self.get(name)

    def set_ood_threshold(self, name: str, threshold: float) -> LibraryModel:
        """Change the score below which ``name`` calls an image unknown.

        The model must have an OOD setup (fine-tuning makes one); the value is checked
        against the range its method can score.
        """
        with self._locked("save a model"):
            metadata = self._metadata(name)
            metrics = metadata.get("metrics")
            if not isinstance(metrics, dict) or "ood" not in metrics:
                raise LibraryError(
                    f"{name!r} has no 'unknown' threshold: only models fine-tuned by this "
                    "version have one"
                )
            try:
                setup = OodSetup.from_dict(metrics["ood"])
                setup = OodSetup(setup.method, threshold, setup.k)
            except OodError as error:
                raise LibraryError(f"{name!r}: {error}") from None
            metadata["metrics"] = {**metrics, "ood": {**metrics["ood"], **setup.to_dict()}}
            try:
                atomic_write_text(self._metadata_path(name), _json_text(metadata))
            except OSError as error:
                raise LibraryError(f"could not save {name!r}: {_reason(error)}") from None
        return self.get(name)

    def ood_scorer(self, name: str) -> OodScorer | None:
        """What ``name`` needs to score images as known or unknown; None if it has no setup.

        Raises:
            OodError: the setup or its features file is missing, damaged, or does not fit.
        """
        model = self.get(name)
        if "ood" not in model.metrics:
            return None
        setup = OodSetup.from_dict(model.metrics["ood"])
        if setup.method != "knn":
            return OodScorer(setup)
        if model.ood_path is None:
            raise OodError("its features file is not recorded")
        return OodScorer(setup, load_bank(model.ood_path))

    def _metadata(self, name: str) -> dict[str, Any]:
        """The JSON of ``name`` as stored, so an edit keeps the fields it does not touch."""
        path = self._existing_metadata_path(name)
        try:
            return dict(read_json(path, MAX_METADATA_BYTES))
        except (OSError, ValueError) as error:
            raise LibraryError(f"cannot read {path}: {error}") from None

    def clean_abandoned(self, now: float | None = None) -> list[Path]:
        """Delete what killed saves left behind a day ago or more; returns what went.

        That is hidden temporary files and weights files that no entry names. Nothing is
        deleted while another process holds the lock (it may be writing them).
        """
        if not self.root.is_dir():
            return []
        cutoff = (time.time() if now is None else now) - ABANDONED_AFTER_S
        try:
            with file_lock(self.root / LOCK_FILE, 0, _BUSY):
                named = self._named_files()
                litter = [p for p in self.root.iterdir() if _is_litter(p, named, cutoff)]
                return [path for path in litter if _unlinked(path)]
        except (LockTimeout, OSError):
            return []


def keep_elsewhere(
    name: str,
    architecture: str,
    state_dict: dict[str, torch.Tensor] | None,
    class_names: Sequence[str],
) -> str:
    """Write weights the library could not take to a temporary folder; says where.

    Hours of fine-tuning are not thrown away because the library's disk filled up
    meanwhile: the weights (safetensors) and class names (a JSON list) are what
    ``resnet-desktop models import`` takes, and the returned sentence gives that command.
    """
    if state_dict is None:
        return "There were no trained weights to keep."
    try:
        folder = Path(tempfile.mkdtemp(prefix="resnet-desktop-unsaved-"))
        weights, classes = folder / f"{name}{WEIGHTS_SUFFIX}", folder / f"{name}.classes.json"
        atomic_write_bytes(weights, _safetensors_bytes(state_dict))
        atomic_write_text(classes, json.dumps(list(class_names), ensure_ascii=False))
    except OSError as error:
        return f"Keeping the trained weights in a temporary folder failed too: {_reason(error)}"
    command = shlex.join([
        "resnet-desktop", "models", "import", str(weights), "--model", architecture,
        "--classes", str(classes), "--name", name,
    ])  # fmt: skip
    return f"The trained model is kept in {folder}; add it to the library later with: {command}"


def _load_safetensors(name: str, path: Path) -> dict[str, torch.Tensor]:
    """FileNotFoundError if ``path`` is missing; LibraryError if it is not usable."""
    import safetensors.torch

    try:
        check_regular_file(path, MAX_WEIGHTS_BYTES)
        return safetensors.torch.load_file(path, device="cpu")
    except FileNotFoundError:
        raise
    except Exception as error:  # safetensors raises its own type for damaged files
        raise _unusable(name, f"cannot read the weights of {name!r} ({path}): {error}") from None


def _is_litter(path: Path, named: set[Path], cutoff: float) -> bool:
    """A file a killed save left: a hidden ``.tmp`` file or unnamed weights, old enough."""
    name = path.name
    temporary = name.startswith(".") and name.endswith(".tmp")
    orphan = not name.startswith(".") and name.endswith(WEIGHTS_SUFFIX) and path not in named
    try:
        info = path.lstat()
    except OSError:
        return False
    return (temporary or orphan) and not stat.S_ISDIR(info.st_mode) and info.st_mtime < cutoff


def _unlinked(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True


def _is_plain_file_name(name: str) -> bool:
    """A name that stays inside the folder: no separators, not hidden, no NUL."""
    return bool(name) and "\0" not in name and Path(name).name == name and name[0] != "."


def _by_name(entry: LibraryModel | DamagedEntry) -> tuple[str, str]:
    return (entry.name.casefold(), entry.name)


def _reason(error: BaseException) -> str:
    """Why a file could not be used, in a few words."""
    if isinstance(error, KeyError):
        return f"the field {error.args[0]!r} is missing"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _json_text(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"


def _model_from_metadata(data: dict[str, Any], weights_path: Path, stem: str) -> LibraryModel:
    """Raises KeyError/TypeError/ValueError for metadata that is not a usable library model."""
    if data["name"] != stem:
        raise ValueError(f"the file names the model {data['name']!r}, not {stem!r}")
    architecture = data["architecture"]
    if architecture not in zoo.SPECS:
        known = ", ".join(zoo.SPECS)
        raise ValueError(f"unknown architecture {architecture!r} (known: {known})")
    class_names = data["class_names"]
    if not isinstance(class_names, list):
        raise TypeError("class_names must be a list")
    problem = class_names_problem(class_names)
    if problem:
        raise ValueError(problem)
    return LibraryModel(
        name=stem,
        architecture=architecture,
        class_names=tuple(class_names),
        preprocess=_preprocess_from_metadata(data["preprocess"]),
        created=str(data["created"]),
        weights_path=weights_path,
        source_sha256=_text_or_none(data, "source_sha256"),
        base_weights=_text_or_none(data, "base_weights"),
        training=dict(data.get("training") or {}),
        metrics=dict(data.get("metrics") or {}),
    )


def _text_or_none(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} must be text or null")
    return value


def _preprocess_from_metadata(data: Any) -> Preprocess:
    """Preprocessing within the bounds every network accepts; ValueError otherwise.

    A wrong length, a zero std or an absurd crop would otherwise fail per image, give
    NaN probabilities or allocate gigabytes per batch.
    """
    if not isinstance(data, dict):
        raise TypeError("preprocess must be a JSON object")
    crop, resize = data["crop"], data.get("resize")
    if not _is_int(crop) or not MIN_CROP <= crop <= MAX_CROP:
        raise ValueError(f"preprocess crop must be a whole number {MIN_CROP}..{MAX_CROP}")
    if resize is not None and (not _is_int(resize) or not crop <= resize <= MAX_RESIZE):
        raise ValueError(f"preprocess resize must be null or a whole number {crop}..{MAX_RESIZE}")
    mean = _three_numbers(data.get("mean", zoo.IMAGENET_MEAN), "mean")
    std = _three_numbers(data.get("std", zoo.IMAGENET_STD), "std")
    if min(std) <= 0:
        raise ValueError("preprocess std values must be greater than 0")
    return Preprocess(crop=crop, resize=resize, mean=mean, std=std)


def _three_numbers(values: Any, what: str) -> tuple[float, float, float]:
    if not isinstance(values, list | tuple) or len(values) != 3 or not all(map(_bounded, values)):
        raise ValueError(
            f"preprocess {what} must be 3 numbers (one per colour) within ±{MAX_NORMALISATION:g}"
        )
    return (float(values[0]), float(values[1]), float(values[2]))


def _bounded(value: Any) -> bool:
    """A number (not a bool) within the normalisation bounds; NaN and infinities are not."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and -MAX_NORMALISATION <= value <= MAX_NORMALISATION


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_preprocess(preprocess: Preprocess) -> None:
    try:
        _preprocess_from_metadata(preprocess.to_dict())
    except ValueError as error:
        raise LibraryError(str(error)) from None


def _spec(architecture: str) -> zoo.ModelSpec:
    try:
        return zoo.get_spec(architecture)
    except KeyError as error:
        raise LibraryError(error.args[0]) from None


def _check_class_names(class_names: Sequence[str]) -> None:
    problem = class_names_problem(class_names)
    if problem:
        raise LibraryError(problem)


def class_names_problem(class_names: Sequence[object]) -> str:
    """Why these cannot be a model's class names ('' if they can)."""
    if not class_names:
        return "a model needs at least one class name"
    if len(class_names) > MAX_CLASSES:
        return f"a model has at most {MAX_CLASSES} classes, not {len(class_names)}"
    if not all(
        isinstance(n, str) and n.strip() and len(n) <= MAX_CLASS_NAME_LENGTH for n in class_names
    ):
        return f"class names must be non-empty text of at most {MAX_CLASS_NAME_LENGTH} characters"
    if len(set(class_names)) != len(class_names):
        return "class names must be unique"
    return ""


def _check_fits(architecture: str, state_dict: dict[str, torch.Tensor], classes: int) -> None:
    """Build the network and load the weights into it, as the model loader later will."""
    from resnet_desktop.core.networks import build_network

    network = build_network(_spec(architecture), num_classes=classes)
    try:
        apply_state_dict(network, state_dict, target=f"{architecture} with {classes} classes")
    except WeightsError as error:
        raise LibraryError(str(error)) from None


def _bank_bytes(features: np.ndarray) -> bytes:
    try:
        return bank_bytes(features)
    except OodError as error:
        raise LibraryError(str(error)) from None


def _safetensors_bytes(state_dict: dict[str, torch.Tensor]) -> bytes:
    """safetensors needs contiguous tensors that share no memory; copy those that do."""
    import safetensors.torch

    seen: set[int] = set()
    tensors = {}
    for key, tensor in state_dict.items():
        tensor = tensor.detach().cpu().contiguous()
        storage = tensor.untyped_storage()
        if storage.data_ptr() in seen or storage.nbytes() != tensor.nbytes:
            tensor = tensor.clone()
        seen.add(tensor.untyped_storage().data_ptr())
        tensors[key] = tensor
    return safetensors.torch.save(tensors)
