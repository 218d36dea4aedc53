"""``predict --cluster``: a local Ray instance gives what a local run gives, row for row.

Ray starts once for the module (``ray.init`` with 2 CPUs); the tests that need it skip
only where Ray is not installed (CI installs the [cluster] extra, so they run there).
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import io
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resnet_desktop.app.cluster import INSTALL_HINT, cluster_listing, plan
from resnet_desktop.app.cluster_results import Recorder
from resnet_desktop.app.cluster_workers import ModelActor, ModelPackage
from resnet_desktop.app.identity import identity_for
from resnet_desktop.cli import main
from resnet_desktop.core.catalog import Catalog
from resnet_desktop.core.dataset import load_scan, split_dataset
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.imaging import load_input
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.trainer import FitResult, TrainConfig, fit, save_model
from resnet_desktop.core.zoo import get_spec
from tests.core.test_ood_flow import STRANGERS
from tests.core.test_trainer import random_base
from tests.gui.imagefiles import write_noise_images
from tests.helpers import press_ctrl_c, write_class_folders

WEIGHTS = "weights/cifar10-resnet/resnet20-12fca82f.th"
CIFAR = "data/cifar10-test"
FAST = ["--device", "cpu", "--precision", "fp32", "--engine", "torch"]
ACTOR_TITLE = b"ray::MapWorker(MapBatches(ModelActor"  # Ray's process title for our actors
UNKNOWING = "colours"  # a fine-tuned model with a kNN setup for "unknown"


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A Ray instance on this machine with 2 CPUs, for the whole module."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as patch:  # the workers' data folder: a temporary one
        patch.setenv("RESNET_DESKTOP_DATA_DIR", str(tmp_path_factory.mktemp("ray-workers")))
        ray.init(
            num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False
        )
    yield ray
    ray.shutdown()


def predict(paths: list[Path], model: list[str], catalog: Path, out: Path, *extra: str) -> int:
    return main(["predict", *map(str, paths), *model, *FAST, "--catalog", str(catalog),
                 "--csv", str(out), *extra])  # fmt: skip


def both_ways(tmp_path: Path, paths: list[Path], model: list[str], *extra: str) -> tuple[str, str]:
    """The CSV of a local run and of a cluster run (each with a catalog of its own)."""
    local, cluster = tmp_path / "local.csv", tmp_path / "cluster.csv"
    local_code = predict(paths, model, tmp_path / "local.sqlite", local, *extra)
    shards = ["--shards", str(tmp_path / "shards")]
    cluster_code = predict(paths, model, tmp_path / "cluster.sqlite", cluster, *extra, *shards,
                           "--cluster")  # fmt: skip
    assert cluster_code == local_code
    return local.read_text(encoding="utf-8"), cluster.read_text(encoding="utf-8")


def shard_paths(folder: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(folder).column("path").to_pylist()


@pytest.fixture(scope="module")
def colours_fit(tmp_path_factory: pytest.TempPathFactory) -> FitResult:
    """Red, green and blue noise learnt by a random cifar_resnet20's head, with its setup
    for "unknown" and training features (saved to each test's own library)."""
    folder = write_class_folders(tmp_path_factory.mktemp("colours"), 12)
    split = split_dataset(load_scan(folder), 0.25, seed=0)
    result = list(fit(random_base(), split, TrainConfig(strategy="head", epochs=20, workers=1)))
    assert isinstance(result[-1], FitResult) and result[-1].ood_bank is not None
    return result[-1]


def new_colour_images(folder: Path) -> Path:
    """Images of the learnt colours it has not seen, and of two colours it never learnt."""
    write_class_folders(folder, 4, seed=2)
    return write_class_folders(folder, 4, STRANGERS, seed=3)


def stored_scores(catalog: Path, images: list[str]) -> list[float | None]:
    with Catalog.open(catalog, read_only=True) as opened:
        model = opened.find_model(identity_for(UNKNOWING))
        assert model is not None
        found = opened.results_for([Path(image) for image in images], model, 1)
        return [prediction.ood_score for _, prediction in found]


def cifar_sample(shared, folder: Path, per_class: int) -> Path:
    """``per_class`` CIFAR-10 test images of each class, linked into ``folder``."""
    for class_folder in sorted(shared(CIFAR).iterdir()):
        (folder / class_folder.name).mkdir(parents=True)
        for image in sorted(class_folder.iterdir())[:per_class]:
            (folder / class_folder.name / image.name).symlink_to(image.resolve())
    return folder


# ------------------------------------------------------------------------------ on Ray


@pytest.mark.shared
def test_2000_cifar_images_give_the_local_csv_row_for_row(ray_local, shared, tmp_path):
    images = cifar_sample(shared, tmp_path / "cifar", 200)
    model = ["--model", "cifar_resnet20", "--weights", str(shared(WEIGHTS))]
    local, cluster = both_ways(tmp_path, [images], model)
    assert cluster == local
    assert len(local.splitlines()) == 2001
    assert sorted(shard_paths(tmp_path / "shards")) == sorted(
        line.split(",")[0] for line in local.splitlines()[1:]
    )
    with Catalog.open(tmp_path / "cluster.sqlite", read_only=True) as catalog:
        assert catalog.stats().results == 2000


def test_a_hostile_folder_gives_the_local_error_rows(ray_local, tiny_weights, tmp_path):
    folder = tmp_path / "hostile"
    good = write_noise_images(folder, 3)
    jpeg = folder / "photo.jpg"
    Image.open(good[0]).convert("RGB").save(jpeg, quality=90)
    (folder / "truncated.jpg").write_bytes(jpeg.read_bytes()[: jpeg.stat().st_size // 2])
    (folder / "notes.jpg").write_text("these are not pixels", encoding="utf-8")
    (folder / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (40, 40)).save(folder / "document.jpg", "PDF")
    model = ["--model", "cifar_resnet20", "--weights", str(tiny_weights)]
    local, cluster = both_ways(tmp_path, [folder], model)
    assert cluster == local
    errors = {row["path"]: row["error"] for row in csv.DictReader(io.StringIO(local))}
    assert errors[str(folder / "empty.jpg")] == "empty file"
    assert "truncated" in errors[str(folder / "truncated.jpg")]
    assert errors[str(folder / "notes.jpg")].startswith("not an image")
    assert errors[str(folder / "photo.jpg")] == ""


def test_a_model_that_says_unknown_gives_the_local_decisions_and_scores(
    ray_local, colours_fit, tmp_path
):
    save_model(colours_fit, UNKNOWING)
    images = new_colour_images(tmp_path / "images")
    local, cluster = both_ways(tmp_path, [images], ["--model", UNKNOWING])
    assert cluster == local
    rows = list(csv.DictReader(io.StringIO(local)))
    decisions: dict[str, list[str]] = {}
    for row in rows:
        decisions.setdefault(Path(row["path"]).parent.name, []).append(row["decision"])
    assert decisions["grey"] == decisions["yellow"] == ["unknown"] * 4
    learnt = decisions["red"] + decisions["green"] + decisions["blue"]
    assert learnt.count("unknown") <= 2 and {"red", "green", "blue"} <= set(learnt)
    paths = [row["path"] for row in rows]
    scores = stored_scores(tmp_path / "local.sqlite", paths)
    assert all(score is not None and -2 <= score <= 0 for score in scores)
    assert stored_scores(tmp_path / "cluster.sqlite", paths) == pytest.approx(scores, abs=1e-5)
    import pyarrow.parquet as pq

    shards = pq.read_table(tmp_path / "shards").to_pydict()
    by_path = dict(zip(shards["path"], shards["ood_score"], strict=True))
    assert [by_path[path] for path in paths] == pytest.approx(scores, abs=1e-5)


def test_a_damaged_bank_on_a_worker_is_one_notice_and_no_scores(colours_fit, tmp_path):
    save_model(colours_fit, UNKNOWING)
    package = ModelPackage.of(load_model(UNKNOWING), ModelLibrary().ood_scorer(UNKNOWING))
    assert package.ood_bank is not None
    images = sorted(new_colour_images(tmp_path / "images").rglob("*.png"))[:3]
    options = RuntimeOptions(device="cpu", precision="fp32", engine="torch")
    batch = {
        "path": np.array([str(image) for image in images], dtype=object),
        "size": np.zeros(3, np.int64), "mtime_ns": np.zeros(3, np.int64),
        "ctime_ns": np.zeros(3, np.int64),
        "image": np.stack([load_input(image, package.preprocess) for image in images]),
        "error": np.array([""] * 3, dtype=object),
    }  # fmt: skip
    whole = ModelActor(lambda: package, options, top_k=2)(batch)
    assert list(whole["notice"]) == [""] * 3 and np.all(whole["ood_score"] <= 0)
    damaged = dataclasses.replace(package, ood_bank=b"not safetensors")
    actor = ModelActor(lambda: damaged, options, top_k=2)
    first, second = actor(batch), actor(batch)
    assert first["notice"][0].startswith("colours cannot say 'unknown' this time (")
    assert "not a readable feature file" in first["notice"][0]
    assert "\n" not in first["notice"][0] and list(first["notice"][1:]) == ["", ""]
    assert list(second["notice"]) == [""] * 3  # told once
    assert np.isnan(first["ood_score"]).all()
    assert (first["indices"] == whole["indices"]).all()  # it classifies as before


def _model_actors() -> list[int]:
    """The process ids of our model actors, found by the title Ray gives them."""
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as stream:
                title = stream.read(len(ACTOR_TITLE))
        except OSError:
            continue
        if title == ACTOR_TITLE:
            found.append(int(cmdline.split("/")[2]))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the actor in /proc")
def test_a_worker_killed_midway_still_gives_every_image_once(
    ray_local, tiny_weights, tmp_path, monkeypatch
):
    monkeypatch.setattr("resnet_desktop.app.cluster_results.SHARD_ROWS", 16)  # a shard per batch
    images = write_noise_images(tmp_path / "imgs", 400, size=32)
    shards = tmp_path / "shards"
    killed: list[tuple[int, int]] = []  # (pid, shards written before the kill)

    def kill_after_the_first_batch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            written = len(list(shards.glob("*.parquet"))) if shards.is_dir() else 0
            actors = _model_actors()
            if written and actors:
                os.kill(actors[0], signal.SIGKILL)
                killed.append((actors[0], written))
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_after_the_first_batch)
    killer.start()
    model = ["--model", "cifar_resnet20", "--weights", str(tiny_weights)]
    out = tmp_path / "out.csv"
    code = predict([tmp_path / "imgs"], model, tmp_path / "c.sqlite", out, "--batch-size", "16",
                   "--shards", str(shards), "--cluster")  # fmt: skip
    killer.join()
    assert code == 0
    assert killed, "no model actor was seen"
    assert len(list(shards.glob("*.parquet"))) == 400 // 16 > killed[0][1]  # it was midway
    rows = [line.split(",")[0] for line in out.read_text(encoding="utf-8").splitlines()[1:]]
    assert sorted(rows) == sorted(map(str, images))
    assert sorted(shard_paths(shards)) == sorted(map(str, images))
    with Catalog.open(tmp_path / "c.sqlite", read_only=True) as catalog:
        assert catalog.stats().results == 400


def test_a_second_run_only_lists_what_the_catalog_lacks(ray_local, tiny_weights, tmp_path):
    images = write_noise_images(tmp_path / "imgs", 6)
    model = ["--model", "cifar_resnet20", "--weights", str(tiny_weights)]
    catalog, shards = tmp_path / "c.sqlite", tmp_path / "shards"
    first = [images[0], images[1]]
    predict(first, model, catalog, tmp_path / "1.csv", "--shards", str(shards), "--cluster")
    code = predict([tmp_path / "imgs"], model, catalog, tmp_path / "2.csv", "--shards",
                   str(shards), "--cluster")  # fmt: skip
    assert code == 0
    assert len(shard_paths(shards)) == 6  # 2, then the 4 without a result
    assert len((tmp_path / "2.csv").read_text(encoding="utf-8").splitlines()) == 7


def test_a_run_stopped_by_ctrl_c_finishes_when_run_again(
    ray_local, tiny_weights, tmp_path, capsys, monkeypatch
):
    write_noise_images(tmp_path / "imgs", 20)
    model = ["--model", "cifar_resnet20", "--weights", str(tiny_weights), "--batch-size", "4"]
    whole, resumed = tmp_path / "whole.csv", tmp_path / "resumed.csv"
    assert predict([tmp_path / "imgs"], model, tmp_path / "other.sqlite", whole) == 0
    real = Recorder.add
    added = []

    def ctrl_c_after_two_batches(self, *args, **kwargs):
        real(self, *args, **kwargs)
        added.append(1)
        if len(added) == 2:
            press_ctrl_c()

    monkeypatch.setattr(Recorder, "add", ctrl_c_after_two_batches)
    catalog = tmp_path / "c.sqlite"
    assert predict([tmp_path / "imgs"], model, catalog, resumed, "--cluster") == 130
    assert "interrupted: 12 images not classified" in capsys.readouterr().err
    monkeypatch.setattr(Recorder, "add", real)
    assert predict([tmp_path / "imgs"], model, catalog, resumed, "--cluster") == 0
    assert "classified 12 of 20 images" in capsys.readouterr().err
    assert resumed.read_bytes() == whole.read_bytes()


@pytest.mark.skipif(sys.platform == "darwin", reason="needs a device the workers lack: mps")
def test_an_option_the_workers_cannot_run_is_one_line(ray_local, tiny_weights, tmp_path, capsys):
    write_noise_images(tmp_path / "imgs", 2)
    model = ["--model", "cifar_resnet20", "--weights", str(tiny_weights)]
    args = ["predict", str(tmp_path / "imgs"), *model, "--device", "mps", "--cluster"]
    assert main([*args, "--catalog", str(tmp_path / "c.sqlite")]) == 1
    assert "error: a Ray worker cannot run the model: device 'mps' is not available" in (
        capsys.readouterr().err
    )


# ------------------------------------------------------------------------------ without Ray


def test_without_ray_one_line_says_what_to_install(tiny_weights, tmp_path, capsys, monkeypatch):
    write_noise_images(tmp_path / "imgs", 2)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    model = ["--model", "cifar_resnet20", "--weights", str(tiny_weights)]
    code = predict([tmp_path / "imgs"], model, tmp_path / "c.sqlite", tmp_path / "o.csv",
                   "--cluster")  # fmt: skip
    assert code == 1
    assert INSTALL_HINT in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_an_address_that_is_not_one_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--cluster", str(tmp_path), "--model", "cifar_resnet20"])
    assert "put --cluster after the paths" in capsys.readouterr().err


def test_a_list_file_names_files_and_folders(tmp_path):
    images = write_noise_images(tmp_path / "imgs", 3)
    listed = tmp_path / "list.txt"
    lines = [
        "# the photos",
        f"imgs/{images[0].name}",
        "",
        f"file://{images[1]}",
        str(images[0].parent),
    ]
    listed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with cluster_listing([str(listed)]) as listing:
        assert list(listing) == [images[0], images[1], images[2]]  # each once, in list order
    listed.write_text("s3://bucket/photo.jpg\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 1: s3:// is not classified yet"):
        cluster_listing([str(listed)])


def test_the_plan_puts_one_actor_on_each_gpu_or_on_most_of_each_cpu_node():
    preprocess = get_spec("resnet50").preprocess
    gpus = plan([{"CPU": 16, "GPU": 2}, {"CPU": 16, "GPU": 2}], RuntimeOptions(), preprocess)
    assert (gpus.actors, gpus.gpus, gpus.batch_size) == (4, 1, 64)
    cpus = plan([{"CPU": 32}, {"CPU": 16}, {"CPU": 0.5}], RuntimeOptions(), preprocess)
    assert (cpus.actors, cpus.cpus, cpus.gpus, cpus.batch_size) == (2, 14, 0, 32)
    two = plan([{"CPU": 2}], RuntimeOptions(), preprocess)
    assert (two.actors, two.cpus) == (1, 1)  # the other core decodes
    on_cpu = plan([{"CPU": 16, "GPU": 2}], RuntimeOptions(device="cpu"), preprocess)
    assert (on_cpu.actors, on_cpu.cpus, on_cpu.gpus) == (1, 14, 0)
    with pytest.raises(UserError, match="no CPUs or GPUs"):
        plan([], RuntimeOptions(batch_size=8), preprocess)
    with pytest.raises(UserError, match="has 1 CPU: it needs one more"):
        plan([{"CPU": 1}], RuntimeOptions(), preprocess)
    with pytest.raises(UserError, match="has 2 CPUs: it needs one more"):
        plan([{"CPU": 2, "GPU": 2}], RuntimeOptions(), preprocess)
