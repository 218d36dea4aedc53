"""The model library: safetensors + JSON pairs, written atomically, read defensively."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest
import torch

from resnet_desktop.core import library as library_module
from resnet_desktop.core import paths, zoo
from resnet_desktop.core.errors import REMEDY_LIBRARY_REMOVE
from resnet_desktop.core.library import LibraryError, ModelLibrary, check_name
from resnet_desktop.core.locking import file_lock
from resnet_desktop.core.networks import build_network
from resnet_desktop.core.weights import WeightsError, file_sha256

CIFAR20 = zoo.SPECS["cifar_resnet20"]
CLASSES = ["cat", "dog", "fish"]


def state_dict(classes: int = len(CLASSES), seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_network(CIFAR20, num_classes=classes).state_dict()


def add(library: ModelLibrary, name: str = "pets", **kwargs):
    return library.add(name, "cifar_resnet20", state_dict(), CLASSES, CIFAR20.preprocess, **kwargs)


def files(library: ModelLibrary) -> list[str]:
    """The library folder's files, but for the lock file that stays once created."""
    return sorted(p.name for p in library.root.iterdir() if p.name != library_module.LOCK_FILE)


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
    assert files(library) == []


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
    assert files(library) == ["good.json", "good.safetensors"]


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
    assert files(library) == ["pets.json", replaced.weights_path.name]
    assert replaced.weights_path.name.startswith("pets.")
    assert torch.equal(
        library.load_state_dict("pets")["conv1.weight"], state_dict(seed=5)["conv1.weight"]
    )
    library.remove("pets")
    assert files(library) == []


