"""Safe weight loading, torchvision's ImageNet weights (offline) and class-name files."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import os
import pickle
import socket
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
import safetensors.torch
import torch
import torchvision.models
from torch import nn

from resnet_desktop.core import paths, weights, zoo
from resnet_desktop.core.errors import REMEDY_WEIGHTS_FILE, UserError, user_message
from resnet_desktop.core.networks import build_network
from resnet_desktop.core.weights import (
    WeightsError,
    apply_state_dict,
    ensure_imagenet_weights,
    file_sha256,
    imagenet_class_names,
    imagenet_weights_cached,
    imagenet_weights_path,
    load_state_dict_file,
    read_class_names,
)

CIFAR20 = zoo.SPECS["cifar_resnet20"]
RESNET18 = zoo.SPECS["resnet18"]
IMAGENET_SPECS = [spec for spec in zoo.SPECS.values() if spec.has_builtin_weights]
SHARED_CHECKPOINTS = {
    20: "resnet20-12fca82f.th",
    32: "resnet32-d509ac18.th",
    44: "resnet44-014dd654.th",
    56: "resnet56-4bfd9763.th",
}


def small_state_dict() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return build_network(CIFAR20).state_dict()


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


class Payload:
    """A pickle that creates ``marker`` when unpickled: stands in for any malicious code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


# --- load_state_dict_file ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".th", ".bin"])
def test_torch_files_round_trip(tmp_path, suffix):
    state = small_state_dict()
    torch.save(state, tmp_path / f"w{suffix}")
    assert_same_tensors(load_state_dict_file(tmp_path / f"w{suffix}"), state)


def test_safetensors_round_trip(tmp_path):
    state = small_state_dict()
    safetensors.torch.save_file(state, tmp_path / "w.safetensors")
    assert_same_tensors(load_state_dict_file(tmp_path / "w.safetensors"), state)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": sd, "epoch": 12, "best_prec1": 91.5},
        lambda sd: {"model": sd, "optimizer": {"lr": 0.1}},
        lambda sd: {"checkpoint": 1, "model": {"state_dict": sd}},
        lambda sd: {"state_dict": {"model": sd}},
    ],
)
def test_checkpoint_wrappers_are_unwrapped_and_extras_dropped(tmp_path, wrap):
    state = small_state_dict()
    torch.save(wrap(state), tmp_path / "ckpt.pth")
    assert_same_tensors(load_state_dict_file(tmp_path / "ckpt.pth"), state)


@pytest.mark.parametrize(
    "prefix", ["module.", "_orig_mod.", "module._orig_mod.", "_orig_mod.module."]
)
def test_parallel_and_compile_prefixes_are_stripped(tmp_path, prefix):
    state = small_state_dict()
    torch.save({prefix + k: v for k, v in state.items()}, tmp_path / "w.pth")
    assert_same_tensors(load_state_dict_file(tmp_path / "w.pth"), state)


def test_non_tensor_entries_are_dropped(tmp_path):
    torch.save({"a": torch.ones(2), "note": "hello", "step": 3}, tmp_path / "w.pth")
    assert list(load_state_dict_file(tmp_path / "w.pth")) == ["a"]


