"""Small image folders for the window tests: varied content, so predictions differ."""

from __future__ import annotations

from pathlib import Path


def write_noise_images(folder: Path, count: int, seed: int = 0, size: int = 40) -> list[Path]:
    """``count`` random-noise images (JPEG and PNG, some in a subfolder), sorted paths."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for number in range(count):
        sub = folder / "sub" if number % 4 == 3 else folder
        sub.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size + number % 7, size, 3), dtype=np.uint8)
        path = sub / f"img_{number:04d}.{'png' if number % 2 else 'jpg'}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return sorted(paths)


def write_broken_image(folder: Path, name: str = "broken.jpg") -> Path:
    """A text file with an image extension."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("this is not a JPEG", encoding="utf-8")
    return path