def test_a_failed_overwrite_keeps_the_old_model_whole(library, monkeypatch):
    add(library)
    before = files(library)

    def disk_full(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(library_module, "atomic_write_text", disk_full)
    with pytest.raises(LibraryError, match="No space left"):
        library.add(
            "pets", "cifar_resnet20", state_dict(seed=5), CLASSES, CIFAR20.preprocess,
            overwrite=True,
        )  # fmt: skip
    assert files(library) == before
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
    assert not library.root.exists() or files(library) == []


def test_a_failing_metadata_write_leaves_no_partial_model(library, monkeypatch):
    def disk_full(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(library_module, "atomic_write_text", disk_full)
    with pytest.raises(LibraryError, match=r"could not save model 'pets'.*No space left"):
        add(library)
    assert library.list() == []
    assert files(library) == []


def test_a_failing_weights_write_midway_leaves_no_partial_model(library, monkeypatch):
    def fail_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("resnet_desktop.core.atomic.os.fsync", fail_fsync)
    with pytest.raises(LibraryError, match="Input/output error"):
        add(library)
    assert files(library) == []


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
    with pytest.raises(LibraryError, match="cannot read the weights of 'pets'") as raised:
        library.load_state_dict("pets")
    assert raised.value.remedy == REMEDY_LIBRARY_REMOVE  # remove it, import it again


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


# --- hardening: the lock, shared weights files, damaged entries, hostile metadata -----------


def hold_lock(library: ModelLibrary):
    """The library's lock as another process would hold it (flock excludes other fds too)."""
    return file_lock(library.root / library_module.LOCK_FILE, 1, "busy")


@pytest.mark.parametrize(
    "change",
    [
        lambda library: add(library, "new"),
        lambda library: add(library, "pets", overwrite=True),
        lambda library: library.remove("pets"),
    ],
    ids=["add", "overwrite", "remove"],
)
def test_every_change_waits_for_the_library_lock(library, monkeypatch, change):
    add(library)
    monkeypatch.setattr(library_module, "LOCK_TIMEOUT_S", 0.2)
    before = files(library)
    with hold_lock(library), pytest.raises(LibraryError, match="busy"):
        change(library)
    assert files(library) == before


def test_a_name_saved_while_waiting_for_the_lock_is_not_overwritten(library):
    """Two imports of one name: the second sees the first's model once it gets the lock."""
    outcome: list[object] = []
    library.root.mkdir(parents=True)
    with hold_lock(library):
        waiting = threading.Thread(target=lambda: outcome.append(_try(lambda: add(library))))
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive()  # checked the name, now waits to write
        other = library_module.ModelLibrary(library.root)
        other._write("pets", library_module._safetensors_bytes(state_dict(seed=9)), {
            "format_version": 1, "name": "pets", "architecture": "cifar_resnet20",
            "class_names": ["a", "b", "c"], "preprocess": CIFAR20.preprocess.to_dict(),
            "created": "2024-01-01T00:00:00+00:00",
        })  # fmt: skip
    waiting.join()
    assert isinstance(outcome[0], LibraryError) and "already exists" in str(outcome[0])
    assert library.get("pets").class_names == ("a", "b", "c")
    assert torch.equal(
        library.load_state_dict("pets")["conv1.weight"], state_dict(seed=9)["conv1.weight"]
    )


def _try(action):
    try:
        return action()
    except LibraryError as error:
        return error


def copy_entry(library: ModelLibrary, source: str, name: str) -> None:
    """What a user does by hand: a second JSON file naming the same weights file."""
    data = json.loads((library.root / f"{source}.json").read_text(encoding="utf-8"))
    weights_file = data.get("weights_file", f"{source}.safetensors")
    copy = {**data, "name": name, "weights_file": weights_file}
    (library.root / f"{name}.json").write_text(json.dumps(copy), encoding="utf-8")


@pytest.mark.parametrize("how", ["remove", "overwrite"])
def test_a_weights_file_another_entry_names_is_kept(library, how):
    add(library)
    copy_entry(library, "pets", "copy")
    if how == "remove":
        library.remove("copy")
    else:
        add(library, "copy", overwrite=True)
    assert torch.equal(
        library.load_state_dict("pets")["conv1.weight"], state_dict()["conv1.weight"]
    )
    library.remove("pets")
    assert "pets.safetensors" not in files(library)


def test_the_last_entry_naming_a_weights_file_takes_it_along(library):
    add(library)
    copy_entry(library, "pets", "copy")
    library.remove("pets")
    assert "pets.safetensors" in files(library)
    library.remove("copy")
    assert files(library) == []


def write_metadata(library: ModelLibrary, entry: str = "pets", **changes) -> None:
    path = library.root / f"{entry}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, **changes}), encoding="utf-8")


@pytest.mark.parametrize(
    ("preprocess", "reason"),
    [
        ({"crop": 32, "resize": None, "mean": [0.5, 0.5]}, "mean must be 3 numbers"),
        ({"crop": 32, "resize": None, "std": [0.2, 0, 0.2]}, "std values must be greater than 0"),
        ({"crop": 32, "resize": None, "std": [0.2, -1, 0.2]}, "greater than 0"),
        ({"crop": 32, "resize": None, "mean": [0.5, 1e400, 0.5]}, "mean must be 3 numbers"),
        ({"crop": 32, "resize": None, "mean": [0.5, True, 0.5]}, "mean must be 3 numbers"),
        ({"crop": 32, "resize": None, "mean": [0.5, 10**400, 0.5]}, "mean must be 3 numbers"),
        ({"crop": 20000, "resize": None}, "crop must be a whole number 8..1024"),
        ({"crop": 0, "resize": None}, "crop must be a whole number"),
        ({"crop": 32.5, "resize": None}, "crop must be a whole number"),
        ({"crop": 224, "resize": 100}, "resize must be null or a whole number 224..2048"),
        ({"crop": 224, "resize": 10**30}, "resize must be"),
        ({"resize": None}, "'crop' is missing"),
    ],
)
def test_preprocessing_values_are_checked_when_read(library, preprocess, reason):
    add(library)
    write_metadata(library, preprocess=preprocess)
    with pytest.raises(LibraryError, match="damaged") as raised:
        library.get("pets")
    assert reason in str(raised.value)
    assert [(d.name, reason in d.reason) for d in library.damaged()] == [("pets", True)]


def test_preprocessing_values_are_checked_when_saved(library):
    bad = zoo.Preprocess(crop=32, resize=None, std=(0.2, 0.0, 0.2))
    with pytest.raises(LibraryError, match="std values must be greater than 0"):
        library.add("pets", "cifar_resnet20", state_dict(), CLASSES, bad)
    assert not library.root.exists()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"architecture": "resnet9000"}, "unknown architecture 'resnet9000' (known: resnet18"),
        ({"class_names": ["a", 3, "c"]}, "class names must be non-empty text"),
        ({"class_names": ["a", "a", "c"]}, "unique"),
        ({"class_names": ["x" * 1001, "b", "c"]}, "at most 1000 characters"),
        ({"name": "other"}, "names the model 'other'"),
        ({"base_weights": ["x"]}, "base_weights must be text or null"),
    ],
)
def test_damaged_entries_are_listed_with_the_reason(library, changes, reason):
    add(library, "good")
    add(library)
    write_metadata(library, **changes)
    assert [m.name for m in library.list()] == ["good"]
    [damaged] = library.damaged()
    assert damaged.name == "pets" and reason in damaged.reason
    with pytest.raises(LibraryError, match="damaged") as raised:
        library.get("pets")
    assert reason in str(raised.value)
    assert (raised.value.remedy, raised.value.fields) == (REMEDY_LIBRARY_REMOVE, {"name": "pets"})
    assert library.exists("pets") and "pets" not in library
    with pytest.raises(LibraryError, match=r"a damaged library entry named 'pets' exists"):
        add(library)
    library.remove("pets")
    assert files(library) == ["good.json", "good.safetensors"]


