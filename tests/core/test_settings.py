"""Settings survive a round trip, and a broken file never stops the app from starting."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from resnet_desktop.core.settings import (
    SCHEMA_VERSION,
    Settings,
    load_settings,
    save_settings,
    settings_path,
)


def test_missing_file_gives_defaults(tmp_path: Path):
    assert load_settings(tmp_path / "nothing.json") == Settings()


def test_round_trip_keeps_every_field():
    changed = Settings(
        last_folder="/photos/2024",
        model="my-flowers",
        device="cpu",
        precision="bf16",
        engine="torch",
        top_k=3,
        batch_size=16,
        window_geometry="AdnQywADAAA=",
        splitter_state="AAAA/wAAAAE=",
    )
    save_settings(changed)
    assert settings_path().is_file()
    assert load_settings() == changed
    assert json.loads(settings_path().read_text(encoding="utf-8"))["schema_version"] == (
        SCHEMA_VERSION
    )


def test_settings_live_in_the_config_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("RESNET_DESKTOP_DATA_DIR", str(tmp_path / "portable"))
    assert settings_path() == tmp_path / "portable" / "settings.json"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "", "\x00\x01"])
def test_corrupt_file_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str):
    path = tmp_path / "settings.json"
    path.write_text(text, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert load_settings(path) == Settings()
    assert not path.exists()
    aside = list(tmp_path.glob("settings.json.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_text(encoding="utf-8") == text
    assert "corrupt" in caplog.text
    save_settings(Settings(top_k=2), path)  # the next save works and the aside copy stays
    assert load_settings(path).top_k == 2
    assert aside[0].exists()


@pytest.mark.parametrize(
    "content",
    [
        '{"top_k": 3}'.encode("utf-16"),
        b'{"last_folder": "caf\xe9"}',  # Latin-1
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["utf-16", "latin-1", "deeply-nested"],
)
def test_unreadable_encodings_and_nesting_are_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
):
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert load_settings(path) == Settings()
    [aside] = tmp_path.glob("settings.json.corrupt-*")
    assert aside.read_bytes() == content and not path.exists()


@pytest.mark.timeout(20)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder", "huge"])
def test_special_and_huge_files_are_set_aside_without_blocking(tmp_path: Path, kind: str):
    path = tmp_path / "settings.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_text('{"top_k": 3, "pad": "' + "x" * (1 << 20) + '"}', encoding="utf-8")
    assert load_settings(path) == Settings()
    assert not os.path.lexists(path)
    assert len(list(tmp_path.glob("settings.json.corrupt-*"))) == 1
    save_settings(Settings(top_k=2), path)
    assert load_settings(path).top_k == 2


def test_corrupt_files_of_the_same_second_are_all_kept(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("resnet_desktop.core.settings.time.strftime", lambda _: "20240101-000000")
    path = tmp_path / "settings.json"
    for text in ("{one", "{two", "{three"):
        path.write_text(text, encoding="utf-8")
        load_settings(path)
    kept = sorted(p.read_text(encoding="utf-8") for p in tmp_path.glob("settings.json.corrupt-*"))
    assert kept == ["{one", "{three", "{two"]


def test_unknown_keys_are_ignored(tmp_path: Path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"top_k": 7, "theme": "dark", "plugins": [1]}), encoding="utf-8")
    assert load_settings(path) == Settings(top_k=7)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("top_k", "5"),
        ("top_k", 0),
        ("top_k", 11),
        ("top_k", True),
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("device", "tpu"),
        ("precision", 16),
        ("engine", "tensorrt"),
        ("model", ""),
        ("last_folder", ["a"]),
        ("window_geometry", 12),
        ("batch_size", 99999999999999999999999999),  # Qt's setValue takes a C int
        ("batch_size", 4097),
        ("top_k", 2**64),
        ("schema_version", 10**30),
        ("last_folder", "/photos\x00/x"),
        ("model", "m" * 5000),
        ("window_geometry", "A" * 70_000),
    ],
)
def test_wrong_values_fall_back_per_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, key: str, value: object
):
    path = tmp_path / "settings.json"
    data = {"model": "resnet18", "top_k": 4, key: value}
    path.write_text(json.dumps(data), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        loaded = load_settings(path)
    assert getattr(loaded, key) == getattr(Settings(), key)
    kept = {"model": "resnet18", "top_k": 4}
    kept.pop(key, None)
    assert all(getattr(loaded, name) == expected for name, expected in kept.items())
    assert key in caplog.text
    assert path.exists()  # a bad value is not a corrupt file


def test_null_batch_size_means_auto(tmp_path: Path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"batch_size": None, "device": "cuda"}), encoding="utf-8")
    assert load_settings(path) == Settings(batch_size=None, device="cuda")


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path):
    path = tmp_path / "cfg" / "settings.json"
    save_settings(Settings(), path)
    save_settings(Settings(model="resnet18"), path)
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]
    assert load_settings(path).model == "resnet18"
