"""Loading weights safely: state-dict files, torchvision's ImageNet weights, class names.

Weight files come from strangers on the internet, and a pickle can run any code when it is
loaded. So ``.pth`` files are only ever read with ``torch.load(weights_only=True)``; a file
that needs more than plain tensors and containers is refused, never retried unsafely.

torch is imported inside the functions that need it, so the GUI can ask whether ImageNet
weights are cached (and list models) before torch has loaded.
"""

from __future__ import annotations

import errno
import hashlib
import json
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_desktop.core import paths
from resnet_desktop.core.atomic import atomic_open
from resnet_desktop.core.errors import REMEDY_WEIGHTS_FILE, UserError
from resnet_desktop.core.safe_read import MIB, UnsafeFileError, check_regular_file, read_bounded
from resnet_desktop.core.zoo import ModelSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total or 0 if unknown)

TORCH_SUFFIXES = (".pth", ".pt", ".th", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
WRAPPER_KEYS = ("state_dict", "model")
PREFIXES = ("module.", "_orig_mod.")  # nn.DataParallel / DistributedDataParallel, torch.compile
MAX_NAMES_SHOWN = 5
MAX_VALUE_SHOWN = 60
CHUNK_SIZE = 1 << 20
DOWNLOAD_TIMEOUT_S = 30
# Bounds on what a file may make the app allocate. ImageNet-21k has 21,841 classes; the
# largest zoo network's weights (ResNet-152) are 230 MB, 4 GiB leaves room for checkpoints
# that also carry optimiser state.
MAX_CLASSES = 100_000
MAX_CLASS_NAME_LENGTH = 1000
MAX_CLASS_NAMES_BYTES = 16 * MIB
MAX_WEIGHTS_BYTES = 4 << 30
# torch.hub's convention: ``name-<first hex digits of the sha256>.pth``
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.")
_OFFLINE_ERRNOS = frozenset({errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH})
_WHOLE_MODEL = re.compile(r"GLOBAL (torch\.nn\.modules|torchvision\.models)\.")


class WeightsError(UserError):
    """A weights or class-names problem, worded for the user (shown without a traceback)."""


# --- state-dict files ------------------------------------------------------------------


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth/.pt/.th/.bin/.safetensors file, loaded without running pickled code.

    Checkpoint wrappers (``{"state_dict": ...}``, ``{"model": ...}``) are unwrapped, the
    prefixes that ``nn.DataParallel`` and ``torch.compile`` add are stripped, and anything
    that is not a tensor (epoch counters, stored accuracies) is dropped.
    """
    path = Path(path)
    if _checked_size(path) == 0:
        raise WeightsError(f"weights file {path.name} is empty")
    suffix = path.suffix.lower()
    if suffix == SAFETENSORS_SUFFIX:
        raw: Any = _load_safetensors(path)
    elif suffix in TORCH_SUFFIXES:
        raw = _load_torch(path)
    else:
        known = ", ".join((*TORCH_SUFFIXES, SAFETENSORS_SUFFIX))
        raise WeightsError(f"{path.name}: unsupported weights file type (expected {known})")
    return _clean_state_dict(raw, path)


def _checked_size(path: Path) -> int:
    """The size of a weights file, which must be a regular file of a plausible size."""
    try:
        return check_regular_file(path, MAX_WEIGHTS_BYTES)
    except FileNotFoundError:
        raise WeightsError(f"weights file {path} does not exist") from None
    except UnsafeFileError as error:
        raise WeightsError(f"weights file {error}") from None
    except OSError as error:
        raise WeightsError(f"cannot read {path}: {error.strerror or error}") from None


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    import safetensors.torch

    try:
        return safetensors.torch.load_file(path, device="cpu")
    except Exception as error:  # safetensors raises its own error type for corrupt headers
        raise WeightsError(f"{path.name} is not a readable safetensors file ({error})") from None


def _load_torch(path: Path) -> Any:
    import torch

    try:
        with warnings.catch_warnings():
            # Plain pickles (not torch.save's zip format) make torch warn about the protocol.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # torch.load raises many types for corrupt or foreign files
        raise WeightsError(_torch_load_problem(path, error)) from None


def _torch_load_problem(path: Path, error: Exception) -> str:
    """One line for the user saying why ``torch.load(weights_only=True)`` failed."""
    text = str(error)
    if _WHOLE_MODEL.search(text):
        return (
            f"{path.name} holds a whole pickled model, not a state dict; refusing to load "
            "code from it. Save it with torch.save(model.state_dict(), FILE) instead"
        )
    if "Weights only load failed" in text:
        return f"{path.name} is not a plain weights file; refusing to load code from it"
    if isinstance(error, OSError):
        return f"cannot read {path}: {error.strerror or error}"
    return f"{path.name} is not a readable PyTorch weights file ({type(error).__name__})"


def _clean_state_dict(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    state = _unwrap(raw)
    if not isinstance(state, dict):
        raise WeightsError(f"{path.name} holds a {type(state).__name__}, not a state dict")
    cleaned: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if isinstance(key, str) and isinstance(value, torch.Tensor):
            _check_not_expanded(value, key, path)
            name = _strip_prefixes(key)
            if name in cleaned:
                raise WeightsError(f"{path.name} holds {name!r} twice (with different prefixes)")
            cleaned[name] = value
    if not cleaned:
        raise WeightsError(f"{path.name} contains no tensors")
    return cleaned


def _check_not_expanded(tensor: torch.Tensor, key: str, path: Path) -> None:
    """Refuse a tensor larger than the data behind it (``expand``, stride 0).

    A 1 MB file can hold a view of ten million rows over one value; a head like that
    would make the loader build a network of that many classes. Real weights are stored
    element by element, so their data is at least as large as the tensor.
    """
    if tensor.numel() * tensor.element_size() > tensor.untyped_storage().nbytes():
        raise WeightsError(
            f"{path.name}: {key!r} ({_shape(tensor)}) is an expanded view over less data; "
            "not a plain weights file"
        )


def _unwrap(raw: Any) -> Any:
    """The state dict inside a training checkpoint, looking at most two wrappers deep."""
    for _ in range(2):
        inner = next((raw[key] for key in WRAPPER_KEYS if _is_dict_at(raw, key)), None)
        if inner is None:
            break
        raw = inner
    return raw


def _is_dict_at(raw: Any, key: str) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get(key), dict)


def _strip_prefixes(key: str) -> str:
    while key.startswith(PREFIXES):
        key = next(key.removeprefix(p) for p in PREFIXES if key.startswith(p))
    return key


def apply_state_dict(
    model: nn.Module, state_dict: dict[str, torch.Tensor], target: str = "the network"
) -> None:
    """Load ``state_dict`` strictly; a mismatch raises WeightsError listing the keys.

    Keys and shapes are compared before loading, so a bad file leaves the model untouched
    and the message says which keys differ instead of quoting torch's long error.
    ``target`` names the network in that message (``"cifar_resnet20 with 7 classes"``).
    """
    expected = model.state_dict()
    problem = _mismatch(expected, state_dict) or _bad_values(expected, state_dict)
    if problem:
        raise WeightsError(f"the weights do not fit {target}: {problem}")
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:  # e.g. a dtype torch cannot copy; keep the first line
        raise WeightsError(f"the weights do not fit {target}: {_first_line(error)}") from None


def fits(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` has exactly ``model``'s keys and shapes (values unchecked).

    ``model`` may live on the meta device: only its parameters' shapes are compared.
    """
    return not _mismatch(model.state_dict(), state_dict)


def _mismatch(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> str:
    """``"N missing keys (e.g. a, b), M unexpected keys (...), K wrong shapes (...)"``, or ""."""
    # BatchNorm fills in a missing ``num_batches_tracked`` itself (old checkpoints lack it).
    missing = [k for k in expected if k not in given and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in given if k not in expected]
    wrong = [
        f"{k}: file {_shape(given[k])}, model {_shape(expected[k])}"
        for k in given
        if k in expected and given[k].shape != expected[k].shape
    ]
    parts = [
        _counted(missing, "missing key", "missing keys"),
        _counted(unexpected, "unexpected key", "unexpected keys"),
        _counted(wrong, "wrong shape", "wrong shapes"),
    ]
    return ", ".join(part for part in parts if part)


def _bad_values(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> str:
    """Weights that are not floating point where the network's are, or NaN / infinite.

    torch would silently round integers and accept NaN, and every prediction would
    then be wrong or NaN.
    """
    import torch

    floats = [k for k in given if k in expected and expected[k].is_floating_point()]
    not_float = [f"{k}: {given[k].dtype}" for k in floats if not given[k].is_floating_point()]
    non_finite = [
        k for k in floats if given[k].is_floating_point() and not torch.isfinite(given[k]).all()
    ]
    parts = [
        _counted(not_float, "tensor is not floating point", "tensors are not floating point"),
        _counted(non_finite, "tensor holds NaN or infinity", "tensors hold NaN or infinity"),
    ]
    return ", ".join(part for part in parts if part)


def _counted(items: list[str], singular: str, plural: str) -> str:
    if not items:
        return ""
    shown = ", ".join(items[:MAX_NAMES_SHOWN]) + (", ..." if len(items) > MAX_NAMES_SHOWN else "")
    prefix = "e.g. " if len(items) > MAX_NAMES_SHOWN else ""
    return f"{len(items)} {singular if len(items) == 1 else plural} ({prefix}{shown})"


def _shape(tensor: torch.Tensor) -> str:
    return "x".join(str(size) for size in tensor.shape) or "scalar"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# --- torchvision's ImageNet weights -----------------------------------------------------


def imagenet_weights_path(spec: ModelSpec) -> Path:
    """Where torchvision caches ``spec``'s ImageNet weights (torch hub checkpoints folder)."""
    if spec.weights_file is None:
        raise WeightsError(f"{spec.name} has no built-in ImageNet weights")
    return paths.torch_hub_dir() / "checkpoints" / spec.weights_file


def imagenet_weights_cached(spec: ModelSpec) -> bool:
    """Whether the ImageNet weights file is already on disk; never imports torch."""
    return spec.weights_file is not None and imagenet_weights_path(spec).is_file()


def ensure_imagenet_weights(
    spec: ModelSpec,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """The cached weights file, downloading (hash-checked, atomic) it first if needed.

    The download goes to a temporary file beside the destination and is renamed into place
    only once its sha256 matches the prefix in the file name, so an interrupted or corrupt
    download never leaves a file that would later pass as cached.
    """
    import http.client  # here, not at the top: the GUI imports this module at start-up

    target = imagenet_weights_path(spec)
    if target.is_file():
        return target
    url = _weights_enum(spec).url
    try:
        _download(url, target, progress, should_stop)
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise WeightsError(
            f"ImageNet weights for {spec.title} are not cached and could not be downloaded: "
            f"{_reason(error)}. Download {url} on a connected machine and place it at "
            f"{target}",
            remedy=REMEDY_WEIGHTS_FILE,
        ) from None
    return target


def _download(
    url: str,
    target: Path,
    progress: ProgressCallback | None,
    should_stop: Callable[[], bool] | None,
) -> None:
    import urllib.request

    expected = _hash_prefix(target.name)
    digest = hashlib.sha256()
    with (
        urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
        atomic_open(target, "wb") as handle,
    ):
        total = int(response.headers.get("Content-Length") or 0)
        for done in _copy_chunks(response, (handle.write, digest.update)):
            if should_stop is not None and should_stop():
                raise WeightsError("download cancelled")
            if progress is not None:
                progress(done, total)
        if expected and not digest.hexdigest().startswith(expected):
            raise WeightsError(
                f"the download of {url} is corrupt (sha256 {digest.hexdigest()[: len(expected)]}"
                f", expected {expected}); nothing was saved"
            )


def _copy_chunks(response: Any, sinks: Iterable[Callable[[bytes], Any]]) -> Iterable[int]:
    """Feed ``response`` to every sink chunk by chunk; yields the bytes done so far."""
    done = 0
    while chunk := response.read(CHUNK_SIZE):
        for sink in sinks:
            sink(chunk)
        done += len(chunk)
        yield done


def _hash_prefix(file_name: str) -> str | None:
    match = _HASH_IN_NAME.search(file_name)
    return match.group(1) if match else None


def _reason(error: Exception) -> str:
    """Why a download failed, in words: "no internet connection" rather than an errno."""
    import urllib.error

    cause = error.reason if type(error) is urllib.error.URLError else error
    if _is_offline(cause):
        return "no internet connection"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(cause) or type(cause).__name__


def _is_offline(cause: object) -> bool:
    """Whether the machine could not reach the server at all (name lookup, no route)."""
    import socket

    if isinstance(cause, socket.gaierror | TimeoutError):
        return True
    return isinstance(cause, OSError) and cause.errno in _OFFLINE_ERRNOS


def _weights_enum(spec: ModelSpec) -> Any:
    """torchvision's ``Weights`` member named by ``spec.weights`` (``"X_Weights.MEMBER"``)."""
    if spec.weights is None:
        raise WeightsError(f"{spec.name} has no built-in ImageNet weights")
    import torchvision.models

    enum_name, _, member = spec.weights.partition(".")
    return getattr(torchvision.models, enum_name)[member]


def imagenet_class_names(spec: ModelSpec) -> list[str]:
    """The class names from torchvision's weights metadata."""
    return list(_weights_enum(spec).meta["categories"])


# --- class names -------------------------------------------------------------------------


def read_class_names(path: str | Path) -> list[str]:
    """Class names from a .txt (one per line) or a JSON {"0": "name", ...} / list file.

    The result is checked (non-empty, no duplicates, JSON indices exactly 0..N-1), since a
    class list that is off by one silently mislabels every prediction after the gap; the
    file must be a regular file of at most MAX_CLASS_NAMES_BYTES, with at most MAX_CLASSES
    names of at most MAX_CLASS_NAME_LENGTH characters.
    """
    path = Path(path)
    text = _read_text(path)
    names = _parse_json_names(text, path) if path.suffix.lower() == ".json" else _lines(text)
    return _checked_names(names, path)


def _read_text(path: Path) -> str:
    try:
        return read_bounded(path, MAX_CLASS_NAMES_BYTES).decode("utf-8-sig")
    except FileNotFoundError:
        raise WeightsError(f"class names file {path} does not exist") from None
    except UnicodeDecodeError:
        raise WeightsError(f"{path.name} is not a UTF-8 text file") from None
    except UnsafeFileError as error:
        raise WeightsError(f"class names file {error}") from None
    except OSError as error:
        raise WeightsError(f"cannot read {path}: {error.strerror or error}") from None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _parse_json_names(text: str, path: Path) -> list[str]:
    try:
        data = json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, path))
    except json.JSONDecodeError as error:
        raise WeightsError(
            f"{path.name} is not valid JSON ({error.msg}, line {error.lineno})"
        ) from None
    except RecursionError:
        raise WeightsError(f"{path.name} is nested too deeply to be a list of names") from None
    if isinstance(data, list):
        return [_name_string(value, path) for value in data]
    if isinstance(data, dict):
        return _names_by_index(data, path)
    raise WeightsError(f"{path.name} must hold a list of names or an object index -> name")


def _unique_keys(pairs: list[tuple[str, Any]], path: Path) -> dict[str, Any]:
    """A JSON object as a dict, refusing repeated keys that ``json`` would silently merge."""
    repeated = _repeated(key for key, _ in pairs)
    if repeated:
        raise WeightsError(f"{path.name}: key {repeated[0]!r} appears twice")
    return dict(pairs)


def _repeated(items: Iterable[str]) -> list[str]:
    """The items that occur more than once, in first-occurrence order."""
    return [item for item, count in Counter(items).items() if count > 1]


def _names_by_index(mapping: dict[str, Any], path: Path) -> list[str]:
    by_index: dict[int, str] = {}
    for key, value in mapping.items():
        try:
            index = int(key)
        except ValueError:
            raise WeightsError(f"{path.name}: key {key!r} is not a class index") from None
        if index in by_index:
            raise WeightsError(f"{path.name}: class index {index} appears twice")
        by_index[index] = _name_string(value, path)
    gaps = sorted(set(range(len(by_index))) - set(by_index))
    if gaps:
        raise WeightsError(
            f"{path.name}: class indices must be 0..{len(by_index) - 1} without gaps; "
            f"missing {', '.join(map(str, gaps[:MAX_NAMES_SHOWN]))}"
        )
    return [by_index[index] for index in range(len(by_index))]


def _name_string(value: Any, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = repr(value)[:MAX_VALUE_SHOWN]  # a value may be a huge nested list
        raise WeightsError(f"{path.name}: class names must be non-empty strings, got {shown}")
    return value.strip()


def _checked_names(names: list[str], path: Path) -> list[str]:
    if not names:
        raise WeightsError(f"{path.name} contains no class names")
    if len(names) > MAX_CLASSES:
        raise WeightsError(f"{path.name} holds {len(names)} class names; at most {MAX_CLASSES}")
    if max(map(len, names)) > MAX_CLASS_NAME_LENGTH:
        raise WeightsError(
            f"{path.name}: a class name is longer than {MAX_CLASS_NAME_LENGTH} characters"
        )
    duplicates = _repeated(names)
    if duplicates:
        shown = ", ".join(repr(name) for name in duplicates[:MAX_NAMES_SHOWN])
        raise WeightsError(f"{path.name}: class names must be unique; repeated: {shown}")
    return names


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks so large weights never sit in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()
