"""The wizard checks the base model's ImageNet weights on its model page, not at training."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

from resnet_desktop.app.models import WeightsState
from resnet_desktop.core.weights import imagenet_weights_path
from resnet_desktop.core.zoo import get_spec
from resnet_desktop.gui.wizard import model_page
from tests.gui.test_wizard import (  # noqa: F401
    dataset,
    next_enabled,
    scan,
    to_model_page,
    wizard,
)

TIMEOUT_MS = 30_000


def _offline(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_offline_the_model_page_says_so_and_stays(qtbot, wizard, dataset, monkeypatch):  # noqa: F811
    _offline(monkeypatch)
    scan(qtbot, wizard, dataset)
    to_model_page(qtbot, wizard)
    page = wizard.model_page
    page.set_model("resnet18")
    assert page.selector.current_choice().state == WeightsState.DOWNLOAD
    assert "Next downloads its ImageNet weights first (45 MB)" in page.hint.text()
    wizard.next()
    qtbot.waitUntil(
        lambda: not page.fetcher.running and page.error.text() != "", timeout=TIMEOUT_MS
    )
    assert wizard.currentPage() is page
    assert "no internet connection" in page.error.text()
    assert page.error.text().endswith(
        ", or choose it below with “From a file:”, or start from “None (random start)”"
    )
    assert "--weights" not in page.error.text() and "Model →" not in page.error.text()
    assert next_enabled(wizard)
    page.set_model("resnet18", "random", "full")  # the way out it offers
    wizard.next()
    assert wizard.currentPage() is wizard.options_page


def test_weights_downloaded_on_the_model_page_then_next_goes_on(
    qtbot,
    wizard,  # noqa: F811
    dataset,  # noqa: F811
    monkeypatch,
):
    import torch

    from resnet_desktop.core.networks import build_network

    fetched: list[str] = []

    def fake_download(spec, progress, should_stop) -> Path:
        """Stands in for the network: writes the file where the real download would."""
        fetched.append(spec.name)
        target = imagenet_weights_path(spec)
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.save(build_network(spec).state_dict(), target)
        progress(1 << 20, 2 << 20)
        return target

    monkeypatch.setattr(model_page, "ensure_imagenet_weights", fake_download)
    scan(qtbot, wizard, dataset)
    to_model_page(qtbot, wizard)
    wizard.model_page.set_model("resnet18")
    wizard.next()
    assert wizard.currentPage() is wizard.model_page  # not before the weights are there
    assert not next_enabled(wizard)  # while downloading
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.options_page, timeout=TIMEOUT_MS)
    assert fetched == ["resnet18"]
    assert imagenet_weights_path(get_spec("resnet18")).is_file()
    assert wizard.state.model_name == "resnet18" and wizard.state.weights is None
