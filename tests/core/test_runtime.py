"""The runtime options: one value from either front end, resolved once into decisions."""

from __future__ import annotations

import argparse

import pytest
import torch

from resnet_desktop.commands.common import add_runtime_args, runtime_options
from resnet_desktop.core import device as device_mod
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.train_config import TrainConfig
from resnet_desktop.core.zoo import Preprocess

CIFAR = Preprocess(crop=32, resize=None)
IMAGENET = Preprocess(crop=224, resize=256)


def test_the_default_batch_size_depends_on_device_and_input_size():
    assert RuntimeOptions(device="cpu").resolve(CIFAR).batch_size == 256
    assert RuntimeOptions(device="cpu").resolve(IMAGENET).batch_size == 32
    assert RuntimeOptions(device="cpu", batch_size=7).resolve(IMAGENET).batch_size == 7


def test_resolving_names_every_decision(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(device_mod, "openvino_installed", lambda: True)
    options = RuntimeOptions(device="cpu", precision="fp32")
    resolved = options.resolve(CIFAR)
    assert (resolved.device, resolved.precision, resolved.engine) == ("cpu", "fp32", "openvino")
    assert resolved.options == options and not resolved.engine_named
    assert resolved.describe() == "cpu (fp32, OpenVINO, batch 256)"
    assert options.in_pytorch().resolve(CIFAR).engine == "torch"
    monkeypatch.setattr(device_mod, "openvino_installed", lambda: False)
    assert options.resolve(CIFAR).engine == "torch"


@pytest.mark.parametrize(
    ("feature", "openvino", "expected", "why"),
    [
        ("AMX", True, ("bf16", "openvino"), "bf16 in hardware (AMX)"),
        ("AVX512-BF16", True, ("bf16", "openvino"), "bf16 in hardware (AVX512-BF16)"),
        ("AVX512-BF16", False, ("bf16", "torch"), "OpenVINO is not installed"),
        (None, True, ("fp32", "openvino"), "no native bf16"),
    ],
)
def test_auto_takes_the_fastest_accurate_setting_and_says_why(
    monkeypatch: pytest.MonkeyPatch, feature, openvino, expected, why
):
    monkeypatch.setattr(device_mod, "cpu_bf16_feature", lambda: feature)
    monkeypatch.setattr(device_mod, "openvino_installed", lambda: openvino)
    resolved = RuntimeOptions(device="cpu").resolve(IMAGENET)
    assert (resolved.precision, resolved.engine) == expected
    assert why in resolved.reason and resolved.reason.startswith(expected[0])


def test_int8_runs_in_openvino_and_is_never_swapped_for_another_engine(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(device_mod, "openvino_installed", lambda: True)
    monkeypatch.setattr(device_mod, "nncf_installed", lambda: True)
    resolved = RuntimeOptions(device="cpu", precision="int8").resolve(IMAGENET)
    assert (resolved.precision, resolved.engine) == ("int8", "openvino")
    assert resolved.engine_named and "NNCF" in resolved.reason
    with pytest.raises(ValueError, match="int8 runs in OpenVINO only"):
        RuntimeOptions(device="cpu", precision="int8", engine="torch").resolve(IMAGENET)
    with pytest.raises(ValueError, match="int8 runs on the CPU"):
        device_mod.choose_precision(torch.device("cuda"), "int8")


def test_int8_without_nncf_says_what_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(device_mod, "nncf_installed", lambda: False)
    with pytest.raises(ValueError, match=r"pip install 'resnet-desktop\[int8\]'"):
        RuntimeOptions(device="cpu", precision="int8").resolve(IMAGENET)


def test_a_named_engine_is_marked_so():
    resolved = RuntimeOptions(device="cpu", precision="fp32", engine="torch").resolve(CIFAR)
    assert resolved.engine_named and resolved.describe().endswith("PyTorch, batch 256)")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (RuntimeOptions(device="tpu"), "unknown device"),
        (RuntimeOptions(precision="fp8"), "unknown precision"),
        (RuntimeOptions(engine="tensorrt"), "unknown engine"),
        (RuntimeOptions(device="cpu", precision="fp16"), "fp16 is not supported on the CPU"),
        (RuntimeOptions(batch_size=0), "batch size"),
    ],
)
def test_impossible_choices_are_clear_errors(options: RuntimeOptions, message: str):
    with pytest.raises(ValueError, match=message):
        options.resolve(CIFAR)


def _parse(argv: list[str], *, engine: bool = True) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_runtime_args(parser, engine=engine)
    return parser.parse_args(argv)


def test_the_command_line_gives_one_value():
    args = _parse(["--device", "cpu", "--precision", "bf16", "--engine", "torch"])
    assert runtime_options(args) == RuntimeOptions("cpu", "bf16", "torch", None)
    args = _parse(["--batch-size", "8"], engine=False)
    assert runtime_options(args) == RuntimeOptions(batch_size=8)


def test_training_settings_keep_device_and_precision_flat_in_their_metadata():
    config = TrainConfig(strategy="full", runtime=RuntimeOptions("cpu", "bf16", "openvino", 9))
    values = config.to_dict()
    assert (values["device"], values["precision"]) == ("cpu", "bf16")
    assert "runtime" not in values and "engine" not in values
    changed = config.updated(precision="fp32", epochs=3)
    assert changed.runtime == RuntimeOptions("cpu", "fp32", "openvino", 9)
    assert (changed.epochs, changed.strategy) == (3, "full")


def test_deciding_on_probed_hardware_is_resolving():
    """The window shows what a run will use by deciding without torch: the same answer."""
    hardware = device_mod.Hardware.probe()
    for options in (RuntimeOptions(), RuntimeOptions("cpu", "fp32", "torch", 9)):
        assert options.decide(hardware, IMAGENET) == options.resolve(IMAGENET)


def test_only_precisions_that_run_are_offered(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(device_mod, "openvino_installed", lambda: True)
    monkeypatch.setattr(device_mod, "nncf_installed", lambda: False)
    cpu, gpu = device_mod.Hardware(("cpu",)), device_mod.Hardware(("cuda", "cpu"), True)
    assert device_mod.runnable_precisions("cpu", cpu) == ("auto", "fp32", "bf16")
    assert device_mod.runnable_precisions("cuda", gpu) == ("auto", "fp32", "bf16", "fp16")
    old_gpu = device_mod.Hardware(("cuda", "cpu"), cuda_bf16=False)
    assert device_mod.runnable_precisions("cuda", old_gpu) == ("auto", "fp32", "fp16")
    monkeypatch.setattr(device_mod, "nncf_installed", lambda: True)
    assert "int8" in device_mod.runnable_precisions("cpu", cpu)
    for device in ("cpu", "cuda"):  # what is offered, resolves
        for precision in device_mod.runnable_precisions(device, gpu):
            assert device_mod.precision_for(device, precision, True).value != "auto"