def test_too_many_class_names_are_refused(library, monkeypatch):
    monkeypatch.setattr(library_module, "MAX_CLASSES", 2)
    with pytest.raises(LibraryError, match="at most 2 classes, not 3"):
        add(library)


@pytest.mark.timeout(20)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_special_files_in_the_library_are_damaged_entries_not_hangs(library):
    add(library)
    os.mkfifo(library.root / "fifo.json")
    (library.root / "zero.json").symlink_to("/dev/zero")
    (library.root / "folder.json").mkdir()
    reasons = {d.name: d.reason for d in library.damaged()}
    assert reasons == {name: f"{library.root / name}.json is not a regular file" for name in (
        "fifo", "folder", "zero")}  # fmt: skip
    assert [m.name for m in library.list()] == ["pets"]
    library.remove("fifo")
    library.remove("zero")
    assert not (library.root / "fifo.json").exists()


def test_a_huge_metadata_file_is_not_read(library, monkeypatch):
    add(library)
    monkeypatch.setattr(library_module, "MAX_METADATA_BYTES", 100)
    [damaged] = library.damaged()
    assert "larger than" in damaged.reason


def test_deeply_nested_metadata_is_damaged_not_a_crash(library):
    (library.root).mkdir(parents=True)
    (library.root / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (library.root / "utf16.json").write_text('{"name": "utf16"}', encoding="utf-16")
    reasons = {d.name: d.reason for d in library.damaged()}
    assert "nested too deeply" in reasons["deep"] and "not UTF-8" in reasons["utf16"]


def test_a_missing_weights_file_during_an_overwrite_is_read_again(library, monkeypatch):
    """Another process replaced the model between our reading its JSON and its weights."""
    add(library)
    real_get = library.get
    calls = []

    def get_then_overwrite(name):
        model = real_get(name)
        if not calls:
            calls.append(name)
            library.add(
                "pets", "cifar_resnet20", state_dict(seed=5), CLASSES, CIFAR20.preprocess,
                overwrite=True,
            )  # fmt: skip
        return model

    monkeypatch.setattr(library, "get", get_then_overwrite)
    loaded = library.load_state_dict("pets")
    assert torch.equal(loaded["conv1.weight"], state_dict(seed=5)["conv1.weight"])


def test_check_writable_finds_problems_before_any_work(library, monkeypatch):
    library.check_writable("pets", overwrite=False, needed_bytes=1000)
    assert files(library) == []  # the probe file is gone
    add(library)
    with pytest.raises(LibraryError, match="already exists"):
        library.check_writable("pets", overwrite=False, needed_bytes=0)
    library.check_writable("pets", overwrite=True, needed_bytes=0)
    free = shutil.disk_usage(library.root).free
    with pytest.raises(LibraryError, match="not enough free space"):
        library.check_writable("new", overwrite=False, needed_bytes=free * 2)


def test_check_writable_finds_a_read_only_library(library, monkeypatch):
    add(library)

    def read_only(**kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(library_module.tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(LibraryError, match=r"cannot save models in .*: Permission denied"):
        library.check_writable("new", overwrite=False, needed_bytes=0)


def age(path, days: float) -> None:
    when = time.time() - days * 24 * 3600
    os.utime(path, (when, when), follow_symlinks=False)


def test_abandoned_files_older_than_a_day_are_cleaned(library):
    add(library)
    litter = [".pets.json.abc.tmp", "orphan.safetensors", ".write-test-x.tmp"]
    fresh = [".new.json.def.tmp", "fresh.safetensors"]
    for name in litter + fresh:
        (library.root / name).write_bytes(b"x")
    for name in [*litter, "pets.json", "pets.safetensors"]:
        age(library.root / name, 2)
    removed = library.clean_abandoned()
    assert sorted(p.name for p in removed) == sorted(litter)
    assert files(library) == sorted([*fresh, "pets.json", "pets.safetensors"])
    assert library.get("pets")


def test_nothing_is_cleaned_while_another_process_holds_the_lock(library):
    add(library)
    (library.root / "orphan.safetensors").write_bytes(b"x")
    age(library.root / "orphan.safetensors", 2)
    with hold_lock(library):
        assert library.clean_abandoned() == []
    assert "orphan.safetensors" in files(library)
