"""The command line's frame: version, help, sub-command dispatch, ``python -m``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from resnet_desktop import __version__
from resnet_desktop.cli import build_parser, main


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
