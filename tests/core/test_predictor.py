"""The prediction engine: order, batching, error rows, cancel, devices and precisions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from resnet_desktop.core.predictor import Predictor
from tests.helpers import colour_model, resolved, write_colour_images


def _predictor(top_k: int = 5, **options) -> Predictor:
    model = colour_model()
    return Predictor(model, resolved(model, **options), top_k=top_k)


def _run(predictor: Predictor, paths, **kwargs):
    return list(predictor.predict_iter(paths, **kwargs))


def test_every_image_is_predicted_in_order_including_the_last_partial_batch(tmp_path: Path):
    paths = write_colour_images(tmp_path, per_colour=3)  # 9 images
    predictor = _predictor(batch_size=4, precision="fp32", top_k=2)
    batches = _run(predictor, paths)
    assert [b.done for b in batches] == [4, 8, 9]
    predictions = [p for b in batches for p in b.predictions]
    assert [p.path for p in predictions] == paths
    assert [p.labels[0] for p in predictions] == [p.name.split("_")[0] for p in paths]
    assert all(len(p.probs) == 2 and 0.5 < p.probs[0] <= 1 for p in predictions)


def test_a_broken_file_is_one_error_row_and_the_batch_goes_on(tmp_path: Path):
    paths = write_colour_images(tmp_path, per_colour=2)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    paths.insert(2, broken)
    predictions = [p for b in _run(_predictor(batch_size=8), paths) for p in b.predictions]
    assert [p.ok for p in predictions] == [True, True, False, True, True, True, True]
    assert predictions[2].error and "\n" not in predictions[2].error
    assert predictions[3].labels[0] == "green"


def test_stop_ends_the_run_after_the_current_batch(tmp_path: Path):
    paths = write_colour_images(tmp_path, per_colour=10)
    predictor = _predictor(batch_size=5)
    seen = []
    for batch in predictor.predict_iter(paths, should_stop=lambda: len(seen) >= 1):
        seen.append(batch)
    assert len(seen) == 1 and seen[0].done == 5


def test_top_k_is_clamped_to_the_number_of_classes(tmp_path: Path):
    paths = write_colour_images(tmp_path, per_colour=1)
    predictor = _predictor(top_k=10)
    prediction = _run(predictor, paths)[0].predictions[0]
    assert len(prediction.labels) == 3
    assert sum(prediction.probs) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cpu_precisions_agree_on_clear_cases(tmp_path: Path, precision: str):
    paths = write_colour_images(tmp_path, per_colour=2)
    predictor = _predictor(device="cpu", precision=precision)
    assert predictor.runtime.precision == precision
    labels = [p.labels[0] for b in _run(predictor, paths) for p in b.predictions]
    assert labels == [p.name.split("_")[0] for p in paths]


def test_progress_reports_rate_and_eta(tmp_path: Path):
    paths = write_colour_images(tmp_path, per_colour=4)
    first = _run(_predictor(batch_size=4), paths)[0]
    assert first.total == 12 and first.images_per_second > 0
    assert first.eta_seconds is not None and first.eta_seconds >= 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": "tpu"}, "unknown device"),
        ({"precision": "fp8"}, "unknown precision"),
        ({"device": "cpu", "precision": "fp16"}, "fp16 is not supported on the CPU"),
        ({"batch_size": 0}, "batch size"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _predictor(**kwargs)


# ------------------------------------------------------------------------ out of memory


def _distinct_images(folder: Path, count: int) -> list[Path]:
    """``count`` images of different colours, so every one has its own probabilities."""
    from PIL import Image

    paths = []
    for index in range(count):
        rgb = (20 + 9 * index, 230 - 7 * index, (40 + 53 * index) % 256)
        path = folder / f"image_{index:03d}.png"
        Image.new("RGB", (40, 30), rgb).save(path)
        paths.append(path)
    return paths


class _OutOfMemoryMidRun:
    """Wraps a network: after ``after`` calls, a batch larger than ``limit`` runs out of memory."""

    def __init__(self, limit: int, after: int) -> None:
        self.limit, self.after = limit, after
        self.calls = 0
        self.refused: list[int] = []

    def wrap(self, network):
        import torch
        from torch import nn

        outer = self

        class Wrapped(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inner = network

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                outer.calls += 1
                if outer.calls > outer.after and len(x) > outer.limit:
                    outer.refused.append(len(x))
                    raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
                return self.inner(x)

        return Wrapped()


def test_out_of_memory_mid_run_halves_batches_and_keeps_every_result_on_its_path(tmp_path):
    paths = _distinct_images(tmp_path, 22)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    paths.insert(13, broken)  # 23 files: batches of 6, 6, 6, 5
    options = {"batch_size": 6, "engine": "torch", "precision": "fp32"}
    extra = {"top_k": 3, "prefetch_batches": 2}  # batches decoded ahead at the old size
    reference = colour_model()
    expected = [
        p
        for b in _run(Predictor(reference, resolved(reference, **options), **extra), paths)
        for p in b.predictions
    ]
    assert len({p.probs for p in expected if p.ok}) == 22  # a shifted result would show

    model = colour_model()
    memory = _OutOfMemoryMidRun(limit=3, after=1)  # the first batch runs whole, then OOM
    model.network = memory.wrap(model.network)
    predictor = Predictor(model, resolved(model, **options), **extra)
    batches = _run(predictor, paths)

    assert memory.refused == [6] and predictor.batch_size == 3
    assert [b.done for b in batches] == [6, 12, 18, 23]
    got = [p for b in batches for p in b.predictions]
    assert [p.path for p in got] == paths
    for mine, reference in zip(got, expected, strict=True):
        assert mine.error == reference.error
        assert mine.labels == reference.labels and mine.indices == reference.indices
        assert mine.probs == pytest.approx(reference.probs, abs=1e-6)
    assert not got[13].ok


def test_out_of_memory_on_a_single_image_is_raised(tmp_path):
    import torch

    model = colour_model()
    model.network = _OutOfMemoryMidRun(limit=0, after=0).wrap(model.network)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        _run(
            Predictor(model, resolved(model, batch_size=4, engine="torch")),
            write_colour_images(tmp_path, per_colour=1),
        )


# ------------------------------------------------------------------------ bugs and fallbacks


def test_a_bug_in_preprocessing_is_a_row_saying_so_and_is_logged(tmp_path, monkeypatch, caplog):
    from resnet_desktop.core import imaging

    paths = write_colour_images(tmp_path, per_colour=2)
    original = imaging.to_input

    def failing_on_green(image, preprocess):
        if image.getpixel((0, 0)) == (20, 230, 20):  # the green ones
            raise AssertionError("crop box outside the image")
        return original(image, preprocess)

    monkeypatch.setattr(imaging, "to_input", failing_on_green)
    predictions = [p for b in _run(_predictor(batch_size=4), paths) for p in b.predictions]
    failed = [p for p in predictions if not p.ok]
    assert [p.path.name for p in failed] == ["green_000.png", "green_001.png"]
    assert all(p.error.startswith(imaging.BUG_REASON) for p in failed)
    assert "AssertionError: crop box outside the image" in failed[0].error
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]
    assert sorted(str(r.args[0]) for r in logged) == sorted(str(p.path) for p in failed)


def test_openvino_failing_under_auto_falls_back_to_pytorch_and_logs_why(monkeypatch, caplog):
    from resnet_desktop.core import openvino_engine

    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(openvino_engine, "OpenVinoNetwork", refuse)
    notices: list[str] = []
    model = colour_model()
    runtime = dataclasses.replace(resolved(model, device="cpu"), engine="openvino")
    chosen = Predictor(model, runtime, notify=notices.append)
    assert chosen.runtime.engine == "torch"
    assert chosen.runtime.reason.endswith("then PyTorch: OpenVINO could not compile the model")
    assert notices and "unsupported operator" in notices[0]
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "running it in PyTorch" in warnings[0].getMessage()
    assert isinstance(warnings[0].exc_info[1], RuntimeError)