def test_the_payload_really_runs_under_plain_pickle(tmp_path):
    """Proves the refusal tests below would notice if the code ran."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker)))  # deliberately unsafe here
    assert marker.exists()


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_a_pickle_that_runs_code_is_refused_and_the_code_never_runs(tmp_path, writer):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    if writer == "torch.save":
        torch.save({"weight": torch.ones(1), "x": Payload(marker)}, path)
    else:
        path.write_bytes(pickle.dumps({"x": Payload(marker)}))
    with pytest.raises(WeightsError, match="not a plain weights file; refusing to load code"):
        load_state_dict_file(path)
    assert not marker.exists()


def test_a_whole_pickled_model_is_refused_with_advice(tmp_path):
    torch.save(nn.Linear(2, 2), tmp_path / "model.pth")
    with pytest.raises(WeightsError, match=r"whole pickled model.*model\.state_dict\(\)"):
        load_state_dict_file(tmp_path / "model.pth")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.pth", b"", "empty"),
        ("text.pth", b"hello, I am not a checkpoint", "not a readable PyTorch weights file"),
        (
            "bad.safetensors",
            b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage",
            "not a readable safetensors",
        ),
        ("w.onnx", b"whatever", "unsupported weights file type"),
    ],
)
def test_files_that_are_not_weights_name_the_file(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(WeightsError, match=message) as caught:
        load_state_dict_file(tmp_path / name)
    assert name in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(WeightsError, match=r"nothere\.pth does not exist"):
        load_state_dict_file(tmp_path / "nothere.pth")


@pytest.mark.parametrize(
    ("content", "message"), [([torch.ones(1)], "holds a list"), ({"epoch": 3}, "no tensors")]
)
def test_files_without_a_state_dict_are_refused(tmp_path, content, message):
    torch.save(content, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match=message):
        load_state_dict_file(tmp_path / "w.pth")


def test_the_same_key_under_two_prefixes_is_refused(tmp_path):
    torch.save({"a": torch.ones(1), "module.a": torch.zeros(1)}, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match="twice"):
        load_state_dict_file(tmp_path / "w.pth")


# --- apply_state_dict -------------------------------------------------------------------


def test_apply_loads_matching_weights():
    state = small_state_dict()
    network = build_network(CIFAR20)
    apply_state_dict(network, state)
    assert_same_tensors(network.state_dict(), state)


def test_apply_accepts_old_checkpoints_without_batchnorm_counters():
    state = {k: v for k, v in small_state_dict().items() if "num_batches_tracked" not in k}
    network = build_network(CIFAR20)
    apply_state_dict(network, state)
    assert torch.equal(network.conv1.weight, state["conv1.weight"])


def test_apply_reports_wrong_shapes_in_plain_words_and_leaves_the_model_alone():
    network = build_network(CIFAR20, num_classes=7)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    with pytest.raises(WeightsError) as caught:
        apply_state_dict(network, small_state_dict())
    assert (
        "2 wrong shapes (linear.weight: file 10x64, model 7x64, linear.bias: file 10, model 7)"
        in str(caught.value)
    )
    assert "missing" not in str(caught.value)
    assert_same_tensors(network.state_dict(), before)


def test_apply_reports_missing_and_unexpected_keys_briefly():
    state = small_state_dict()
    removed = [k for k in state if k.startswith("layer3.") and k.endswith(".weight")]
    for key in removed:
        del state[key]
    state["extra.weight"] = torch.ones(1)
    with pytest.raises(WeightsError) as caught:
        apply_state_dict(build_network(CIFAR20), state)
    message = str(caught.value)
    assert f"{len(removed)} missing keys (e.g. {', '.join(removed[:5])}, ...)" in message
    assert "1 unexpected key (extra.weight)" in message
    assert removed[5] not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "1 tensor holds NaN or infinity (conv1.weight)"),
        (float("inf"), "1 tensor holds NaN or infinity (conv1.weight)"),
        (True, "1 tensor is not floating point (conv1.weight: torch.bool)"),
        (3, "1 tensor is not floating point (conv1.weight: torch.int64)"),
    ],
)
def test_apply_refuses_non_finite_and_non_float_weights(value, message):
    state = small_state_dict()
    state["conv1.weight"] = torch.full_like(
        state["conv1.weight"], value, dtype=torch.tensor(value).dtype
    )
    network = build_network(CIFAR20)
    before = network.conv1.weight.clone()
    with pytest.raises(WeightsError, match="do not fit") as caught:
        apply_state_dict(network, state)
    assert message in str(caught.value)
    assert torch.equal(network.conv1.weight, before)


def test_apply_accepts_half_precision_and_integer_counters():
    state = {k: v.half() if v.is_floating_point() else v for k, v in small_state_dict().items()}
    assert state["bn1.num_batches_tracked"].dtype == torch.int64
    apply_state_dict(build_network(CIFAR20), state)


def test_an_expanded_tensor_is_refused_before_anything_is_built(tmp_path):
    """A stride-0 view of a million rows over one value: a few bytes on disk."""
    state = small_state_dict()
    state["linear.weight"] = torch.zeros(1, 1).expand(10**6, 64)
    state["linear.bias"] = torch.zeros(1).expand(10**6)
    torch.save(state, tmp_path / "w.pth")
    assert (tmp_path / "w.pth").stat().st_size < 2_000_000
    with pytest.raises(WeightsError, match=r"'linear.weight' \(1000000x64\) is an expanded view"):
        load_state_dict_file(tmp_path / "w.pth")


@pytest.mark.parametrize(
    ("shape", "message"),
    [((100_001, 1), "1 to 100000"), ((10,), "has shape (10,)"), ((0, 64), "has shape (0, 64)")],
)
def test_the_head_size_read_from_a_file_is_bounded(tmp_path, shape, message):
    from resnet_desktop.core.model_loader import ModelLoadError, load_model

    state = small_state_dict()
    state["linear.weight"] = torch.zeros(shape)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(ModelLoadError, match=r"linear\.weight") as caught:
        load_model("cifar_resnet20", weights=tmp_path / "w.pth")
    assert message in str(caught.value)


@pytest.mark.timeout(20)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_special_files_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.pth")
    os.mkfifo(tmp_path / "names.txt")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    with pytest.raises(WeightsError, match=r"fifo\.pth is not a regular file"):
        load_state_dict_file(tmp_path / "fifo.pth")
    for name in ("names.txt", "zero.txt"):
        with pytest.raises(WeightsError, match=f"{name} is not a regular file"):
            read_class_names(tmp_path / name)


def test_class_name_files_are_bounded(tmp_path, monkeypatch):
    (tmp_path / "many.txt").write_text("\n".join(f"c{i}" for i in range(11)), encoding="utf-8")
    monkeypatch.setattr(weights, "MAX_CLASSES", 10)
    with pytest.raises(WeightsError, match="holds 11 class names; at most 10"):
        read_class_names(tmp_path / "many.txt")
    (tmp_path / "long.txt").write_text("a\n" + "b" * 1001, encoding="utf-8")
    with pytest.raises(WeightsError, match="longer than 1000 characters"):
        read_class_names(tmp_path / "long.txt")
    monkeypatch.setattr(weights, "MAX_CLASS_NAMES_BYTES", 10)
    with pytest.raises(WeightsError, match="larger than"):
        read_class_names(tmp_path / "many.txt")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    monkeypatch.setattr(weights, "MAX_CLASS_NAMES_BYTES", 1 << 20)
    with pytest.raises(WeightsError, match="nested too deeply"):
        read_class_names(tmp_path / "deep.json")


# --- torchvision's ImageNet weights -----------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {"TORCH_HOME": "{tmp}/th"},
        {"TORCH_HOME": None, "XDG_CACHE_HOME": "{tmp}/xdg"},
        {"TORCH_HOME": None, "XDG_CACHE_HOME": None, "HOME": "{tmp}/home"},
    ],
)
def test_torch_hub_dir_agrees_with_torch(tmp_path, monkeypatch, env):
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value.format(tmp=tmp_path))
    assert paths.torch_hub_dir() == Path(torch.hub.get_dir())
    assert (
        imagenet_weights_path(RESNET18)
        == Path(torch.hub.get_dir()) / "checkpoints" / "resnet18-f37072fd.pth"
    )


@pytest.mark.parametrize("spec", IMAGENET_SPECS, ids=lambda spec: spec.name)
def test_zoo_entries_match_torchvisions_weights(spec):
    enum_name, member = spec.weights.split(".")
    tv_weights = getattr(torchvision.models, enum_name)[member]
    transforms = tv_weights.transforms()
    assert Path(urlparse(tv_weights.url).path).name == spec.weights_file
    assert transforms.resize_size == [spec.preprocess.resize]
    assert transforms.crop_size == [spec.preprocess.crop]
    assert tuple(transforms.mean) == spec.preprocess.mean
    assert tuple(transforms.std) == spec.preprocess.std
    assert len(tv_weights.meta["categories"]) == spec.num_classes


def test_cifar_specs_have_no_imagenet_weights():
    assert not imagenet_weights_cached(CIFAR20)
    with pytest.raises(WeightsError, match="no built-in ImageNet weights"):
        ensure_imagenet_weights(CIFAR20)


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def fake_urlopen(data: bytes, calls: list[str] | None = None):
    def urlopen(url, timeout=None):
        if calls is not None:
            calls.append(url)
        return FakeResponse(data)

    return urlopen


def spec_for(data: bytes, prefix: str | None = None) -> zoo.ModelSpec:
    """resnet18's entry, but with a weights file name carrying ``data``'s hash prefix."""
    prefix = prefix or hashlib.sha256(data).hexdigest()[:8]
    return dataclasses.replace(RESNET18, weights_file=f"fake-{prefix}.pth")


def test_cached_weights_are_used_without_the_network(monkeypatch):
    target = imagenet_weights_path(RESNET18)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(b"", calls := []))
    assert imagenet_weights_cached(RESNET18)
    assert ensure_imagenet_weights(RESNET18) == target
    assert calls == []


@pytest.mark.parametrize(
    "failure",
    [
        socket.gaierror(-3, "Temporary failure in name resolution"),
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        TimeoutError("timed out"),
    ],
)
def test_offline_download_says_where_to_put_the_file(monkeypatch, failure):
    def offline(url, timeout=None):
        raise urllib.error.URLError(failure)

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    spec = zoo.SPECS["resnet50"]
    with pytest.raises(WeightsError) as caught:
        ensure_imagenet_weights(spec)
    message = str(caught.value)
    assert message.startswith(
        "ImageNet weights for ResNet-50 are not cached and could not be downloaded: "
        "no internet connection."
    )
    assert "Errno" not in message and "resolution" not in message
    assert "https://download.pytorch.org/models/resnet50-11ad3fa6.pth" in message
    assert str(imagenet_weights_path(spec)) in message
    assert not imagenet_weights_cached(spec)


def test_each_front_end_words_the_remedy_of_missing_weights(monkeypatch):
    """The core says what is wrong; the CLI adds its flag, the window its menu item."""
    from resnet_desktop.commands.common import REMEDIES as CLI
    from resnet_desktop.core.model_loader import load_model

    def offline(url, timeout=None):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UserError) as caught:
        load_model("resnet18")  # the loader wraps the weights error in its own
    assert "--weights" not in str(caught.value)
    assert user_message(caught.value, CLI).endswith(", or pass --weights FILE")
    assert user_message(caught.value, {REMEDY_WEIGHTS_FILE: "or use the menu"}).endswith(
        "no internet connection. Download https://download.pytorch.org/models/"
        f"resnet18-f37072fd.pth on a connected machine and place it at "
        f"{imagenet_weights_path(zoo.SPECS['resnet18'])}, or use the menu"
    )


def test_a_server_error_is_not_called_offline(monkeypatch):
    def refused(url, timeout=None):
        raise urllib.error.URLError(ConnectionRefusedError(errno.ECONNREFUSED, "Refused"))

    monkeypatch.setattr(urllib.request, "urlopen", refused)
    with pytest.raises(WeightsError, match=r"downloaded: Refused\. "):
        ensure_imagenet_weights(zoo.SPECS["resnet18"])


def test_download_is_hash_checked_and_saved(monkeypatch):
    data = b"pretend weights " * 100_000  # more than one chunk
    spec = spec_for(data)
    calls: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(data, calls))
    reports: list[tuple[int, int]] = []
    path = ensure_imagenet_weights(spec, progress=lambda done, total: reports.append((done, total)))
    assert path == imagenet_weights_path(spec)
    assert path.read_bytes() == data
    assert calls == ["https://download.pytorch.org/models/resnet18-f37072fd.pth"]
    assert len(reports) == 2 and reports[-1] == (len(data), len(data))
    assert list(path.parent.iterdir()) == [path]


def test_a_download_with_the_wrong_hash_is_not_kept(monkeypatch):
    data = b"tampered"
    wrong = "0" * 8 if not hashlib.sha256(data).hexdigest().startswith("0" * 8) else "f" * 8
    spec = spec_for(data, prefix=wrong)
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(data))
    with pytest.raises(WeightsError, match=f"corrupt.*expected {wrong}"):
        ensure_imagenet_weights(spec)
    assert not imagenet_weights_cached(spec)
    assert list(imagenet_weights_path(spec).parent.iterdir()) == []


def test_a_cancelled_download_leaves_nothing(monkeypatch):
    data = b"w" * 3_000_000
    spec = spec_for(data)
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen(data))
    reports: list[int] = []
    with pytest.raises(WeightsError, match="download cancelled"):
        ensure_imagenet_weights(spec, lambda done, _: reports.append(done), lambda: bool(reports))
    assert reports == [weights.CHUNK_SIZE]
    assert list(imagenet_weights_path(spec).parent.iterdir()) == []


def test_cached_imagenet_weights_load_into_the_network():
    """The model loader's path: ensure (cached, no download), read, apply."""
    torch.manual_seed(1)
    state = build_network(RESNET18).state_dict()
    target = imagenet_weights_path(RESNET18)
    target.parent.mkdir(parents=True)
    torch.save(state, target)
    network = build_network(RESNET18)
    apply_state_dict(network, load_state_dict_file(ensure_imagenet_weights(RESNET18)))
    assert_same_tensors(network.state_dict(), state)


