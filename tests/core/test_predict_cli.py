"""``resnet-desktop predict`` end to end: exit codes, CSV, messages, the weights paths."""

from __future__ import annotations

import csv
import os
import pickle
from pathlib import Path

import pytest

from resnet_desktop.cli import main
from tests.helpers import press_ctrl_c, write_colour_images


@pytest.fixture(scope="module")
def cifar_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random cifar_resnet20 checkpoint saved as training scripts save them."""
    import torch

    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.zoo import get_spec

    torch.manual_seed(0)
    state = build_network(get_spec("cifar_resnet20")).state_dict()
    path = tmp_path_factory.mktemp("weights") / "resnet20.th"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_predict_writes_one_row_per_image(tmp_path: Path, cifar_weights: Path):
    images = write_colour_images(tmp_path / "imgs", per_colour=3)
    out = tmp_path / "out.csv"
    args = ["predict", str(tmp_path / "imgs"), "--model", "cifar_resnet20"]
    assert main([*args, "--weights", str(cifar_weights), "--csv", str(out), "--top-k", "3"]) == 0
    rows = _rows(out)
    assert [r["path"] for r in rows] == [str(p) for p in images]
    from resnet_desktop.core.zoo import CIFAR10_CLASSES

    assert all(r["label_1"] in CIFAR10_CLASSES and r["label_3"] in CIFAR10_CLASSES for r in rows)
    assert all(float(r["prob_1"]) >= float(r["prob_2"]) >= float(r["prob_3"]) for r in rows)
    assert list(rows[0]) == [
        "path",
        *[f"{c}_{i}" for i in (1, 2, 3) for c in ("label", "prob")],
        "error",
    ]


def test_some_failed_files_exit_with_3_and_error_rows(tmp_path: Path, cifar_weights: Path, capsys):
    write_colour_images(tmp_path, per_colour=1)
    (tmp_path / "notes.jpg").write_text("not an image", encoding="utf-8")
    (tmp_path / "empty.png").write_bytes(b"")
    out = tmp_path / "out.csv"
    code = main(["predict", str(tmp_path), "--model", "cifar_resnet20",
                 "--weights", str(cifar_weights), "--csv", str(out)])  # fmt: skip
    assert code == 3
    errors = {Path(r["path"]).name: r["error"] for r in _rows(out) if r["error"]}
    assert set(errors) == {"notes.jpg", "empty.png"}
    assert "2 failed" in capsys.readouterr().err


def test_without_csv_results_go_to_stdout(tmp_path: Path, cifar_weights: Path, capsys):
    write_colour_images(tmp_path, per_colour=1)
    assert main(["predict", str(tmp_path), "--model", "cifar_resnet20",
                 "--weights", str(cifar_weights)]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("%" in line for line in lines)


def test_both_engines_give_the_same_labels_and_say_which_ran(
    tmp_path: Path, cifar_weights: Path, capsys
):
    write_colour_images(tmp_path, per_colour=2)
    args = ["predict", str(tmp_path), "--model", "cifar_resnet20", "--weights", str(cifar_weights)]
    labels = {}
    for engine, title in (("torch", "PyTorch"), ("openvino", "OpenVINO")):
        options = ["--precision", "fp32", "--engine", engine, "--top-k", "1", "--redo"]
        assert main([*args, *options]) == 0  # --redo: the engine is no part of the model
        out, err = capsys.readouterr()
        assert f"(fp32, {title}, batch" in err
        labels[engine] = [line.split("\t")[1].rsplit(" ", 1)[0] for line in out.splitlines()]
    assert len(labels["torch"]) == 6 and labels["openvino"] == labels["torch"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "resnet9000"], "unknown model 'resnet9000'"),
        (["--model", "cifar_resnet20"], "--weights"),
        (["--model", "resnet18"], "--weights FILE"),  # not cached, no network in tests
    ],
)
def test_models_that_cannot_load_exit_1_with_a_message(
    tmp_path, capsys, monkeypatch, extra, message
):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    write_colour_images(tmp_path, per_colour=1)
    assert main(["predict", str(tmp_path), *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_malicious_pickle_is_refused_without_running_it(tmp_path: Path, capsys):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    weights = tmp_path / "evil.pth"
    weights.write_bytes(pickle.dumps({"state_dict": Exploit()}))
    write_colour_images(tmp_path / "imgs", per_colour=1)
    code = main(["predict", str(tmp_path / "imgs"), "--model", "cifar_resnet20",
                 "--weights", str(weights)])  # fmt: skip
    assert code == 1
    assert not marker.exists()
    assert "evil.pth" in capsys.readouterr().err


def test_ctrl_c_writes_what_was_classified_and_exits_130(
    tmp_path: Path, cifar_weights: Path, capsys, monkeypatch
):
    from resnet_desktop.core.predictor import Predictor

    images = write_colour_images(tmp_path / "imgs", per_colour=2)
    real = Predictor.predict_iter

    def interrupted_after_one_batch(self, *args, **kwargs):
        batches = real(self, *args, **kwargs)
        yield next(batches)
        press_ctrl_c()  # as Ctrl+C: the run stops after this batch
        yield from batches

    monkeypatch.setattr(Predictor, "predict_iter", interrupted_after_one_batch)
    out = tmp_path / "out.csv"
    code = main(["predict", str(tmp_path / "imgs"), "--model", "cifar_resnet20", "--weights",
                 str(cifar_weights), "--batch-size", "2", "--csv", str(out)])  # fmt: skip
    assert code == 130
    assert [r["path"] for r in _rows(out)] == [str(p) for p in images[:2]]
    err = capsys.readouterr().err
    assert "classified 2 of 6 images" in err and "interrupted: 4 images not classified" in err


@pytest.mark.parametrize("target", ["input", "other image name"])
def test_csv_over_an_image_is_refused_unless_forced(
    tmp_path: Path, cifar_weights: Path, capsys, target
):
    images = write_colour_images(tmp_path / "imgs", per_colour=1)
    out = images[0] if target == "input" else tmp_path / "results.png"
    before = images[0].read_bytes()
    args = ["predict", str(tmp_path / "imgs"), "--model", "cifar_resnet20", "--weights",
            str(cifar_weights), "--csv", str(out)]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: not writing --csv") and "--force" in err
    assert images[0].read_bytes() == before and not (tmp_path / "results.png").exists()
    assert main([*args, "--force"]) == 0
    assert len(_rows(out)) == 3


@pytest.mark.skipif(os.sep == "\\", reason="ESC is not allowed in Windows file names")
def test_file_and_class_names_cannot_send_escape_sequences_to_the_terminal(
    tmp_path: Path, cifar_weights: Path, capsys
):
    images = write_colour_images(tmp_path, per_colour=1)
    images[0].rename(tmp_path / "\x1b]0;owned\x07.png")
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(f"c{i}\x1b[2J" for i in range(10)), encoding="utf-8")
    assert main(["predict", str(tmp_path), "--model", "cifar_resnet20", "--weights",
                 str(cifar_weights), "--classes", str(classes)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;owned\\x07.png\t" in out and "\\x1b[2J " in out


def test_bad_arguments_exit_2(tmp_path: Path):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(tmp_path), "--model", "resnet18", "--top-k", "0"])
    assert exit_info.value.code == 2


def test_missing_input_is_a_clear_error(tmp_path: Path, capsys):
    assert main(["predict", str(tmp_path / "nope"), "--model", "resnet18"]) == 1
    assert "nope" in capsys.readouterr().err


def test_imagenet_weights_load_from_the_torch_hub_cache(tmp_path: Path):
    """The real torchvision path, with a generated state dict where torchvision caches it."""
    import torch

    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.weights import imagenet_weights_path
    from resnet_desktop.core.zoo import get_spec

    spec = get_spec("resnet18")
    target = imagenet_weights_path(spec)
    target.parent.mkdir(parents=True)
    torch.manual_seed(1)
    torch.save(build_network(spec).state_dict(), target)
    write_colour_images(tmp_path / "imgs", per_colour=1, size=(300, 260), fmt="JPEG")
    out = tmp_path / "out.csv"
    assert main(["predict", str(tmp_path / "imgs"), "--model", "resnet18", "--csv", str(out)]) == 0
    from resnet_desktop.core.weights import imagenet_class_names

    names = set(imagenet_class_names(spec))
    assert all(r["label_1"] in names and not r["error"] for r in _rows(out))
