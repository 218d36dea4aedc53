"""The OpenVINO engine: same answers as PyTorch, a cache that is reused and rebuilt."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnet_desktop.commands.common import REMEDIES
from resnet_desktop.core import device as device_mod
from resnet_desktop.core import openvino_engine
from resnet_desktop.core.errors import user_message
from resnet_desktop.core.locking import LockTimeout, file_lock
from resnet_desktop.core.model_loader import LoadedModel, load_model
from resnet_desktop.core.predictor import Predictor
from resnet_desktop.core.zoo import Preprocess, get_spec
from tests.helpers import colour_model, resolved, write_colour_images

CPU = torch.device("cpu")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own (conftest shares one across the session)."""
    root = tmp_path / "openvino-cache"
    monkeypatch.setattr(openvino_engine, "cache_root", lambda: root)
    return root


def _tiny(seed: int) -> LoadedModel:
    """A seeded linear classifier over mean colour: cheap to export, weights differ by seed."""
    torch.manual_seed(seed)
    network = torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4)
    )
    return LoadedModel(
        name=f"tiny{seed}",
        spec=get_spec("cifar_resnet20"),
        network=network.eval(),
        class_names=["a", "b", "c", "d"],
        preprocess=Preprocess(crop=8, resize=None),
    )


class Unexportable(torch.nn.Module):
    """Picklable (so it goes to the conversion process), but its forward cannot be traced."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this network refuses to be exported")


def _inputs(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8, generator=generator)


def test_openvino_fp32_gives_pytorch_fp32_answers_at_any_batch_size(cache: Path):
    model = load_model("cifar_resnet20", "random")
    torch_engine = Predictor(model, resolved(model, precision="fp32", engine="torch"))
    openvino = Predictor(model, resolved(model, precision="fp32", engine="openvino"))
    assert openvino.runtime.engine == "openvino"
    for batch in (1, 5):
        inputs = _inputs(batch, 32, seed=batch)
        torch_p, torch_i = torch_engine.predict_inputs(inputs)
        ov_p, ov_i = openvino.predict_inputs(inputs)
        assert torch.equal(ov_i[:, 0], torch_i[:, 0])
        torch.testing.assert_close(ov_p, torch_p, atol=1e-5, rtol=1e-4)


def test_bf16_through_openvino_stays_close_to_fp32(cache: Path):
    model = _tiny(0)
    inputs = _inputs(6, 8)
    fp32, _ = Predictor(model, resolved(model, precision="fp32", engine="torch")).predict_inputs(
        inputs
    )
    bf16, _ = Predictor(model, resolved(model, precision="bf16", engine="openvino")).predict_inputs(
        inputs
    )
    torch.testing.assert_close(bf16, fp32, atol=2e-2, rtol=0)


def test_the_converted_model_is_cached_and_reused(cache: Path, monkeypatch: pytest.MonkeyPatch):
    notices: list[str] = []
    model = _tiny(0)
    first = Predictor(
        model, resolved(model, precision="fp32", engine="openvino"), notify=notices.append
    )
    assert len(notices) == 1 and "once per model" in notices[0]
    assert entries(cache) == [openvino_engine.cache_key(model)]

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr("openvino.convert_model", no_conversion)
    second = Predictor(
        model, resolved(model, precision="fp32", engine="openvino"), notify=notices.append
    )
    assert len(notices) == 1
    inputs = _inputs(3, 8)
    assert torch.equal(first.predict_inputs(inputs)[1], second.predict_inputs(inputs)[1])


def test_other_weights_get_their_own_entry():
    model = _tiny(0)
    key = openvino_engine.cache_key(model)
    with torch.no_grad():
        model.network[2].bias[0] += 1e-3
    assert openvino_engine.cache_key(model) != key
    assert openvino_engine.cache_key(_tiny(0)) == key


def test_an_unreadable_entry_is_rebuilt(cache: Path):
    model = _tiny(0)
    Predictor(model, resolved(model, precision="fp32", engine="openvino"))
    xml = cache / openvino_engine.cache_key(model) / "model.xml"
    xml.write_text("<net><broken")
    notices: list[str] = []
    rebuilt = Predictor(
        model, resolved(model, precision="fp32", engine="openvino"), notify=notices.append
    )
    assert len(notices) == 1
    assert rebuilt.predict_inputs(_inputs(2, 8))[1].shape == (2, 4)
    assert "<broken" not in xml.read_text()


def entries(cache: Path) -> list[str]:
    """The cache's entries, without its lock file."""
    return sorted(p.name for p in cache.iterdir() if p.name != openvino_engine.LOCK_FILE)


