"""tests/benchmarks/gpu_check.py, the script for a CUDA machine, run through on the CPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.benchmarks import gpu_check


def test_the_gpu_check_runs_every_step_on_the_cpu(capsys):
    argv = ["--device", "cpu", "--images", "3", "--batches", "1", "--model", "cifar_resnet20"]
    assert gpu_check.main(argv) == 0
    report = dict(line.rsplit(": ", 1) for line in capsys.readouterr().out.splitlines()[1:])
    assert report["GPU decoding available (nvJPEG)"] == "True"  # torchvision's CPU decoder
    assert report["images"] == "5"  # three photos, a PNG and a broken file
    assert report["GPU model, CPU-decoded inputs: rows equal to the CPU's"] == "5"
    assert report["GPU decoding: errors equal to the CPU's"] == "True"
    assert int(report["GPU decoding: max abs pixel difference"]) <= 255
    rates = [key for key in report if key.startswith(("model only", "end to end"))]
    assert len(rates) == 3  # bf16 model only (no fp16 on the CPU); CPU and GPU decoding


def test_synthetic_photos_include_files_the_cpu_must_decode_or_refuse(tmp_path: Path):
    paths = gpu_check.write_photos(tmp_path, 3)
    assert [p.suffix for p in paths] == [".jpg", ".png", ".jpg", ".jpg", ".jpg"]


def test_a_missing_platformdirs_is_stubbed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.delitem(sys.modules, "platformdirs")
    gpu_check.stub_missing_modules()
    assert sys.modules["platformdirs"].__name__ == "platformdirs"