def test_imagenet_class_names_come_from_torchvision():
    names = imagenet_class_names(zoo.SPECS["resnet50"])
    assert len(names) == 1000
    assert names == torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    assert all(isinstance(name, str) and name for name in names)


# --- class names ------------------------------------------------------------------------


def test_text_class_names_skip_blanks_and_handle_bom_and_crlf(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_bytes("\ufeffdaisy\r\n\r\n  roses \r\ntulips".encode())
    assert read_class_names(path) == ["daisy", "roses", "tulips"]


def test_json_list_and_index_mapping(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps(["a", "b"]), encoding="utf-8")
    mapping = {"1": "roses", "0": "daisy", "2": "tulips"}
    (tmp_path / "map.json").write_text(json.dumps(mapping), encoding="utf-8-sig")
    assert read_class_names(tmp_path / "list.json") == ["a", "b"]
    assert read_class_names(tmp_path / "map.json") == ["daisy", "roses", "tulips"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("gap.json", '{"0": "a", "2": "c"}', r"0\.\.1 without gaps; missing 1"),
        ("twice.json", '{"0": "a", "0": "b"}', "key '0' appears twice"),
        ("same_index.json", '{"0": "a", "00": "b"}', "index 0 appears twice"),
        ("not_index.json", '{"zero": "a"}', "not a class index"),
        ("number.json", '["a", 3]', "non-empty strings"),
        ("broken.json", '["a", ', "not valid JSON"),
        ("scalar.json", '"a"', "list of names or an object"),
        ("dup.txt", "a\nb\na\n", "unique; repeated: 'a'"),
        ("dup.json", '["x", "x"]', "unique; repeated: 'x'"),
        ("blank.txt", "\n \n", "contains no class names"),
    ],
)
def test_bad_class_name_files_are_explained(tmp_path, name, content, message):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(WeightsError, match=message) as caught:
        read_class_names(tmp_path / name)
    assert name in str(caught.value)


