"""Saying "unknown" end to end: fine-tuning's setup and bank, the library's file, the
predictor's scores, the catalog's ood_score, the decision column and the threshold."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_desktop.app.unknown import decider_for, scorer_for
from resnet_desktop.cli import main
from resnet_desktop.core import ood
from resnet_desktop.core.catalog import Catalog, RunInfo
from resnet_desktop.core.dataset import load_scan, split_dataset
from resnet_desktop.core.export import csv_text
from resnet_desktop.core.library import ABANDONED_AFTER_S, LibraryError, ModelLibrary
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.ood import Decider, OodError, OodScorer, OodSetup
from resnet_desktop.core.predictor import Prediction, Predictor
from resnet_desktop.core.trainer import FitResult, TrainConfig, fit, save_model
from resnet_desktop.core.zoo import CIFAR10_CLASSES
from tests.core.test_trainer import random_base
from tests.helpers import resolved, write_class_folders

NAME = "colours"
# Grey and yellow are none of the three classes the model learns.
STRANGERS = {"grey": (128, 128, 128), "yellow": (220, 220, 30)}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_class_folders(tmp_path_factory.mktemp("colours"), 30)


@pytest.fixture(scope="module")
def head_result(dataset: Path) -> FitResult:
    split = split_dataset(load_scan(dataset), 0.2, seed=0)
    config = TrainConfig(strategy="head", epochs=30, workers=1)
    result = list(fit(random_base(), split, config))[-1]
    assert isinstance(result, FitResult)
    return result


@pytest.fixture
def saved(head_result: FitResult) -> ModelLibrary:
    save_model(head_result, NAME)
    return ModelLibrary()


def strangers(root: Path) -> list[Path]:
    folder = write_class_folders(root, 4, STRANGERS, seed=1)
    return sorted(folder.rglob("*.png"))


# ------------------------------------------------------------------------ fine-tuning


def test_head_fine_tuning_measures_a_knn_setup_on_its_cached_features(head_result: FitResult):
    setup, bank = head_result.ood, head_result.ood_bank
    assert setup is not None and bank is not None
    assert setup.method == "knn" and setup.k == ood.choose_k(head_result.dataset["train_counts"])
    assert bank.shape == (sum(head_result.dataset["train_counts"]), 64)  # resnet20's width
    assert np.allclose(np.linalg.norm(bank, axis=1), 1.0, atol=1e-5)
    stored = head_result.metadata()["metrics"]["ood"]
    assert OodSetup.from_dict(stored) == setup and stored["suggested"] == setup.threshold


def test_other_strategies_run_the_trained_network_for_the_bank(dataset: Path):
    split = split_dataset(load_scan(dataset), 0.2, seed=0)
    config = TrainConfig(strategy="last", epochs=1, batch_size=16, workers=1)
    events = list(fit(random_base(), split, config))
    result = events[-1]
    assert result.ood is not None and result.ood_bank.shape == (len(split.train), 64)
    stages = {getattr(event, "stage", None) for event in events}
    assert "measuring the training images for 'unknown'" in stages


# ------------------------------------------------------------------------ the library


def test_the_bank_is_saved_beside_the_model_and_read_back(saved: ModelLibrary, head_result):
    model = saved.get(NAME)
    assert model.ood_path == saved.root / f"{NAME}.ood.safetensors" and model.ood_path.is_file()
    scorer = saved.ood_scorer(NAME)
    assert scorer is not None and scorer.setup == head_result.ood
    assert np.allclose(scorer.bank, head_result.ood_bank)


def test_rename_carries_the_bank_and_remove_deletes_it(saved: ModelLibrary):
    saved.rename(NAME, "renamed")
    assert not (saved.root / f"{NAME}.ood.safetensors").exists()
    assert saved.get("renamed").ood_path == saved.root / "renamed.ood.safetensors"
    assert saved.ood_scorer("renamed") is not None
    saved.remove("renamed")
    assert sorted(path.name for path in saved.root.iterdir()) == [".lock"]


def test_overwriting_replaces_the_bank_and_litter_cleaning_keeps_it(saved, head_result):
    old = saved.get(NAME).ood_path
    save_model(head_result, NAME, overwrite=True)
    new = saved.get(NAME).ood_path
    assert new != old and new.is_file() and not old.exists()
    long_ago = time.time() - 2 * ABANDONED_AFTER_S
    os.utime(new, (long_ago, long_ago))
    assert saved.clean_abandoned() == [] and new.is_file()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.unlink(), "cannot read"),
        (lambda path: path.write_bytes(b"not safetensors"), "not a readable feature file"),
    ],
)
def test_a_missing_or_damaged_bank_leaves_a_working_model_and_one_notice(
    saved: ModelLibrary, damage, message: str
):
    damage(saved.get(NAME).ood_path)
    notices: list[str] = []
    assert scorer_for(NAME, notices.append) is None
    assert len(notices) == 1 and message in notices[0] and "classifies as before" in notices[0]
    with pytest.raises(OodError, match=message):
        saved.ood_scorer(NAME)
    assert load_model(NAME).class_names == list(saved.get(NAME).class_names)


def test_a_features_file_named_outside_the_library_is_not_used(saved: ModelLibrary):
    import json

    path = saved.root / f"{NAME}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "ood_file": "../elsewhere.safetensors"}), "utf-8")
    assert saved.get(NAME).ood_path is None and saved.damaged() == []
    notices: list[str] = []
    assert scorer_for(NAME, notices.append) is None
    assert "its features file is not recorded" in notices[0]


def test_a_bank_of_another_width_is_refused_by_the_predictor(saved: ModelLibrary):
    loaded = load_model(NAME)
    scorer = OodScorer(OodSetup("knn", -0.5, 1), np.ones((3, 8), np.float32))
    notices: list[str] = []
    predictor = Predictor(
        loaded, resolved(loaded, engine="torch"), notify=notices.append, ood=scorer
    )
    assert predictor.ood is None and "8 values per image" in notices[0]


def test_the_threshold_can_be_changed_within_its_method_range(saved: ModelLibrary):
    suggested = saved.get(NAME).metrics["ood"]["threshold"]
    changed = saved.set_ood_threshold(NAME, -0.25)
    assert changed.metrics["ood"]["threshold"] == -0.25
    assert changed.metrics["ood"]["suggested"] == suggested
    with pytest.raises(LibraryError, match=r"knn threshold must be in \[-2.0, 0.0\]"):
        saved.set_ood_threshold(NAME, 0.5)
    assert decider_for(NAME) == Decider(-0.25)
    assert decider_for(NAME, -1.0) == Decider(-1.0)


def test_a_model_without_a_setup_has_no_threshold_to_change(tiny_model: str):
    with pytest.raises(LibraryError, match="has no 'unknown' threshold"):
        ModelLibrary().set_ood_threshold(tiny_model, 0.5)
    assert decider_for(tiny_model) is None
    assert decider_for(tiny_model, 0.5) == Decider(0.5, from_confidence=True)
    with pytest.raises(OodError, match="msp threshold"):
        decider_for(tiny_model, -0.5)


# ------------------------------------------------------------------------ prediction


@pytest.mark.parametrize("engine", ["torch", "openvino"])
def test_the_predictor_scores_what_knn_on_the_head_inputs_gives(saved, dataset, engine, tmp_path):
    loaded = load_model(NAME)
    scorer = saved.ood_scorer(NAME)
    paths = sorted(dataset.rglob("*.png"))[:6] + strangers(tmp_path)
    predictor = Predictor(loaded, resolved(loaded, engine=engine, precision="fp32"), ood=scorer)
    predictions = [p for batch in predictor.predict_iter(paths) for p in batch.predictions]
    inputs = torch.from_numpy(
        np.stack([ood_input(path, loaded) for path in paths])
    )  # the reference: PyTorch, the hook on the head
    from resnet_desktop.core.device import Normalizer
    from resnet_desktop.core.networks import head_of

    normalize = Normalizer(loaded.preprocess.mean, loaded.preprocess.std, torch.device("cpu"))
    with torch.inference_mode():
        _, features = ood.logits_and_features(
            loaded.network, head_of(loaded.network, loaded.spec), normalize(inputs)
        )
    expected = ood.knn_score(features.numpy(), scorer.bank, scorer.setup.k)
    scores = np.array([p.ood_score for p in predictions])
    assert np.allclose(scores, expected, atol=1e-3)
    plain = Predictor(loaded, resolved(loaded, engine=engine, precision="fp32"))
    again = [p for batch in plain.predict_iter(paths) for p in batch.predictions]
    assert all(p.ood_score is None for p in again)
    assert [p.labels for p in again] == [p.labels for p in predictions]


def ood_input(path: Path, loaded) -> np.ndarray:
    from resnet_desktop.core.imaging import load_input

    return load_input(path, loaded.preprocess)


def test_the_catalog_keeps_each_results_score(tmp_path: Path, tiny_model: str):
    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    with Catalog.open(tmp_path / "catalog.sqlite3") as catalog:
        from resnet_desktop.app.identity import identity_for

        model = catalog.model_id(identity_for(tiny_model))
        run = RunInfo("cpu", "fp32", "torch")
        scored = Prediction(image, ("cat",), (0.9,), (3,), ood_score=-0.75)
        catalog.record_batch(model, [scored], run)
        [(_, stored)] = catalog.results_for([image], model, 1)
        assert stored.ood_score == -0.75
        catalog.record_batch(model, [Prediction(image, ("dog",), (0.8,), (5,))], run)
        [(_, stored)] = catalog.results_for([image], model, 1)
        assert stored.ood_score is None and stored.labels == ("dog",)


# ------------------------------------------------------------------------ decisions


def test_the_decision_column_is_added_only_when_asked(tmp_path: Path):
    known = Prediction(tmp_path / "a.png", ("cat", "dog"), (0.9, 0.1), (0, 1), ood_score=-0.2)
    strange = Prediction(tmp_path / "b.png", ("dog", "cat"), (0.6, 0.4), (1, 0), ood_score=-0.9)
    broken = Prediction(tmp_path / "c.png", error="cannot decode")
    unscored = Prediction(tmp_path / "d.png", ("cat",), (0.5,), (0,))
    rows = [known, strange, broken, unscored]
    plain = list(csv.reader(csv_text(rows, 2).splitlines()))
    assert plain[0] == ["path", "label_1", "prob_1", "label_2", "prob_2", "error"]
    decided = list(csv.reader(csv_text(rows, 2, decide=Decider(-0.5).decide).splitlines()))
    assert decided[0] == [*plain[0], "decision"]
    assert [row[:-1] for row in decided] == plain  # the old columns unchanged
    assert [row[-1] for row in decided[1:]] == ["cat", "unknown", "", "cat"]
    by_confidence = Decider(0.7, from_confidence=True)
    assert [by_confidence.decide(p) for p in rows] == ["cat", "unknown", "", "unknown"]


def test_predict_and_results_say_unknown_for_strange_images(saved, dataset, tmp_path, capsys):
    known = sorted(dataset.rglob("*.png"))[::10]
    odd = strangers(tmp_path / "odd")
    images = tmp_path / "images"
    images.mkdir()
    for path in [*known, *odd]:
        (images / f"{path.parent.name}_{path.name}").write_bytes(path.read_bytes())
    catalog, out = str(tmp_path / "c.sqlite3"), tmp_path / "out.csv"
    args = [str(images), "--model", NAME, "--catalog", catalog, "--csv", str(out)]
    assert main(["predict", *args]) == 0
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    decisions = {Path(row["path"]).name.split("_")[0]: [] for row in rows}
    for row in rows:
        decisions[Path(row["path"]).name.split("_")[0]].append(row["decision"])
    assert decisions["grey"] == decisions["yellow"] == ["unknown"] * 4
    known_decisions = [d for name in ("red", "green", "blue") for d in decisions[name]]
    assert known_decisions.count("unknown") <= 1 and set(known_decisions) - {"unknown"}
    assert main(["results", *args[:-2], "--threshold", "-2"]) == 0  # all accepted
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(rows) and not any(line.endswith("-> unknown") for line in printed)


def test_models_set_threshold_and_list(saved: ModelLibrary, capsys):
    assert main(["models", "set-threshold", NAME, "-0.125"]) == 0
    assert "'unknown' below -0.125" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert "UNKNOWN BELOW" in listing and "-0.125" in listing
    assert main(["models", "set-threshold", NAME, "3"]) == 1
    assert "knn threshold must be in" in capsys.readouterr().err


def test_a_zoo_model_named_with_a_threshold_decides_on_the_probability(
    tiny_model: str, tmp_path: Path, capsys
):
    from tests.helpers import write_colour_images

    write_colour_images(tmp_path / "images", 1)
    images = str(tmp_path / "images")
    args = ["predict", images, "--model", tiny_model, "--no-catalog", "--engine", "torch"]
    assert main([*args, "--threshold", "1.0"]) == 0  # no probability reaches 1 exactly
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.endswith("-> unknown") for line in lines)
    assert main(args) == 0
    assert not any("->" in line for line in capsys.readouterr().out.splitlines())


# ------------------------------------------------------------------------ real data

# tests/benchmarks/ood_bench.py, seed 0, 1,000 test images per class: at the suggested
# threshold 95.7 % of the in-class images were accepted and 65.8 % of the out-class
# images called unknown (kNN AUROC 0.919, MSP 0.771).


@pytest.mark.shared
def test_a_fine_tuned_five_class_model_calls_most_other_cifar_classes_unknown(shared, tmp_path):
    from tests.benchmarks import ood_bench as bench

    archive, tests = shared(bench.TRAIN_ARCHIVE), shared(bench.TEST_FOLDER)
    inside = list(bench.DEFAULT_IN)
    outside = [name for name in CIFAR10_CLASSES if name not in inside]
    folder = bench.extract_training_images(archive, inside, 100, tmp_path)
    split = split_dataset(load_scan(folder), 0.2, seed=0)
    bench.fine_tune(load_model("cifar_resnet20", shared(bench.WEIGHTS)), split, seed=0)
    decider = decider_for(bench.MODEL_NAME)
    assert decider is not None and not decider.from_confidence
    in_scores = bench.predicted_scores(bench.cifar_test_images(tests, inside, 40))
    out_scores = bench.predicted_scores(bench.cifar_test_images(tests, outside, 40))
    accepted, unknown = (
        (in_scores >= decider.threshold).mean(),
        (out_scores < decider.threshold).mean(),
    )
    assert accepted >= 0.85 and unknown >= 0.5, (
        f"in accepted {accepted:.1%}, out unknown {unknown:.1%}"
    )
    assert ood.auroc(in_scores, out_scores) >= 0.85


def test_export_carries_the_setup_and_the_features(saved: ModelLibrary, tmp_path: Path):
    import json

    from resnet_desktop.app.library_admin import export_library_model

    files = export_library_model(NAME, "openvino", tmp_path)
    assert tmp_path / f"{NAME}.ood.safetensors" in files
    exported = ood.load_bank(tmp_path / f"{NAME}.ood.safetensors")
    assert np.array_equal(exported, ood.load_bank(saved.get(NAME).ood_path))
    described = json.loads((tmp_path / f"{NAME}.json").read_text(encoding="utf-8"))
    unknown = described["unknown"]
    assert OodSetup.from_dict(unknown) == saved.ood_scorer(NAME).setup
    assert unknown["features_file"] == f"{NAME}.ood.safetensors"


@pytest.mark.parametrize("damaged", [False, True])
def test_the_windows_classify_job_scores_or_says_why_not(saved, dataset, tmp_path, damaged):
    from resnet_desktop.app.classify import ModelReady, RunRequest, classify_job
    from resnet_desktop.core.runtime import RuntimeOptions

    if damaged:
        saved.get(NAME).ood_path.write_bytes(b"garbage")
    paths = sorted(dataset.rglob("*.png"))[:3]
    runtime = RuntimeOptions(engine="torch")
    request = RunRequest(NAME, 2, runtime, tmp_path / "c.sqlite3", lambda _stop: paths)
    events = list(classify_job(request)(lambda: False))
    [ready] = [event for event in events if isinstance(event, ModelReady)]
    predictions = [p for event in events[3:] for p in event.predictions]
    assert len(predictions) == 3
    if damaged:
        assert "cannot say 'unknown'" in ready.notice
        assert all(p.ood_score is None for p in predictions)
    else:
        assert ready.notice == "" and all(-2 <= p.ood_score <= 0 for p in predictions)


def test_a_large_training_set_is_thinned_evenly_into_the_bank(monkeypatch):
    from resnet_desktop.core import ood_training

    monkeypatch.setattr(ood_training, "BANK_BYTES", 4 * 8 * 100)  # 100 rows of width 8
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 100)  # 400 images, class by class
    train = ood_training.LabelledFeatures(rng.normal(size=(400, 8)).astype(np.float32), labels)
    val = ood_training.LabelledFeatures(rng.normal(size=(20, 8)).astype(np.float32), labels[:20])
    measured = ood_training.measure(train, val, 4)
    assert measured.bank.shape == (100, 8)
    assert measured.setup.k == ood.choose_k([25, 25, 25, 25])  # each class keeps its share
    assert np.allclose(measured.bank, ood.l2_normalise(train.features[::4]))
