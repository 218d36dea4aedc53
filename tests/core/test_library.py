"""The model library: safetensors + JSON pairs, written atomically, read defensively."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest
import torch

from resnet_desktop.core import library as library_module
from resnet_desktop.core import paths, zoo
from resnet_desktop.core.library import LibraryError, ModelLibrary, check_name
from resnet_desktop.core.networks import build_network
from resnet_desktop.core.weights import WeightsError, file_sha256

CIFAR20 = zoo.SPECS["cifar_resnet20"]
CLASSES = ["cat", "dog", "fish"]


def state_dict(classes: int = len(CLASSES), seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_network(CIFAR20, num_classes=classes).state_dict()


def add(library: ModelLibrary, name: str = "pets", **kwargs):
    return library.add(name, "cifar_resnet20", state_dict(), CLASSES, CIFAR20.preprocess, **kwargs)


@pytest.fixture
def library(tmp_path) -> ModelLibrary:
    return ModelLibrary(tmp_path / "models")


def test_default_root_is_the_library_folder():
    assert ModelLibrary().root == paths.library_dir()


def test_round_trip(library):
    state = state_dict()
    model = library.add(
        "pets",
        "cifar_resnet20",
        state,
        CLASSES,
        CIFAR20.preprocess,
        base_weights="cifar_resnet20",
        training={"epochs": 3, "lr": 0.01},
        metrics={"val_top1": 0.5},
    )
    assert model == library.get("pets")
    assert (model.name, model.architecture, model.class_names) == (
        "pets",
        "cifar_resnet20",
        tuple(CLASSES),
    )
    assert model.preprocess == CIFAR20.preprocess
    assert model.training == {"epochs": 3, "lr": 0.01} and model.metrics == {"val_top1": 0.5}
    assert model.weights_path == library.root / "pets.safetensors"
    created = datetime.fromisoformat(model.created)
    assert created.tzinfo is not None
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 60
    loaded = library.load_state_dict("pets")
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert "pets" in library and "cats" not in library and 3 not in library
    library.remove("pets")
    assert library.list() == [] and "pets" not in library
    assert list(library.root.iterdir()) == []


def test_metadata_file_has_the_documented_fields(library):
    add(library)
    data = json.loads((library.root / "pets.json").read_text(encoding="utf-8"))
    assert set(data) == {
        "format_version", "name", "architecture", "class_names", "preprocess", "created",
        "source_sha256", "base_weights", "training", "metrics",
    }  # fmt: skip
    assert data["format_version"] == library_module.FORMAT_VERSION
    assert zoo.Preprocess.from_dict(data["preprocess"]) == CIFAR20.preprocess


def test_list_is_sorted_by_name(library):
    for name in ("zebra", "Apple", "mango"):
        add(library, name)
    assert [m.name for m in library.list()] == ["Apple", "mango", "zebra"]


def test_list_of_a_missing_folder_is_empty(tmp_path):
    assert ModelLibrary(tmp_path / "nothing").list() == []


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        "\xff",
        '{"name": "broken"}',
        '{"name": "other", "architecture": "x"}',
        '{"name": "broken", "architecture": "x", "class_names": "ab", "preprocess": {}}',
        '{"name": "broken", "architecture": "x", "class_names": ["a"], "preprocess": [1]}',
    ],
)
def test_corrupt_metadata_is_skipped_by_list_and_reported_by_get(library, content):
    add(library, "good")
    (library.root / "broken.json").write_text(content, encoding="utf-8")
    assert [m.name for m in library.list()] == ["good"]
    with pytest.raises(LibraryError, match="damaged"):
        library.get("broken")
    assert "broken" not in library
    library.remove("broken")
    assert sorted(p.name for p in library.root.iterdir()) == ["good.json", "good.safetensors"]


def test_unknown_model(library):
    with pytest.raises(LibraryError, match="no model named 'ghost'"):
        library.get("ghost")
    with pytest.raises(LibraryError, match="no model named"):
        library.remove("ghost")
    with pytest.raises(LibraryError, match="no model named"):
        library.get("../escape")


def test_existing_name_is_refused_unless_overwriting(library):
    add(library)
    with pytest.raises(LibraryError, match="already exists"):
        add(library)
    replaced = library.add(
        "pets", "cifar_resnet20", state_dict(seed=5), CLASSES, CIFAR20.preprocess, overwrite=True
    )
    assert torch.equal(
        library.load_state_dict("pets")["conv1.weight"], state_dict(seed=5)["conv1.weight"]
    )
    assert [m.name for m in library.list()] == [replaced.name]


def test_overwriting_replaces_the_weights_file_only_after_the_new_json(library):
    add(library)
    add(library, overwrite=True)  # a second overwrite starts from a renamed weights file
    replaced = library.add(
        "pets", "cifar_resnet20", state_dict(seed=5), CLASSES, CIFAR20.preprocess, overwrite=True
    )
    files = sorted(p.name for p in library.root.iterdir())
    assert files == ["pets.json", replaced.weights_path.name]
    assert replaced.weights_path.name.startswith("pets.")
    assert torch.equal(
        library.load_state_dict("pets")["conv1.weight"], state_dict(seed=5)["conv1.weight"]
    )
    library.remove("pets")
    assert list(library.root.iterdir()) == []


def test_a_failed_overwrite_keeps_the_old_model_whole(library, monkeypatch):
    add(library)
    before = sorted(p.name for p in library.root.iterdir())

    def disk_full(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(library_module, "atomic_write_text", disk_full)
    with pytest.raises(LibraryError, match="No space left"):
        library.add(
            "pets", "cifar_resnet20", state_dict(seed=5), CLASSES, CIFAR20.preprocess,
            overwrite=True,
        )  # fmt: skip
    assert sorted(p.name for p in library.root.iterdir()) == before
    assert torch.equal(
        library.load_state_dict("pets")["conv1.weight"], state_dict()["conv1.weight"]
    )


@pytest.mark.parametrize("weights_file", ["../escape.safetensors", "/etc/passwd", "pets.pth", 3])
def test_metadata_cannot_point_outside_the_library_or_at_other_files(library, weights_file):
    add(library)
    path = library.root / "pets.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "weights_file": weights_file}), encoding="utf-8")
    with pytest.raises(LibraryError, match="damaged"):
        library.get("pets")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "1 to 64 characters"),
        ("x" * 65, "1 to 64 characters"),
        ("a/b", "may contain only"),
        ("a\\b", "may contain only"),
        ("café", "may contain only"),
        (".hidden", "must not start with '.'"),
        (" padded", "start/end with a space"),
        ("resnet50", "built-in architecture"),
        ("ResNet50", "built-in architecture"),
        ("con", "reserved file name"),
        ("LPT1.old", "reserved file name"),
    ],
)
def test_bad_names_are_explained(library, name, message):
    with pytest.raises(LibraryError, match=message):
        check_name(name)
    with pytest.raises(LibraryError, match=message):
        add(library, name)
    assert not library.root.exists()


@pytest.mark.parametrize("name", ["a", "My flowers v2.1", "x" * 64, "under_score-dash"])
def test_good_names(name):
    check_name(name)


def test_weights_that_do_not_fit_are_refused_before_writing(library):
    with pytest.raises(
        LibraryError, match=r"do not fit cifar_resnet20 with 3 classes: 2 wrong shapes"
    ):
        library.add("pets", "cifar_resnet20", state_dict(classes=10), CLASSES, CIFAR20.preprocess)
    assert not library.root.exists()


@pytest.mark.parametrize(
    ("architecture", "classes", "message"),
    [
        ("resnet9000", CLASSES, "unknown architecture"),
        ("cifar_resnet20", [], "at least one class"),
        ("cifar_resnet20", ["a", "a", "b"], "unique"),
        ("cifar_resnet20", ["a", "", "b"], "non-empty"),
    ],
)
def test_bad_architecture_or_classes(library, architecture, classes, message):
    with pytest.raises(LibraryError, match=message):
        library.add("pets", architecture, state_dict(), classes, CIFAR20.preprocess)


def test_unserialisable_metadata_writes_nothing(library):
    with pytest.raises(TypeError):
        add(library, training={"when": object()})
    assert not library.root.exists() or list(library.root.iterdir()) == []


def test_a_failing_metadata_write_leaves_no_partial_model(library, monkeypatch):
    def disk_full(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(library_module, "atomic_write_text", disk_full)
    with pytest.raises(LibraryError, match=r"could not save model 'pets'.*No space left"):
        add(library)
    assert library.list() == []
    assert list(library.root.iterdir()) == []


def test_a_failing_weights_write_midway_leaves_no_partial_model(library, monkeypatch):
    def fail_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("resnet_desktop.core.atomic.os.fsync", fail_fsync)
    with pytest.raises(LibraryError, match="Input/output error"):
        add(library)
    assert list(library.root.iterdir()) == []


def test_tied_tensors_and_views_are_saved(library):
    """safetensors refuses shared memory; the library copies such tensors first."""
    state = state_dict()
    state["bn1.bias"] = state["bn1.weight"]  # one tensor under two keys
    buffer = torch.arange(100, dtype=torch.float32)
    state["linear.bias"] = buffer[10 : 10 + len(CLASSES)]  # a view into a larger buffer
    state["linear.weight"] = state["linear.weight"].t().contiguous().t()  # non-contiguous
    library.add("tied", "cifar_resnet20", state, CLASSES, CIFAR20.preprocess)
    loaded = library.load_state_dict("tied")
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_import_file_records_source_and_preprocess(library, tmp_path):
    source = tmp_path / "pets.pth"
    state = state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, source)
    model = library.import_file(source, "cifar_resnet20", CLASSES, "pets")
    assert model.source_sha256 == file_sha256(source)
    assert model.preprocess == CIFAR20.preprocess
    loaded = library.load_state_dict("pets")
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_import_file_refuses_bad_files_and_names(library, tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        library.import_file(tmp_path / "none.pth", "cifar_resnet20", CLASSES, "pets")
    with pytest.raises(LibraryError, match="built-in"):
        library.import_file(tmp_path / "none.pth", "cifar_resnet20", CLASSES, "resnet18")
    assert library.list() == []


def test_damaged_weights_file_is_reported(library):
    add(library)
    (library.root / "pets.safetensors").write_bytes(b"garbage")
    with pytest.raises(LibraryError, match="cannot read the weights of 'pets'"):
        library.load_state_dict("pets")


def test_listing_models_and_cached_weights_does_not_import_torch(library):
    """The GUI lists models and weight status before torch has loaded."""
    add(library)
    code = (
        "import sys\n"
        "from resnet_desktop.core import library, weights, zoo\n"
        f"names = [m.name for m in library.ModelLibrary({str(library.root)!r}).list()]\n"
        "cached = [weights.imagenet_weights_cached(s) for s in zoo.SPECS.values()]\n"
        "print(names, any(cached), 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['pets'] False False"
