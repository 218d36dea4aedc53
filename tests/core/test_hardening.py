"""Bounded reads, the OS file lock, and the clean-up of what killed runs leave behind."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resnet_desktop.cli import main
from resnet_desktop.core import paths, zoo
from resnet_desktop.core.housekeeping import clean_abandoned
from resnet_desktop.core.locking import LockTimeout, file_lock, is_locked
from resnet_desktop.core.safe_read import (
    UnsafeFileError,
    check_regular_file,
    parse_json,
    read_bounded,
)

POSIX_ONLY = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")


# --- bounded reads -------------------------------------------------------------------------


def test_read_bounded_reads_regular_files_up_to_the_limit(tmp_path):
    (tmp_path / "f").write_bytes(b"12345")
    assert read_bounded(tmp_path / "f", 5) == b"12345"
    assert check_regular_file(tmp_path / "f", 5) == 5
    with pytest.raises(UnsafeFileError, match="larger than 4 bytes"):
        read_bounded(tmp_path / "f", 4)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 5)


@pytest.mark.timeout(10)
@POSIX_ONLY
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_special_files_are_refused_at_once(tmp_path, kind):
    path = tmp_path / "x"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    for read in (read_bounded, check_regular_file):
        with pytest.raises(UnsafeFileError, match="is not a regular file") as raised:
            read(path, 1 << 20)
        assert isinstance(raised.value, OSError)


@pytest.mark.parametrize(
    ("data", "message"),
    [("[]".encode("utf-16"), "not UTF-8"), (b"[" * 100_000, "nested too deeply")],
)
def test_parse_json_turns_encoding_and_nesting_failures_into_value_errors(data, message):
    with pytest.raises(ValueError, match=f"source.json is {message}"):
        parse_json(data, "source.json")


def test_parse_json_accepts_a_byte_order_mark():
    assert parse_json('{"a": 1}'.encode("utf-8-sig"), "x") == {"a": 1}


# --- the lock ----------------------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from resnet_desktop.core.locking import file_lock
with file_lock(Path(sys.argv[1]), 5, "busy"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_the_lock_excludes_another_process_and_dies_with_it(tmp_path):
    lock = tmp_path / ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert is_locked(lock)
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="busy"), file_lock(lock, 0.2, "busy"):
            pass
        assert time.monotonic() - started >= 0.2
    finally:
        holder.kill()
        holder.communicate()
    assert not is_locked(lock)  # the OS released it with the process
    with file_lock(lock, 0, "busy"):
        assert is_locked(lock)


def test_a_missing_lock_file_is_not_locked(tmp_path):
    assert not is_locked(tmp_path / "none" / ".lock")


# --- clean-up of litter ------------------------------------------------------------------


def age(path: Path, days: float) -> None:
    when = time.time() - days * 24 * 3600
    os.utime(path, (when, when), follow_symlinks=False)


def make(path: Path, days: float, folder: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        path.mkdir()
        (path / "model.xml").write_text("<half")
    else:
        path.write_bytes(b"x")
    age(path, days)
    return path


def test_litter_older_than_a_day_is_cleaned_and_nothing_else():
    cache = paths.openvino_cache_dir()
    hub = paths.torch_hub_dir() / "checkpoints"
    weights = zoo.SPECS["resnet18"].weights_file
    litter = [
        make(cache / ".converting-abc", 2, folder=True),
        make(cache / ".replaced-abc", 2, folder=True),
        make(paths.config_dir() / ".settings.json.abc.tmp", 2),
        make(hub / f".{weights}.abc.tmp", 2),
        make(paths.library_dir() / ".pets.json.abc.tmp", 2),
        make(paths.library_dir() / "orphan.safetensors", 2),
    ]
    kept = [
        make(cache / ".converting-new", 0.5, folder=True),  # may still be converting
        make(cache / "0123abcd", 2, folder=True),  # an entry: the cache prunes those
        make(paths.config_dir() / "settings.json", 2),
        make(paths.config_dir() / ".other-app.abc.tmp", 2),  # not ours
        make(hub / "someone-elses.pth.tmp", 2),
        make(paths.library_dir() / ".new.json.abc.tmp", 0.5),
    ]
    assert sorted(clean_abandoned()) == sorted(litter)
    assert not any(os.path.lexists(p) for p in litter)
    assert all(p.exists() for p in kept)


def test_a_locked_conversion_folder_is_left_alone():
    staging = make(paths.openvino_cache_dir() / ".converting-abc", 2, folder=True)
    with file_lock(staging / ".lock", 0, "busy"):
        age(staging, 2)
        assert clean_abandoned() == []
    assert staging.exists()
    assert clean_abandoned() == [staging]


def test_the_command_line_cleans_up_at_start(capsys):
    orphan = make(paths.library_dir() / "orphan.safetensors", 2)
    assert main(["models", "list"]) == 0
    assert not orphan.exists()


# --- fine-tuning finds a library it cannot save in before training -------------------------


def finetune_argv(dataset: Path, name: str = "tuned") -> list[str]:
    return ["finetune", str(dataset), "--model", "cifar_resnet20", "--weights", "random",
            "--strategy", "head", "--epochs", "1", "--name", name]  # fmt: skip


def no_training(*args, **kwargs):
    raise AssertionError("trained although the result could not be saved")


@pytest.fixture
def dataset(tmp_path) -> Path:
    from tests.helpers import write_class_folders

    return write_class_folders(tmp_path / "data", 5, {"dark": (20, 20, 20), "light": (230,) * 3})


def test_finetune_checks_the_library_is_writable_before_training(dataset, monkeypatch, capsys):
    from resnet_desktop.core import library as library_module

    def read_only(**kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(library_module.tempfile, "NamedTemporaryFile", read_only)
    monkeypatch.setattr("resnet_desktop.core.trainer.fit", no_training)
    assert main(finetune_argv(dataset)) == 1
    assert "cannot save models in" in capsys.readouterr().err


def test_finetune_checks_free_space_before_training(dataset, monkeypatch, capsys):
    from resnet_desktop.core import library as library_module

    monkeypatch.setattr(
        library_module.shutil, "disk_usage", lambda path: type("U", (), {"free": 1000})()
    )
    monkeypatch.setattr("resnet_desktop.core.trainer.fit", no_training)
    assert main(finetune_argv(dataset)) == 1
    assert "not enough free space" in capsys.readouterr().err


def test_finetune_keeps_a_result_the_library_refuses_and_says_where(
    dataset, tmp_path, monkeypatch, capsys
):
    from resnet_desktop.core import library as library_module

    monkeypatch.setattr(library_module.tempfile, "tempdir", str(tmp_path))

    def disk_full(self, name, *written):
        raise library_module.LibraryError(f"could not save model {name!r}: No space left")

    real_write = library_module.ModelLibrary._write
    monkeypatch.setattr(library_module.ModelLibrary, "_write", disk_full)
    assert main(finetune_argv(dataset)) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    assert "No space left" in error and "The trained model is kept in" in error
    command = error.split("add it to the library later with: ")[1]
    argv = shlex.split(command)
    assert argv[:3] == ["resnet-desktop", "models", "import"]
    monkeypatch.setattr(library_module.ModelLibrary, "_write", real_write)
    assert main(argv[1:]) == 0
    assert library_module.ModelLibrary().get("tuned").class_names == ("dark", "light")


@pytest.mark.skipif(os.sep == "\\", reason="ESC is not allowed in Windows file names")
def test_evaluate_prints_unreadable_file_names_escaped(tmp_path, capsys):
    from tests.helpers import write_class_folders

    folder = write_class_folders(tmp_path / "data", 3, {"cat": (20, 20, 20), "dog": (230,) * 3})
    (folder / "cat" / "\x1b[2Jbroken.png").write_bytes(b"not an image")
    argv = ["evaluate", str(folder), "--model", "cifar_resnet20", "--weights", "random"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[2Jbroken.png" in err
