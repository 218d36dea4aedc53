"""The prediction engine: order, batching, error rows, cancel, devices and precisions."""

from __future__ import annotations

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
