"""Overall training progress and an honest time left, from the trainer's batch reports."""

from __future__ import annotations

import pytest

from resnet_desktop.app.finetune import ETA_MIN_SECONDS, TrainingProgress
from resnet_desktop.core.train_config import BatchProgress, Phase


def batch(epoch: int, phase: Phase, done: int, total: int, elapsed: float) -> BatchProgress:
    return BatchProgress(epoch, 2, phase, done, total, 0.5, 0.0, elapsed)


def test_fraction_counts_both_phases_of_every_epoch():
    progress = TrainingProgress(epochs=2, train=80, val=20)
    assert progress.update(batch(1, Phase.TRAIN, 0, 80, 5.0)).fraction == 0
    assert progress.update(batch(1, Phase.VALIDATE, 20, 20, 15.0)).fraction == pytest.approx(0.5)
    assert progress.update(batch(2, Phase.TRAIN, 40, 80, 17.0)).fraction == pytest.approx(0.7)


def test_time_left_comes_from_the_measured_speed_once_enough_is_done():
    progress = TrainingProgress(epochs=2, train=80, val=20)
    first = progress.update(batch(1, Phase.TRAIN, 0, 80, 5.0))
    assert first.eta_seconds is None and first.images_per_second is None  # nothing measured
    later = progress.update(batch(1, Phase.VALIDATE, 20, 20, 15.0))
    assert later.images_per_second == pytest.approx(10.0)  # 100 images in 10 s
    assert later.eta_seconds == pytest.approx(10.0)  # 100 to go


def test_no_time_left_from_the_first_slow_second():
    """A 12 s run whose first batches are slow must not say 'about 3:59 left'."""
    progress = TrainingProgress(epochs=100, train=72, val=18)  # 9000 images
    progress.update(batch(1, Phase.TRAIN, 72, 72, 2.0))
    early = progress.update(batch(2, Phase.TRAIN, 72, 72, 2.5))  # 90 images in 0.5 s
    assert early.eta_seconds is None and early.images_per_second == pytest.approx(180.0)
    too_little = progress.update(batch(3, Phase.TRAIN, 72, 72, 2.0 + ETA_MIN_SECONDS))
    assert too_little.eta_seconds is None  # long enough, but 2 % of the work
    measured = progress.update(batch(8, Phase.TRAIN, 72, 72, 2.0 + ETA_MIN_SECONDS + 1))
    assert measured.eta_seconds == pytest.approx((9000 - 702) / (630 / (ETA_MIN_SECONDS + 1)))