def test_a_conversion_another_run_finished_first_is_used_and_kept(
    cache: Path, monkeypatch: pytest.MonkeyPatch
):
    """Two first conversions at once: the second to finish must not delete the first's."""
    model = _tiny(0)
    folder = cache / openvino_engine.cache_key(model)
    real_convert = openvino_engine.convert_and_save
    theirs: list[int] = []

    def other_process_finishes_first(loaded, xml_path, calibration=None):
        real_convert(loaded, xml_path, calibration)
        if not theirs:  # the other run's entry appears while ours is being converted
            other = folder.with_name(".other")
            other.mkdir()
            real_convert(loaded, other / "model.xml")
            os.replace(other, folder)
            theirs.append((folder / "model.xml").stat().st_ino)

    monkeypatch.setattr(openvino_engine, "convert_and_save", other_process_finishes_first)
    predictor = Predictor(model, resolved(model, precision="fp32", engine="openvino"))
    assert predictor.predict_inputs(_inputs(2, 8))[1].shape == (2, 4)
    assert (folder / "model.xml").stat().st_ino == theirs[0]  # theirs was never replaced
    assert entries(cache) == [folder.name]


def test_publishing_waits_for_the_cache_lock(cache: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(openvino_engine, "PUBLISH_TIMEOUT_S", 0.2)
    cache.mkdir()
    with (
        file_lock(cache / openvino_engine.LOCK_FILE, 1, "held"),
        pytest.raises(LockTimeout, match=r"OpenVINO cache .* is busy"),
    ):
        openvino_engine.OpenVinoNetwork(_tiny(0), "fp32")
    assert entries(cache) == []  # the staging folder is gone too


@pytest.mark.parametrize("where", ["entry", "cache"])
def test_a_plain_file_where_the_cache_or_an_entry_belongs_is_repaired(cache: Path, where: str):
    model = _tiny(0)
    if where == "cache":
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("not a folder")
    else:
        cache.mkdir()
        (cache / openvino_engine.cache_key(model)).write_text("not a folder")
    predictor = Predictor(model, resolved(model, precision="fp32", engine="openvino"))
    assert predictor.predict_inputs(_inputs(2, 8))[1].shape == (2, 4)
    assert (cache / openvino_engine.cache_key(model) / "model.xml").is_file()


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_an_entry_with_special_files_is_rebuilt_without_blocking(cache: Path):
    model = _tiny(0)
    Predictor(model, resolved(model, precision="fp32", engine="openvino"))
    xml = cache / openvino_engine.cache_key(model) / "model.xml"
    xml.unlink()
    os.mkfifo(xml)
    rebuilt = Predictor(model, resolved(model, precision="fp32", engine="openvino"))
    assert rebuilt.predict_inputs(_inputs(2, 8))[1].shape == (2, 4)
    assert xml.is_file()


def test_the_cache_keeps_only_the_most_recent_entries(cache: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(openvino_engine, "CACHE_ENTRIES_KEPT", 2)
    models = [_tiny(seed) for seed in range(3)]
    for model in models:
        Predictor(model, resolved(model, precision="fp32", engine="openvino"))
    kept = set(entries(cache))
    assert kept == {openvino_engine.cache_key(m) for m in models[1:]}


def test_auto_picks_openvino_for_fp32_and_bf16_on_the_cpu_only():
    assert device_mod.resolve_engine(CPU, "fp32") == "openvino"
    assert device_mod.resolve_engine(CPU, "bf16") == "openvino"
    assert device_mod.resolve_engine(CPU, "fp32", "torch") == "torch"
    assert device_mod.resolve_engine(CPU, "bf16", "openvino") == "openvino"
    assert device_mod.resolve_engine(torch.device("cuda"), "fp32") == "torch"
    with pytest.raises(ValueError, match="runs on the CPU"):
        device_mod.resolve_engine(torch.device("cuda"), "fp32", "openvino")
    with pytest.raises(ValueError, match="unknown engine"):
        device_mod.resolve_engine(CPU, "fp32", "tensorrt")


def test_without_openvino_auto_uses_pytorch_and_asking_for_it_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(device_mod, "openvino_installed", lambda: False)
    assert device_mod.resolve_engine(CPU, "fp32") == "torch"
    with pytest.raises(ValueError, match="pip install openvino"):
        device_mod.resolve_engine(CPU, "fp32", "openvino")


def test_a_model_openvino_cannot_take_runs_in_pytorch_under_auto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path
):
    def refuse(model):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(openvino_engine, "export", refuse)
    notices: list[str] = []
    model = colour_model()
    predictor = Predictor(model, resolved(model, precision="fp32"), notify=notices.append)
    assert predictor.runtime.engine == "torch"
    assert notices[-1] == (
        "OpenVINO could not compile colours (unsupported operator); running it in PyTorch"
    )
    paths = write_colour_images(tmp_path, per_colour=1)
    labels = [p.labels[0] for b in predictor.predict_iter(paths) for p in b.predictions]
    assert labels == ["blue", "green", "red"]
    with pytest.raises(ValueError, match=r"unsupported operator") as raised:
        Predictor(model, resolved(model, precision="fp32", engine="openvino"))
    assert user_message(raised.value, REMEDIES).endswith("so use --engine torch")


def test_describe_names_the_engine(cache: Path):
    model = _tiny(0)
    predictor = Predictor(model, resolved(model, device="cpu", precision="fp32", batch_size=7))
    assert predictor.runtime.describe() == "cpu (fp32, OpenVINO, batch 7)"


def test_random_weights_are_seeded_so_benchmarks_reuse_their_conversion():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first, second = (load_model("cifar_resnet20", "random") for _ in range(2))
    assert torch.equal(torch.rand(1), before)  # the caller's random stream is untouched
    assert openvino_engine.cache_key(first) == openvino_engine.cache_key(second)


def test_converting_never_starts_openvino_telemetry(cache: Path):
    import sys

    model = _tiny(5)
    Predictor(model, resolved(model, precision="fp32", engine="openvino"))
    from openvino.tools.ovc import convert_impl, telemetry_utils

    assert sys.modules["openvino_telemetry"] is None
    assert (
        convert_impl.tm.__name__
        == telemetry_utils.tm.__name__
        == ("openvino.tools.ovc.telemetry_stub")
    )


def test_a_stoppable_conversion_runs_in_a_child_process_that_stops_at_once(cache: Path):
    model = load_model("cifar_resnet20", "random")
    polls: list[int] = []

    def stop_on_second_poll() -> bool:
        polls.append(1)
        return len(polls) > 1

    predictor = Predictor(
        model, resolved(model, precision="fp32", engine="openvino"), should_stop=stop_on_second_poll
    )
    assert predictor.runtime.engine == "torch"  # ready for a run the caller will not start
    assert multiprocessing.active_children() == []
    assert list(cache.iterdir()) == []  # no entry, no half-written folder

    converted = Predictor(
        model, resolved(model, precision="fp32", engine="openvino"), should_stop=lambda: False
    )
    assert converted.runtime.engine == "openvino"
    assert entries(cache) == [openvino_engine.cache_key(model)]


def test_a_conversion_process_that_fails_reports_why(cache: Path):
    model = LoadedModel(
        name="stubborn",
        spec=get_spec("cifar_resnet20"),
        network=Unexportable(),
        class_names=["a", "b"],
        preprocess=Preprocess(crop=8, resize=None),
    )
    with pytest.raises(ValueError, match=r"refuses to be exported") as raised:
        Predictor(
            model, resolved(model, precision="fp32", engine="openvino"), should_stop=lambda: False
        )
    assert user_message(raised.value, REMEDIES).endswith("so use --engine torch")
    assert list(cache.iterdir()) == []


_CTRL_C_AFTER_TWO_MODELS = """
import gc, os, signal, sys
from pathlib import Path
from resnet_desktop.commands.common import ctrl_c_stops
from resnet_desktop.core import openvino_engine
from tests.core.test_openvino_engine import _tiny

openvino_engine.cache_root = lambda: Path(sys.argv[1])
first = openvino_engine.OpenVinoNetwork(_tiny(0), "fp32")
second = openvino_engine.OpenVinoNetwork(_tiny(1), "fp32")
del first, second  # freed in the order they were made
gc.collect()
with ctrl_c_stops("batch") as should_stop:
    os.kill(os.getpid(), signal.SIGINT)  # a real signal, delivered on this thread
    print("stopped" if should_stop() else "not stopped")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux signal stacks")
def test_a_real_ctrl_c_after_two_networks_were_freed_stops_without_a_crash(tmp_path: Path):
    """A Ctrl+C after OpenVINO networks were freed runs the handler, as at any time.

    With a ``Core`` per network, two freed in the order they were made left the main
    thread's alternate signal stack in freed memory (see ``openvino_engine._core``), and
    the signal killed the process with SIGSEGV. Only a real signal shows it.
    """
    repo = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", _CTRL_C_AFTER_TWO_MODELS, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=repo,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["stopped"]
