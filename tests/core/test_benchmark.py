"""``resnet-desktop benchmark``: every stage measured, the runtime's choice explained."""

from __future__ import annotations

import pytest

from resnet_desktop.cli import main
from resnet_desktop.core import benchmark
from resnet_desktop.core import device as device_mod
from tests.helpers import write_colour_images

TINY = ["--model", "cifar_resnet20", "--weights", "random", "--batches", "1", "--device", "cpu",
        "--batch-size", "4"]  # fmt: skip


def test_the_benchmark_measures_each_stage_and_says_why_it_runs_as_it_does(tmp_path, capsys):
    write_colour_images(tmp_path, per_colour=3)
    argv = ["benchmark", *TINY, "--folder", str(tmp_path), "--compare-tutorial"]
    assert main([*argv, "--precision", "fp32", "--engine", "torch"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cifar_resnet20 on cpu (fp32, PyTorch, batch 4)")
    assert lines[1] == "why: fp32: as chosen; PyTorch: as chosen"
    stages = [line.split()[0] for line in lines[2:]]
    assert stages == ["model", "decode", "end-to-end", "pipeline", "efficiency", "tutorial",
                      "speed-up"]  # fmt: skip
    assert "(9 in " in lines[3] and "(9 in " in lines[4]  # all nine images, decoded and run


def test_auto_says_why_it_chose_its_precision_and_engine(capsys):
    assert main(["benchmark", *TINY]) == 0
    why = capsys.readouterr().out.splitlines()[1]
    assert why.startswith("why: ") and "as chosen" not in why


def test_int8_needs_images_to_calibrate_on(monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setattr(device_mod, "nncf_installed", lambda: True)
    assert main(["benchmark", *TINY, "--precision", "int8"]) == 1
    assert "int8 calibrates on images: give --folder" in capsys.readouterr().err


def test_the_bound_of_shared_cores_and_of_overlapping_stages():
    assert benchmark.pipeline_bound(100, 100, shared_cpu=True) == pytest.approx(50)
    assert benchmark.pipeline_bound(100, 300, shared_cpu=False) == 100
    assert benchmark.pipeline_bound(0, 300, shared_cpu=True) == 0
