"""Small builders the tests share: solid-colour images and a model that names colours."""

from __future__ import annotations

from pathlib import Path

COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230)}
CLASS_COLOURS = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 200)}


def write_colour_images(folder: Path, per_colour: int, size=(40, 30), fmt="PNG") -> list[Path]:
    """``per_colour`` images of each colour in COLOURS, named ``<colour>_<n>.<ext>``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rgb in COLOURS.items():
        for index in range(per_colour):
            path = folder / f"{name}_{index:03d}.{fmt.lower()}"
            Image.new("RGB", size, rgb).save(path, fmt)
            paths.append(path)
    return sorted(paths)


def colour_model():
    """A LoadedModel whose class is the image's dominant channel: red, green or blue.

    Its ``features`` (the image itself) are pooled into the scores, so its class-activation
    map of a colour is where that colour is.
    """
    import dataclasses

    import torch
    from torch import nn

    from resnet_desktop.core.model_loader import LoadedModel
    from resnet_desktop.core.zoo import Preprocess, get_spec

    class DominantChannel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 10 * self.features(x).mean(dim=(2, 3))

    return LoadedModel(
        name="colours",
        spec=dataclasses.replace(get_spec("cifar_resnet20"), cam_layer="features"),
        network=DominantChannel(),
        class_names=list(COLOURS),
        preprocess=Preprocess(crop=32, resize=None),
    )


def write_class_folders(
    root: Path, per_class: int | dict[str, int] = 30, colours: dict | None = None, seed: int = 0
) -> Path:
    """One folder per colour of noisy 32x32 PNGs (the noise makes every file distinct)."""
    import numpy as np
    from PIL import Image

    colours = colours or CLASS_COLOURS
    rng = np.random.default_rng(seed)
    for name, rgb in colours.items():
        count = per_class[name] if isinstance(per_class, dict) else per_class
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            noise = rng.normal(0, 25, (32, 32, 3))
            pixels = np.clip(np.array(rgb)[None, None] + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{index:03d}.png")
    return root


def resolved(model, **options):
    """``RuntimeOptions(**options)`` resolved for ``model``: the runtime a Predictor takes."""
    from resnet_desktop.core.runtime import RuntimeOptions

    return RuntimeOptions(**options).resolve(model.preprocess)


def press_ctrl_c() -> None:
    """Do what Ctrl+C does: run the SIGINT handler the code under test installed.

    The handler is called, not sent a real signal: the suite's process also makes
    OpenVINO Cores outside the engine's one (test_model_export's, NNCF's), and each CPU
    plugin swaps the thread's alternate signal stack; freed out of order, they leave it
    in freed memory and a signal crashes. test_openvino_engine sends a real one alone.
    """
    import signal

    handler = signal.getsignal(signal.SIGINT)
    assert callable(handler), "no SIGINT handler installed"
    handler(signal.SIGINT, None)


def give_person_label(catalog_path: Path, path: Path, label: str, model: int | None = None) -> None:
    """A label a person gave ``path`` (for the catalog's ``model``), stored as review does."""
    from resnet_desktop.core.catalog import Catalog

    with Catalog.open(catalog_path) as catalog:
        catalog.set_person_label(path, label, model)
