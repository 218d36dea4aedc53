"""``resnet-desktop explain``: an overlay file of the image's size, and one-line errors."""

from __future__ import annotations

import numpy as np
from PIL import Image

from resnet_desktop.cli import main
from tests.helpers import write_colour_images


def test_explain_writes_the_overlay_of_the_class_asked_for(tmp_path, tiny_model, capsys):
    image = write_colour_images(tmp_path / "images", 1, size=(40, 30))[0]
    out = tmp_path / "heat.png"
    status = main(
        ["explain", str(image), "--model", tiny_model, "--class", "cat", "--out", str(out)]
    )
    assert status == 0
    with Image.open(out) as overlay:
        assert overlay.size == (40, 30) and overlay.mode == "RGB"
        assert not np.array_equal(np.asarray(overlay), np.asarray(Image.open(image)))
    assert "heatmap of 'cat'" in capsys.readouterr().err


def test_explain_refuses_an_unknown_class_and_an_unknown_format(tmp_path, tiny_model, capsys):
    image = write_colour_images(tmp_path / "images", 1)[0]
    base = ["explain", str(image), "--model", tiny_model]
    assert main([*base, "--class", "unicorn", "--out", str(tmp_path / "a.png")]) == 1
    assert "no class 'unicorn'" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "a.gif")]) == 1
    assert "--out must end in" in capsys.readouterr().err
    assert not list(tmp_path.glob("a.*"))