def test_missing_and_binary_class_files(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        read_class_names(tmp_path / "nope.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(WeightsError, match="not a UTF-8 text file"):
        read_class_names(tmp_path / "bin.txt")


def test_file_sha256_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 10_000
    (tmp_path / "f").write_bytes(data)
    assert file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()


# --- the shared CIFAR checkpoints -------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize(("depth", "file_name"), SHARED_CHECKPOINTS.items())
def test_shared_cifar_checkpoints_load_as_they_are(shared, depth, file_name):
    path = shared(f"weights/cifar10-resnet/{file_name}")
    state = load_state_dict_file(path)
    assert "best_prec1" not in state
    assert all(not k.startswith("module.") for k in state)
    network = build_network(zoo.SPECS[f"cifar_resnet{depth}"])
    apply_state_dict(network, state)
    assert torch.equal(network.linear.weight, state["linear.weight"])


@pytest.mark.shared
def test_shared_cifar_resnet20_classifies_real_images(shared):
    """Catches a wrong shortcut (padding side, subsampling): accuracy would collapse."""
    from PIL import Image

    root = shared("data/cifar10-test")
    network = build_network(CIFAR20).eval()
    apply_state_dict(
        network, load_state_dict_file(shared("weights/cifar10-resnet/resnet20-12fca82f.th"))
    )
    mean = torch.tensor(CIFAR20.preprocess.mean).view(3, 1, 1)
    std = torch.tensor(CIFAR20.preprocess.std).view(3, 1, 1)
    images, labels = [], []
    for label, class_name in enumerate(zoo.CIFAR10_CLASSES):
        for path in sorted((root / class_name).glob("*.jpg"))[:10]:
            with Image.open(path) as image:
                pixels = torch.frombuffer(
                    bytearray(image.convert("RGB").tobytes()), dtype=torch.uint8
                )
            images.append((pixels.view(32, 32, 3).permute(2, 0, 1).float() / 255 - mean) / std)
            labels.append(label)
    with torch.inference_mode():
        predicted = network(torch.stack(images)).argmax(1)
    accuracy = (predicted == torch.tensor(labels)).float().mean().item()
    assert accuracy >= 0.7  # published 81% on all 10,000; chance is 10%


def test_an_architecture_without_weights_names_each_front_ends_remedy():
    from resnet_desktop.commands.common import REMEDIES as CLI
    from resnet_desktop.core.model_loader import load_model

    with pytest.raises(UserError) as caught:
        load_model("cifar_resnet20")
    assert str(caught.value) == (
        "cifar_resnet20 has no built-in weights: it needs a weights file trained for it"
    )
    assert user_message(caught.value, CLI).endswith(
        "trained for it, so pass --weights FILE, or --weights random for an untrained network"
    )
