"""The user's model library: imported and fine-tuned models as safetensors + JSON.

Each model is two files in the library folder: ``<name>.safetensors`` (the weights, which
cannot carry code) and ``<name>.json`` (architecture, class names, preprocessing, where it
came from). Both are written atomically, weights first and JSON last, and removed JSON
first: the JSON file's presence is what makes a model exist, so a crash at any point
leaves either the whole model or none of it. Overwriting a model writes the new weights
under a new name (``<name>.<8 hex>.safetensors``, recorded in the JSON's
``weights_file``) before the JSON is replaced, so until that moment the old model is
whole, and after it the new one.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_desktop.core import paths, zoo
from resnet_desktop.core.atomic import atomic_open, atomic_write_bytes, atomic_write_text
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.weights import (
    WeightsError,
    apply_state_dict,
    file_sha256,
    load_state_dict_file,
)
from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import torch

FORMAT_VERSION = 1
WEIGHTS_SUFFIX = ".safetensors"
METADATA_SUFFIX = ".json"
MAX_NAME_LENGTH = 64
_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9 _.\-]+")
# Names Windows reserves for devices, with or without an extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"{p}{i}" for p in ("com", "lpt") for i in range(10))}


class LibraryError(UserError):
    """A library problem worded for the user."""


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


class ModelLibrary:
    """The models in one folder (by default the user's library folder)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.library_dir()

    def _weights_path(self, name: str) -> Path:
        return self.root / f"{name}{WEIGHTS_SUFFIX}"

    def _metadata_path(self, name: str) -> Path:
        return self.root / f"{name}{METADATA_SUFFIX}"

    def list(self) -> list[LibraryModel]:
        """Every readable model, sorted by name; unreadable metadata files are skipped."""
        if not self.root.is_dir():
            return []
        models = (self._read(path) for path in self.root.glob(f"*{METADATA_SUFFIX}"))
        found = [model for model in models if model is not None]
        return sorted(found, key=lambda model: (model.name.casefold(), model.name))

    def get(self, name: str) -> LibraryModel:
        """The model called ``name``; LibraryError if there is none (or it is unreadable)."""
        path = self._existing_metadata_path(name)
        model = self._read(path)
        if model is None:
            raise LibraryError(f"the library entry {path} is damaged; remove it and re-import")
        return model

    def _existing_metadata_path(self, name: str) -> Path:
        """The JSON file of ``name``, which exists; the name cannot reach outside the folder."""
        try:
            _check_name_syntax(name)
        except LibraryError:
            raise LibraryError(f"no model named {name!r} in the library") from None
        path = self._metadata_path(name)
        if not path.is_file():
            raise LibraryError(f"no model named {name!r} in the library ({self.root})")
        return path

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.get(name)
        except LibraryError:
            return False
        return True

    def _read(self, path: Path) -> LibraryModel | None:
        """The model described by the JSON file ``path``, or None if it is unreadable."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            weights_file = data.get("weights_file", f"{path.stem}{WEIGHTS_SUFFIX}")
            return _model_from_metadata(data, self._weights_file_path(weights_file), path.stem)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def _weights_file_path(self, file_name: object) -> Path:
        """A weights file named in metadata: a plain .safetensors name inside the folder."""
        if not isinstance(file_name, str) or Path(file_name).name != file_name:
            raise ValueError(f"weights_file {file_name!r} is not a file name")
        if not file_name.endswith(WEIGHTS_SUFFIX) or file_name.startswith("."):
            raise ValueError(f"weights_file {file_name!r} is not a safetensors file")
        return self.root / file_name

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
    ) -> LibraryModel:
        """Save a model after checking its name and that the weights fit the architecture.

        ``training`` and ``metrics`` are free-form JSON-compatible dicts (hyper-parameters,
        accuracies); they are serialised before anything is written, so a bad value leaves
        the library untouched.
        """
        self._check_new_name(name, overwrite)
        _check_class_names(class_names)
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
        self._write(name, _safetensors_bytes(state_dict), metadata)
        return self.get(name)

    def _check_new_name(self, name: str, overwrite: bool) -> None:
        check_name(name)
        if not overwrite and self._metadata_path(name).exists():
            raise LibraryError(f"a model named {name!r} already exists; choose another name")

    def _write(self, name: str, weights: bytes, metadata: dict[str, Any]) -> None:
        """Weights first, JSON last; a failure leaves the library as it was.

        A model being replaced keeps its files until the new JSON is in place; its weights
        go only after that, so an overwrite never loses both versions.
        """
        metadata_path = self._metadata_path(name)
        old = self._read(metadata_path) if metadata_path.is_file() else None
        weights_path = self._weights_path(name)
        if weights_path.exists():  # the old model's, or a stray file: leave it until the end
            weights_path = self.root / f"{name}.{secrets.token_hex(4)}{WEIGHTS_SUFFIX}"
            metadata = {**metadata, "weights_file": weights_path.name}
        metadata_text = json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"
        try:
            atomic_write_bytes(weights_path, weights)
            atomic_write_text(metadata_path, metadata_text)
        except OSError as error:
            with contextlib.suppress(OSError):
                weights_path.unlink(missing_ok=True)
            raise LibraryError(f"could not save model {name!r} in {self.root}: {error}") from None
        if old is not None and old.weights_path != weights_path:
            with contextlib.suppress(OSError):  # a leftover file is harmless; the model is saved
                old.weights_path.unlink(missing_ok=True)

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

        self._check_new_name(name, overwrite)
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
        """Delete the model, damaged or not: JSON first, so a crash never leaves half a model."""
        metadata_path = self._existing_metadata_path(name)
        model = self._read(metadata_path)
        weights_path = model.weights_path if model is not None else self._weights_path(name)
        try:
            metadata_path.unlink()
            weights_path.unlink(missing_ok=True)
        except OSError as error:
            raise LibraryError(f"could not remove model {name!r}: {error}") from None

    def load_state_dict(self, name: str) -> dict[str, torch.Tensor]:
        """The model's tensors, read from its safetensors file (which holds no code)."""
        import safetensors.torch

        model = self.get(name)
        try:
            return safetensors.torch.load_file(model.weights_path, device="cpu")
        except Exception as error:  # safetensors raises its own type for damaged files
            raise LibraryError(
                f"cannot read the weights of {name!r} ({model.weights_path}): {error}"
            ) from None

    # --- editing: rename, class names (Manage Models) ---------------------------------------

    def rename(self, name: str, new_name: str) -> LibraryModel:
        """Give model ``name`` the name ``new_name``.

        The new files are written whole before the old ones go: a crash in between leaves
        the model under both names, never under neither.
        """
        self._check_new_name(new_name, overwrite=False)
        old = self.get(name)
        metadata = {**self._metadata(name), "name": new_name}
        metadata.pop("weights_file", None)
        new_weights = self._weights_path(new_name)
        try:
            with open(old.weights_path, "rb") as source, atomic_open(new_weights, "wb") as copy:
                shutil.copyfileobj(source, copy)
            atomic_write_text(self._metadata_path(new_name), _metadata_text(metadata))
        except OSError as error:
            raise LibraryError(f"could not rename {name!r}: {error.strerror or error}") from None
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
        try:
            atomic_write_text(self._metadata_path(name), _metadata_text(metadata))
        except OSError as error:
            raise LibraryError(f"could not save {name!r}: {error.strerror or error}") from None
        return self.get(name)

    def _metadata(self, name: str) -> dict[str, Any]:
        """The JSON of ``name`` as stored, so an edit keeps the fields it does not touch."""
        path = self._existing_metadata_path(name)
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            raise LibraryError(f"cannot read {path}: {error}") from None


def _metadata_text(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"


def _model_from_metadata(data: dict[str, Any], weights_path: Path, stem: str) -> LibraryModel:
    """Raises KeyError/TypeError/ValueError for metadata that is not a library model."""
    if data["name"] != stem:
        raise ValueError(f"metadata names {data['name']!r}, file is {stem!r}")
    if not isinstance(data["class_names"], list) or not data["class_names"]:
        raise TypeError("class_names must be a non-empty list")
    return LibraryModel(
        name=str(data["name"]),
        architecture=str(data["architecture"]),
        class_names=tuple(str(n) for n in data["class_names"]),
        preprocess=Preprocess.from_dict(data["preprocess"]),
        created=str(data["created"]),
        weights_path=weights_path,
        source_sha256=data.get("source_sha256"),
        base_weights=data.get("base_weights"),
        training=dict(data.get("training") or {}),
        metrics=dict(data.get("metrics") or {}),
    )


def _spec(architecture: str) -> zoo.ModelSpec:
    try:
        return zoo.get_spec(architecture)
    except KeyError as error:
        raise LibraryError(error.args[0]) from None


def _check_class_names(class_names: Sequence[str]) -> None:
    if not class_names:
        raise LibraryError("a model needs at least one class name")
    if not all(isinstance(n, str) and n.strip() for n in class_names):
        raise LibraryError("class names must be non-empty text")
    if len(set(class_names)) != len(class_names):
        raise LibraryError("class names must be unique")


def _check_fits(architecture: str, state_dict: dict[str, torch.Tensor], classes: int) -> None:
    """Build the network and load the weights into it, as the model loader later will."""
    from resnet_desktop.core.networks import build_network

    network = build_network(_spec(architecture), num_classes=classes)
    try:
        apply_state_dict(network, state_dict, target=f"{architecture} with {classes} classes")
    except WeightsError as error:
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
