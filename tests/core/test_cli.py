"""The command line's frame: version, help, dispatch, ``python -m``, errors and bugs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_desktop import __version__
from resnet_desktop.cli import build_parser, main
from resnet_desktop.core.errors import bug_summary
from tests.helpers import write_colour_images


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"resnet-desktop {__version__}"


def test_every_sub_command_has_help_with_its_own_usage(capsys):
    for command in ("predict", "models", "benchmark", "finetune", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert capsys.readouterr().out.startswith(f"usage: resnet-desktop {command} ")


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "resnet_desktop", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and __version__ in result.stdout


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["predict", "x", "--model", "resnet18", "--device", "tpu"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


# ------------------------------------------------------------------ user errors and bugs


def _log_file() -> Path:
    return Path(os.environ["RESNET_DESKTOP_DATA_DIR"]) / "logs" / "resnet-desktop.log"


def _predict(*args: str) -> int:
    return main(["predict", *args, "--model", "cifar_resnet20", "--weights", "random"])


def test_a_user_error_is_one_line_without_traceback(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert _predict(str(missing)) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"error: no such file or folder: {missing}"]
    assert not _log_file().exists() or "Traceback" not in _log_file().read_text()


def test_an_unwritable_output_is_a_user_error(tmp_path, capsys):
    write_colour_images(tmp_path, per_colour=1)
    out = tmp_path / "red_000.png" / "out.csv"  # "inside" a file
    assert _predict(str(tmp_path), "--engine", "torch", "--csv", str(out)) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"error: cannot write {out}: ")
    assert "bug" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    "error", [RuntimeError("index out of range"), KeyError("label"), ValueError("zip()"), OSError()]
)
def test_a_bug_says_so_in_one_line_and_its_traceback_goes_to_the_log(
    tmp_path, capsys, monkeypatch, error
):
    def broken_scan(*args, **kwargs):
        raise error

    monkeypatch.setattr("resnet_desktop.app.catalog_run.scan_images", broken_scan)
    assert _predict(str(tmp_path)) == 1
    lines = capsys.readouterr().err.splitlines()
    log_file = _log_file()
    assert lines == [f"error: {bug_summary(error)} — this is a bug; details in {log_file}"]
    logged = log_file.read_text(encoding="utf-8")
    assert "bug while running resnet_desktop.commands.predict.run" in logged
    assert "Traceback (most recent call last)" in logged and "in broken_scan" in logged
