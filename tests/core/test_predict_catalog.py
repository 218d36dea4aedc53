"""``predict`` with the results catalog, ``results`` and ``catalog``, end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import resnet_desktop
from resnet_desktop.cli import main
from resnet_desktop.core.catalog import Catalog
from resnet_desktop.core.zoo import CIFAR10_CLASSES
from tests.gui.imagefiles import write_noise_images
from tests.helpers import press_ctrl_c

REPO = Path(resnet_desktop.__file__).resolve().parents[1]
FAST = ["--device", "cpu", "--precision", "fp32", "--engine", "torch"]


@pytest.fixture
def classes(tmp_path: Path) -> Path:
    path = tmp_path / "classes.txt"
    path.write_text("\n".join(CIFAR10_CLASSES), encoding="utf-8")
    return path


@pytest.fixture
def model_args(tiny_weights: Path, classes: Path) -> list[str]:
    """cifar_resnet20 from a weights file, with --classes: known from metadata alone."""
    return ["--model", "cifar_resnet20", "--weights", str(tiny_weights), "--classes", str(classes)]


def predict(folder: Path, model_args: list[str], *extra: str) -> int:
    return main(["predict", str(folder), *model_args, *FAST, *extra])


def no_model_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr("resnet_desktop.app.model_identity.load_model", refuse)


def results_in(catalog: Path) -> int:
    with Catalog.open(catalog, read_only=True) as opened:
        return opened.stats().results


# ------------------------------------------------------------------------------ predict


def test_a_second_run_reads_the_catalog_and_writes_the_same_csv(
    tmp_path, model_args, capsys, monkeypatch
):
    images = write_noise_images(tmp_path / "imgs", 12)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    assert predict(tmp_path / "imgs", model_args, "--csv", str(first)) == 0
    assert "classified 12 of 12 images" in capsys.readouterr().err
    no_model_loading(monkeypatch)
    assert predict(tmp_path / "imgs", model_args, "--csv", str(second)) == 0
    assert "12 of 12 already in the catalog" in capsys.readouterr().err
    assert second.read_bytes() == first.read_bytes()
    assert first.read_text(encoding="utf-8").count("\n") == len(images) + 1


def test_the_terminal_shows_stored_and_new_rows_in_scan_order(tmp_path, model_args, capsys):
    images = write_noise_images(tmp_path / "imgs", 12)
    assert predict(tmp_path / "imgs" / "sub", model_args) == 0
    capsys.readouterr()
    assert predict(tmp_path / "imgs", model_args) == 0
    out, err = capsys.readouterr()
    assert [line.split("\t")[0] for line in out.splitlines()] == [str(p) for p in images]
    stored = len(list((tmp_path / "imgs" / "sub").iterdir()))
    assert f"classified {len(images) - stored} of 12 images" in err
    assert f"{stored} already in the catalog" in err


def test_a_changed_file_is_classified_again(tmp_path, model_args, capsys):
    images = write_noise_images(tmp_path / "imgs", 6)
    assert predict(tmp_path / "imgs", model_args, "--top-k", "1") == 0
    capsys.readouterr()
    from PIL import Image

    Image.new("RGB", (40, 40), (0, 0, 250)).save(images[2])
    assert predict(tmp_path / "imgs", model_args, "--top-k", "1") == 0
    err = capsys.readouterr().err
    assert "classified 1 of 6 images" in err and "5 already in the catalog" in err


def test_a_run_stopped_by_ctrl_c_finishes_when_run_again(tmp_path, model_args, capsys, monkeypatch):
    from resnet_desktop.core.predictor import Predictor

    write_noise_images(tmp_path / "imgs", 20)
    whole, resumed = tmp_path / "whole.csv", tmp_path / "resumed.csv"
    options = ["--batch-size", "4", "--csv"]
    other = ["--catalog", str(tmp_path / "other.sqlite3")]
    assert predict(tmp_path / "imgs", model_args, *options, str(whole), *other) == 0
    real = Predictor.predict_iter

    def ctrl_c_after_two_batches(self, *args, **kwargs):
        for number, batch in enumerate(real(self, *args, **kwargs)):
            yield batch
            if number == 1:
                press_ctrl_c()

    monkeypatch.setattr(Predictor, "predict_iter", ctrl_c_after_two_batches)
    assert predict(tmp_path / "imgs", model_args, *options, str(resumed)) == 130
    assert "interrupted: 12 images not classified" in capsys.readouterr().err
    monkeypatch.setattr(Predictor, "predict_iter", real)
    assert predict(tmp_path / "imgs", model_args, *options, str(resumed)) == 0
    assert "classified 12 of 20 images" in capsys.readouterr().err
    assert resumed.read_bytes() == whole.read_bytes()


KILLED_RUN = """
import sys, time
from resnet_desktop.core.predictor import Predictor
from resnet_desktop.cli import main

