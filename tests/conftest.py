"""Fixtures shared by every test: an isolated data folder and access to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_ENV = "RESNET_DESKTOP_SHARED"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own settings/library folder and an empty torch hub."""
    root = tmp_path_factory.mktemp("appdata")
    monkeypatch.setenv("RESNET_DESKTOP_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    return root


@pytest.fixture(autouse=True)
def _no_log_handlers_left():
    """A test that ran ``main()`` leaves no log file of its data folder open for the next."""
    import logging

    from resnet_desktop.app.logs import shutdown_logging

    level = logging.getLogger().level
    yield
    shutdown_logging()
    logging.getLogger().setLevel(level)


@pytest.fixture(scope="session")
def _openvino_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openvino-cache")


@pytest.fixture(autouse=True)
def _shared_openvino_cache(_openvino_cache: Path, monkeypatch: pytest.MonkeyPatch):
    """One OpenVINO cache for the session: each tiny model is converted once, not per test.

    tests/core/test_openvino_engine.py covers the cache itself with folders of its own.
    """
    monkeypatch.setattr("resnet_desktop.core.openvino_engine.cache_root", lambda: _openvino_cache)


def shared_root() -> Path | None:
    value = os.environ.get(SHARED_ENV)
    return Path(value) if value else None


@pytest.fixture
def shared():
    """Return a function mapping a path inside ../shared to an existing Path.

    Tests that use it are skipped when ``RESNET_DESKTOP_SHARED`` is unset (a machine
    without the shared data) and fail when it is set but the file is missing.
    """
    root = shared_root()
    if root is None:
        pytest.skip(f"{SHARED_ENV} is not set")

    def resolve(relative: str) -> Path:
        path = root / relative
        if not path.exists():
            pytest.fail(f"{SHARED_ENV}={root} is set but {relative} is missing")
        return path

    return resolve


# --- a small real model, for the tests that classify -----------------------------------

TINY_MODEL = "tiny"


@pytest.fixture
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random cifar_resnet20 state dict saved to a file (seeded: the same every time)."""
    import torch

    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.zoo import get_spec

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet20-random.pth"
    torch.save(build_network(get_spec("cifar_resnet20")).state_dict(), path)
    return path


@pytest.fixture
def tiny_model(tiny_weights: Path) -> str:
    """``tiny_weights`` imported into this test's model library; returns the model's name."""
    from resnet_desktop.core.library import ModelLibrary
    from resnet_desktop.core.zoo import CIFAR10_CLASSES

    ModelLibrary().import_file(tiny_weights, "cifar_resnet20", CIFAR10_CLASSES, TINY_MODEL)
    return TINY_MODEL
