"""``resnet-desktop models import | list | remove`` through the real entry point."""

from __future__ import annotations

import pytest
import torch

from resnet_desktop.cli import main
from resnet_desktop.core import zoo
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.networks import build_network
from resnet_desktop.core.weights import imagenet_weights_path


@pytest.fixture
def checkpoint(tmp_path):
    """A cifar_resnet20 checkpoint as trainers save it, and its 10-line class list."""
    torch.manual_seed(0)
    state = build_network(zoo.SPECS["cifar_resnet20"]).state_dict()
    weights = tmp_path / "resnet20.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 9}, weights)
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(zoo.CIFAR10_CLASSES) + "\n", encoding="utf-8")
    return weights, classes


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["models", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def import_args(checkpoint, name: str = "my cifar") -> list[str]:
    weights, classes = checkpoint
    return ["import", weights, "--model", "cifar_resnet20", "--classes", classes, "--name", name]


def test_import_list_remove(capsys, checkpoint):
    status, out, err = run(capsys, *import_args(checkpoint))
    assert (status, err) == (0, "")
    assert "imported 'my cifar' (cifar_resnet20, 10 classes)" in out
    assert ModelLibrary().get("my cifar").class_names == zoo.CIFAR10_CLASSES

    status, out, _ = run(capsys, "list")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "ARCHITECTURE", "CLASSES", "CREATED", "UNKNOWN", "BELOW"]
    assert row.startswith("my cifar  cifar_resnet20  10 ") and row.endswith("  -")
    assert ModelLibrary().get("my cifar").created in row

    status, out, err = run(capsys, "remove", "my cifar")
    assert (status, out, err) == (0, "removed 'my cifar'\n", "")
    status, out, _ = run(capsys, "list")
    assert status == 0 and out.startswith("no models in the library")


def test_list_all_shows_the_zoo_and_cached_weights(capsys):
    target = imagenet_weights_path(zoo.SPECS["resnet34"])
    target.parent.mkdir(parents=True)
    target.write_bytes(b"cached")
    status, out, _ = run(capsys, "list", "--all")
    assert status == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert set(zoo.SPECS) <= set(lines)
    assert lines["resnet34"].endswith("cached")
    assert "not cached" in lines["resnet50"]
    assert "none" in lines["cifar_resnet56"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--name": "resnet50"}, "built-in architecture"),
        ({"--model": "cifar_resnet32"}, "missing keys"),
        ({"--classes": "seven.txt"}, "do not fit cifar_resnet20 with 7 classes: 2 wrong shapes"),
        ({"file": "missing.pth"}, "missing.pth does not exist"),
    ],
)
def test_import_errors_are_one_line_without_traceback(
    capsys, checkpoint, tmp_path, change, message
):
    (tmp_path / "seven.txt").write_text("\n".join("abcdefg"), encoding="utf-8")
    args = import_args(checkpoint)
    for key, value in change.items():
        value = str(tmp_path / value) if key in ("file", "--classes") else value
        args[1 if key == "file" else args.index(key) + 1] = value
    status, out, err = run(capsys, *args)
    assert status == 1 and out == ""
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert ModelLibrary().list() == []


def test_importing_twice_needs_overwrite(capsys, checkpoint):
    assert run(capsys, *import_args(checkpoint))[0] == 0
    status, _, err = run(capsys, *import_args(checkpoint))
    assert status == 1 and "already exists" in err
    assert run(capsys, *import_args(checkpoint), "--overwrite")[0] == 0


def test_damaged_entries_are_listed_named_in_errors_and_removable(capsys, checkpoint, tmp_path):
    from tests.helpers import write_colour_images

    [image, *_] = write_colour_images(tmp_path / "images", 1)
    assert run(capsys, *import_args(checkpoint, "good"))[0] == 0
    library = ModelLibrary()
    (library.root / "zz.json").write_text("{not json", encoding="utf-8")
    (library.root / "arch.json").write_text(
        (library.root / "good.json").read_text(encoding="utf-8").replace(
            '"name": "good"', '"name": "arch"').replace("cifar_resnet20", "resnet9000"),
        encoding="utf-8",
    )  # fmt: skip
    status, out, _ = run(capsys, "list")
    assert status == 0 and "good  cifar_resnet20" in out
    damaged = out.split("damaged entries")[1].splitlines()
    assert damaged[1].split() == ["NAME", "PROBLEM"]
    assert damaged[2].startswith("arch  unknown architecture 'resnet9000' (known: resnet18")
    assert damaged[3].startswith("zz    Expecting property name")
    status, _, err = run(capsys, *import_args(checkpoint, "zz"))
    assert status == 1 and "a damaged library entry named 'zz' exists" in err
    assert main(["predict", str(image), "--model", "arch"]) == 1
    err = capsys.readouterr().err
    assert "unknown architecture 'resnet9000'" in err and "models remove arch" in err
    assert run(capsys, "remove", "zz")[0] == 0 and run(capsys, "remove", "arch")[0] == 0
    assert "damaged" not in run(capsys, "list")[1]


def test_names_from_the_library_folder_cannot_act_on_the_terminal(capsys, checkpoint):
    assert run(capsys, *import_args(checkpoint, "good"))[0] == 0
    library = ModelLibrary()
    (library.root / "\x1b[2J.json").write_text("{", encoding="utf-8")
    good = (library.root / "good.json").read_text(encoding="utf-8")
    (library.root / "\x1b]0;x\x07.json").write_text(
        good.replace('"name": "good"', '"name": "\\u001b]0;x\\u0007"'), encoding="utf-8"
    )
    status, out, _ = run(capsys, "list")
    assert status == 0 and "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;x\\x07  cifar_resnet20" in out and "\\x1b[2J  " in out


def test_removing_an_unknown_model_is_an_error(capsys):
    status, _, err = run(capsys, "remove", "ghost")
    assert status == 1 and err.startswith("error: no model named 'ghost'")


@pytest.mark.parametrize(
    "argv",
    [
        ["models"],
        ["models", "import", "w.pth", "--classes", "c.txt", "--name", "x"],
        ["models", "import", "w.pth", "--model", "vgg16", "--classes", "c.txt", "--name", "x"],
        ["models", "remove"],
    ],
)
def test_argument_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err