real = Predictor.predict_decoded
log = open(sys.argv[1], "a")

def logged(self, chunk, decoded):
    predictions = real(self, chunk, decoded)
    log.write(f"{len(predictions)}\\n")
    log.flush()
    time.sleep(0.05)
    return predictions

Predictor.predict_decoded = logged
sys.exit(main(sys.argv[2:]))
"""


def test_a_run_killed_with_sigkill_loses_at_most_the_batch_in_flight(tmp_path, model_args, capsys):
    """A real process, killed mid-run; then the same command finishes the rest."""
    write_noise_images(tmp_path / "imgs", 300, size=32)
    catalog = tmp_path / "catalog.sqlite3"
    args = ["predict", str(tmp_path / "imgs"), *model_args, *FAST, "--batch-size", "16"]
    whole = tmp_path / "whole.csv"
    other = tmp_path / "other.sqlite3"
    assert main([*args, "--catalog", str(other), "--csv", str(whole)]) == 0
    log = tmp_path / "predicted.log"
    command = [sys.executable, "-c", KILLED_RUN, str(log), *args, "--catalog", str(catalog)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _count_lines(log) < 6 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, "the run ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    predicted = sum(int(line) for line in log.read_text().split())
    committed = results_in(catalog)
    assert 6 * 16 <= predicted < 300 and predicted - committed <= 16  # one batch at most
    with Catalog.open(catalog) as opened:
        assert opened.check() == []
    capsys.readouterr()
    resumed = tmp_path / "resumed.csv"
    assert main([*args, "--catalog", str(catalog), "--csv", str(resumed)]) == 0
    assert f"classified {300 - committed} of 300 images" in capsys.readouterr().err
    assert resumed.read_bytes() == whole.read_bytes()
    assert results_in(catalog) == 300


def _count_lines(path: Path) -> int:
    try:
        return len(path.read_text().split())
    except FileNotFoundError:
        return 0


def test_no_catalog_records_nothing(tmp_path, model_args, capsys):
    write_noise_images(tmp_path / "imgs", 6)
    catalog = tmp_path / "catalog.sqlite3"
    assert predict(tmp_path / "imgs" / "sub", model_args, "--catalog", str(catalog)) == 0
    before = catalog.read_bytes()
    capsys.readouterr()
    assert predict(tmp_path / "imgs", model_args, "--no-catalog") == 0
    out, err = capsys.readouterr()
    assert "not recorded in the catalog (--no-catalog)" in err and len(out.splitlines()) == 6
    assert catalog.read_bytes() == before
    assert not Path(os.environ["RESNET_DESKTOP_DATA_DIR"], "catalog.sqlite3").exists()


def test_random_weights_are_never_recorded(tmp_path, capsys):
    write_noise_images(tmp_path / "imgs", 3)
    args = ["--model", "cifar_resnet20", "--weights", "random"]
    assert predict(tmp_path / "imgs", args) == 0
    assert "not recorded in the catalog (--weights random)" in capsys.readouterr().err
    assert not Path(os.environ["RESNET_DESKTOP_DATA_DIR"], "catalog.sqlite3").exists()


def test_a_library_model_is_known_without_building_its_network(
    tmp_path, tiny_model, capsys, monkeypatch
):
    write_noise_images(tmp_path / "imgs", 5)
    assert predict(tmp_path / "imgs", ["--model", tiny_model]) == 0
    no_model_loading(monkeypatch)
    assert predict(tmp_path / "imgs", ["--model", tiny_model]) == 0
    assert "5 of 5 already in the catalog" in capsys.readouterr().err


def test_other_weights_are_another_model(tmp_path, model_args, capsys):
    write_noise_images(tmp_path / "imgs", 4)
    assert predict(tmp_path / "imgs", model_args) == 0
    weights = Path(model_args[3])
    weights.write_bytes(weights.read_bytes() + b"\0")  # same tensors, another file
    capsys.readouterr()
    assert predict(tmp_path / "imgs", model_args) == 0
    assert "classified 4 of 4 images" in capsys.readouterr().err


@pytest.mark.parametrize("problem", ["read-only", "full"])
def test_a_catalog_that_cannot_be_written_stops_the_run_in_one_line(
    tmp_path, model_args, capsys, monkeypatch, problem
):
    write_noise_images(tmp_path / "imgs", 40)
    catalog = tmp_path / "catalog.sqlite3"
    assert predict(tmp_path / "imgs" / "sub", model_args, "--catalog", str(catalog)) == 0
    kept = results_in(catalog)
    opener = Catalog.open

    def read_only(cls, path=None, read_only=False):
        return opener(path, read_only=True)

    def nearly_full(cls, path=None, read_only=False):
        opened = opener(path, read_only=read_only)
        pages = opened._db.execute("PRAGMA page_count").fetchone()[0]
        opened._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # as if the disk filled
        return opened

    broken = read_only if problem == "read-only" else nearly_full
    monkeypatch.setattr(Catalog, "open", classmethod(broken))
    capsys.readouterr()
    out = tmp_path / "out.csv"
    args = ["--catalog", str(catalog), "--batch-size", "2", "--csv", str(out)]
    assert predict(tmp_path / "imgs", model_args, *args) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: ") and "Traceback" not in err
    assert ("is read-only" if problem == "read-only" else "is full") in err
    assert "what was recorded before is kept" in err
    assert not out.exists()
    monkeypatch.setattr(Catalog, "open", opener)
    assert results_in(catalog) >= kept


# ------------------------------------------------------------------------------ results


def test_results_exports_what_is_stored_and_says_what_is_missing(
    tmp_path, model_args, capsys, monkeypatch
):
    images = write_noise_images(tmp_path / "imgs", 12)
    predicted = tmp_path / "predicted.csv"
    part = tmp_path / "imgs" / "sub"
    assert predict(part, model_args, "--csv", str(predicted), "--top-k", "2") == 0
    no_model_loading(monkeypatch)
    exported = tmp_path / "exported.csv"
    results = ["results", *model_args, "--top-k", "2", "--csv", str(exported)]
    assert main([results[0], str(part), *results[1:]]) == 0
    assert exported.read_bytes() == predicted.read_bytes()
    capsys.readouterr()
    assert main([results[0], str(tmp_path / "imgs"), *results[1:]]) == 3
    stored = len(list(part.iterdir()))
    err = capsys.readouterr().err
    assert f"{stored} of {len(images)} images have a result" in err
    assert f"{len(images) - stored} have none yet" in err
    assert exported.read_bytes() == predicted.read_bytes()  # the same rows, in scan order


def test_results_of_another_model_are_none(tmp_path, model_args, tiny_model, capsys):
    write_noise_images(tmp_path / "imgs", 3)
    assert predict(tmp_path / "imgs", ["--model", tiny_model]) == 0
    capsys.readouterr()
    assert main(["results", str(tmp_path / "imgs"), *model_args]) == 3
    out, err = capsys.readouterr()
    assert out == "" and "0 of 3 images have a result" in err


def test_results_never_creates_a_catalog(tmp_path, model_args, capsys):
    write_noise_images(tmp_path / "imgs", 2)
    catalog = tmp_path / "none.sqlite3"
    assert main(["results", str(tmp_path / "imgs"), *model_args, "--catalog", str(catalog)]) == 1
    assert capsys.readouterr().err.startswith("error: no catalog at") and not catalog.exists()


# ------------------------------------------------------------------------------ catalog


def test_catalog_info_forget_and_vacuum(tmp_path, model_args, capsys):
    images = write_noise_images(tmp_path / "imgs", 8)
    catalog = ["--catalog", str(tmp_path / "c.sqlite3")]
    assert predict(tmp_path / "imgs", model_args, *catalog) == 0
    capsys.readouterr()
    assert main(["catalog", "info", *catalog]) == 0
    info = capsys.readouterr().out
    assert "images: 8" in info and "cifar_resnet20" in info
    model_line = next(line for line in info.splitlines() if line.startswith("cifar_resnet20"))
    assert model_line.split()[2:] == ["10", "8", "0"]
    stored = len(list((tmp_path / "imgs" / "sub").iterdir()))
    assert (
        main(["catalog", "forget", str(tmp_path / "imgs" / "sub"), str(images[0]), *catalog]) == 0
    )
    assert f"forgot {stored + 1} images" in capsys.readouterr().out
    assert results_in(tmp_path / "c.sqlite3") == 8 - stored - 1
    assert main(["catalog", "vacuum", *catalog]) == 0
    assert "compacted" in capsys.readouterr().out
    assert main(["catalog", "info", *catalog]) == 0
    assert f"images: {8 - stored - 1}" in capsys.readouterr().out


def test_catalog_info_without_a_catalog_says_so(tmp_path, capsys):
    assert main(["catalog", "info", "--catalog", str(tmp_path / "none.sqlite3")]) == 1
    assert "no catalog at" in capsys.readouterr().err


def test_a_damaged_catalog_is_one_line_and_can_be_set_aside(tmp_path, model_args, capsys):
    write_noise_images(tmp_path / "imgs", 2)
    catalog = tmp_path / "c.sqlite3"
    catalog.write_bytes(b"not a database at all" * 100)
    assert predict(tmp_path / "imgs", model_args, "--catalog", str(catalog)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the catalog") and "damaged" in err and len(err.splitlines()) == 1
    assert main(["catalog", "set-aside", "--catalog", str(catalog)]) == 0
    assert "the next run starts a new catalog" in capsys.readouterr().out
    assert [p.name.startswith("c.sqlite3.corrupt-") for p in tmp_path.glob("c.sqlite3*")] == [True]
    assert predict(tmp_path / "imgs", model_args, "--catalog", str(catalog)) == 0


def test_a_top_k_beyond_the_classes_shows_every_class_once(tmp_path, model_args, capsys):
    write_noise_images(tmp_path / "imgs", 2)
    out = tmp_path / "out.csv"
    assert predict(tmp_path / "imgs", model_args, "--top-k", "50", "--csv", str(out)) == 0
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[-3:] == ["label_10", "prob_10", "error"]
    capsys.readouterr()
    assert main(["results", str(tmp_path / "imgs"), *model_args, "--top-k", "50"]) == 0
    assert all(line.count("%") == 10 for line in capsys.readouterr().out.splitlines())


def test_the_first_ctrl_c_asks_to_stop_and_the_second_stops_at_once(capsys):
    from resnet_desktop.commands.common import ctrl_c_stops

    before = signal.getsignal(signal.SIGINT)
    with ctrl_c_stops("batch") as should_stop:
        assert not should_stop()
        press_ctrl_c()
        assert should_stop() and "Ctrl+C again" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            press_ctrl_c()
    assert signal.getsignal(signal.SIGINT) is before
