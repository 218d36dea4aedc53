"""The event types the long-running generators share."""

from __future__ import annotations

import dataclasses

import pytest

from resnet_desktop.core.events import Status, unknown_event
from resnet_desktop.core.train_config import Phase, Stage


def test_text_enums_compare_print_and_format_as_their_text():
    assert Stage.LOADING_IMAGES == "loading images" and Phase("train") is Phase.TRAIN
    assert str(Stage.CACHING_FEATURES) == f"{Stage.CACHING_FEATURES}" == "caching features"
    assert f"{Phase.TRAIN:>7}|" == "  train|"
    assert Stage.CACHING_FEATURES.capitalize() == "Caching features"


def test_status_is_a_frozen_value_and_unknown_events_are_bugs():
    status = Status("Loading the model…")
    assert status == Status("Loading the model…")
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.message = "changed"  # type: ignore[misc]
    error = unknown_event("a bare string")
    assert isinstance(error, AssertionError) and "'a bare string'" in str(error)
