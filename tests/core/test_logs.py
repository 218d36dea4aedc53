"""The log file: tracebacks in a rotating file of the data folder, one line on stderr."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from resnet_desktop.app import logs

log = logging.getLogger("resnet_desktop.tests")


def _data_dir() -> Path:
    return Path(os.environ["RESNET_DESKTOP_DATA_DIR"])


def _fail() -> None:
    raise TypeError("unsupported operand")


def _caught() -> TypeError:
    try:
        _fail()
    except TypeError as error:
        return error
    raise AssertionError("_fail always raises")


def test_the_log_file_is_in_the_data_folder_and_gets_the_tracebacks(capsys):
    path = logs.setup_logging()
    assert path == _data_dir() / "logs" / "resnet-desktop.log" == logs.log_file()
    log.warning("cannot read folder %s", "/photos/private")
    log.warning("the OpenVINO engine failed; running it in PyTorch", exc_info=_caught())
    err = capsys.readouterr().err
    assert err.splitlines() == ["warning: cannot read folder /photos/private"]
    text = path.read_text(encoding="utf-8")
    assert "WARNING resnet_desktop.tests [MainThread]: cannot read folder" in text
    assert "Traceback (most recent call last)" in text and 'in _fail\n    raise TypeError("' in text


def test_a_bug_report_is_one_line_naming_the_log_and_the_traceback_to_copy():
    path = logs.setup_logging()
    report = logs.report_bug(_caught(), "testing")
    assert report.message == f"TypeError: unsupported operand — this is a bug; details in {path}"
    assert report.details.startswith("Traceback (most recent call last)")
    assert report.details.endswith("TypeError: unsupported operand\n")
    assert "bug while testing" in path.read_text(encoding="utf-8")


def test_setting_up_again_replaces_the_handlers(capsys):
    logs.setup_logging()
    second = logs.setup_logging()
    log.warning("once")
    assert capsys.readouterr().err == "warning: once\n"
    assert second is not None and second.read_text(encoding="utf-8").count("once") == 1


def test_the_file_rotates_and_keeps_a_bounded_number(monkeypatch):
    monkeypatch.setattr(logs, "MAX_BYTES", 2_000)
    path = logs.setup_logging()
    assert path is not None
    for number in range(200):
        log.info("line %d %s", number, "x" * 100)
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == [f"{logs.LOG_NAME}{suffix}" for suffix in ("", ".1", ".2", ".3")]
    assert all(p.stat().st_size <= 2_000 for p in path.parent.iterdir())


def test_without_a_writable_folder_the_tracebacks_go_to_stderr(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RESNET_DESKTOP_DATA_DIR", str(blocker))
    assert logs.setup_logging() is None
    report = logs.report_bug(_caught(), "testing")
    assert report.message.endswith("this is a bug; the details are on standard error")
    err = capsys.readouterr().err
    assert "no log file: cannot write" in err
    assert "Traceback (most recent call last)" in err


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_the_console_level_is_the_front_ends_choice(capsys, level):
    logs.setup_logging(console_level=level)
    log.info("loading the model")
    assert ("loading the model" in capsys.readouterr().err) == (level == logging.INFO)
