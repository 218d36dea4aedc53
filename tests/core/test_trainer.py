"""Fine-tuning: learning, strategies, cancel, NaN, out-of-memory, saving and the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from resnet_desktop.cli import main
from resnet_desktop.core import trainer
from resnet_desktop.core.cifar_resnet import CifarResNet
from resnet_desktop.core.dataset import DatasetSplit, load_scan, split_dataset
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.model_loader import LoadedModel, load_model
from resnet_desktop.core.networks import build_network
from resnet_desktop.core.trainer import (
    BatchProgress,
    EpochReport,
    FitResult,
    StageProgress,
    TrainConfig,
    TrainingError,
    default_config,
    fit,
    learning_rate,
    resolve_config,
    save_model,
)
from resnet_desktop.core.zoo import Preprocess, get_spec
from tests.helpers import resolved, write_class_folders

CIFAR = Preprocess(crop=32, resize=None)
FULL = TrainConfig(strategy="full", epochs=6, batch_size=16, lr=0.05, workers=1)
HEAD = TrainConfig(strategy="head", workers=1)


def random_base(preprocess: Preprocess = CIFAR, name: str = "cifar_resnet20") -> LoadedModel:
    spec = get_spec(name)
    torch.manual_seed(1)
    network = build_network(spec).eval()
    return LoadedModel(name, spec, network, [f"c{i}" for i in range(10)], preprocess)


def run(base: LoadedModel, split: DatasetSplit, config: TrainConfig, **kwargs) -> list:
    events = list(fit(base, split, config, **kwargs))
    assert isinstance(events[-1], FitResult)
    assert not any(isinstance(event, FitResult) for event in events[:-1])
    return events


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_class_folders(tmp_path_factory.mktemp("colours"), 30)


@pytest.fixture(scope="module")
def split(colours: Path) -> DatasetSplit:
    return split_dataset(load_scan(colours), 0.2, seed=0)


@pytest.fixture(scope="module")
def full_events(split: DatasetSplit) -> list:
    return run(random_base(), split, FULL)


@pytest.fixture(scope="module")
def head_result(split: DatasetSplit) -> FitResult:
    return run(random_base(), split, HEAD)[-1]


# ----------------------------------------------------------------- settings and helpers


def test_defaults_depend_on_strategy_and_input_size():
    head = default_config("head", CIFAR)
    assert (head.optimizer, head.label_smoothing, head.epochs) == ("adamw", 0.0, 100)
    small, large = default_config("full", CIFAR), default_config("full", Preprocess(224, 256))
    assert (small.optimizer, small.batch_size) == ("sgd", 128)
    assert (large.optimizer, large.batch_size, large.label_smoothing) == ("adamw", 64, 0.1)
    mine = resolve_config(TrainConfig(strategy="last", lr=0.123, epochs=2), CIFAR)
    assert (mine.lr, mine.epochs, mine.optimizer) == (0.123, 2, "adamw")
    assert None not in (mine.batch_size, mine.weight_decay, mine.warmup_epochs, mine.patience)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strategy": "deep"}, "unknown strategy"),
        ({"lr": 0.0}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"label_smoothing": 1.0}, "label smoothing"),
    ],
)
def test_bad_settings_are_errors(changes: dict, message: str):
    with pytest.raises(TrainingError, match=message):
        resolve_config(TrainConfig(**changes), CIFAR)


def test_learning_rate_warms_up_linearly_then_decays_to_zero():
    config = resolve_config(TrainConfig(strategy="full", lr=1.0, epochs=10, warmup_epochs=2), CIFAR)
    assert learning_rate(config, 1.0) == pytest.approx(0.5)
    assert learning_rate(config, 2.0) == pytest.approx(1.0)
    assert learning_rate(config, 6.0) == pytest.approx(0.5)
    assert learning_rate(config, 10.0) == pytest.approx(0.0, abs=1e-9)
    rates = [learning_rate(config, step / 10) for step in range(100)]
    assert rates.index(max(rates)) == 20 and all(rate > 0 for rate in rates)


def test_every_public_name_is_importable_from_the_trainer():
    """The GUI, the CLI and these tests import fine-tuning's names from ``trainer``."""
    from resnet_desktop.core import augment, optimisation, train_config

    assert all(getattr(trainer, name, None) is not None for name in trainer.__all__)
    assert trainer.pad_crop_flip is augment.pad_crop_flip
    assert trainer.learning_rate is optimisation.learning_rate
    assert trainer.TrainConfig is train_config.TrainConfig


# ----------------------------------------------------------------- training


def test_full_training_from_random_weights_learns(full_events: list, split: DatasetSplit):
    result: FitResult = full_events[-1]
    reports = [e for e in full_events if isinstance(e, EpochReport)]
    assert isinstance(full_events[0], StageProgress) and full_events[0].stage == "loading images"
    assert [r.epoch for r in reports] == list(range(1, 7)) == [r.epoch for r in result.history]
    assert {e.phase for e in full_events if isinstance(e, BatchProgress)} <= {"train", "validate"}
    assert result.error is None and not result.cancelled
    assert result.report is not None and result.report.accuracy >= 0.9
    assert result.report.total == len(split.val) == 18
    best = result.history[result.best_epoch - 1]
    assert best.is_best and best.val_loss == min(r.val_loss for r in reports)
    assert best.val_accuracy == result.report.accuracy
    assert all(r.images_per_second > 0 and r.lr > 0 for r in reports)
    network = build_network(get_spec("cifar_resnet20"), 3)
    network.load_state_dict(result.state_dict)
    assert result.class_names == ["blue", "green", "red"]


def test_head_strategy_changes_only_the_head(head_result: FitResult, split: DatasetSplit):
    assert head_result.report.accuracy >= 0.9
    base = random_base().network.state_dict()
    for key, value in head_result.state_dict.items():
        if key.startswith("linear."):
            assert value.shape[0] == 3
        else:
            assert torch.equal(value, base[key]), key


def test_training_is_seeded_and_leaves_the_callers_random_state_alone(split: DatasetSplit):
    config = TrainConfig(strategy="head", epochs=2, seed=3)
    base = random_base()  # seeds torch itself, so before the snapshot
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    first = run(base, split, config)[-1]
    assert torch.equal(torch.random.get_rng_state(), before)
    second = run(base, split, config)[-1]
    assert first.state_dict.keys() == second.state_dict.keys()
    assert all(torch.equal(v, second.state_dict[k]) for k, v in first.state_dict.items())


def test_head_strategy_caches_features_once(split: DatasetSplit):
    events = run(random_base(), split, TrainConfig(strategy="head", epochs=3))
    stages = [e for e in events if isinstance(e, StageProgress)]
    assert stages and all(s.stage == "caching features" for s in stages)
    assert stages[-1].done == stages[-1].total == 90
    first_epoch = next(i for i, e in enumerate(events) if isinstance(e, EpochReport))
    assert all(not isinstance(e, StageProgress) for e in events[first_epoch:])


def test_head_training_leaves_the_thread_count_alone(split: DatasetSplit):
    """torch's thread count is process-wide: a classification running meanwhile keeps it."""
    threads = torch.get_num_threads()
    seen: list[int] = []
    stop = lambda: seen.append(torch.get_num_threads()) is not None  # noqa: E731 (never stops)
    result = run(random_base(), split, TrainConfig(strategy="head", epochs=2), should_stop=stop)[-1]
    assert len(result.history) == 2 and seen and set(seen) == {threads}


def test_last_strategy_trains_the_last_stage_and_keeps_frozen_batch_norm(split: DatasetSplit):
    base = random_base()
    before = {k: v.clone() for k, v in base.network.state_dict().items()}
    config = TrainConfig(strategy="last", epochs=1, batch_size=16, augment=False)
    result = run(base, split, config)[-1]
    changed = {
        k for k, v in result.state_dict.items() if k in before and not torch.equal(v, before[k])
    }
    assert changed and all(k.startswith(("layer3.", "linear.")) for k in changed)
    assert "layer3.0.bn1.running_mean" in changed and "layer3.2.conv2.weight" in changed
    assert torch.equal(
        result.state_dict["layer1.0.bn1.running_var"], before["layer1.0.bn1.running_var"]
    )
    assert all(torch.equal(v, before[k]) for k, v in base.network.state_dict().items())  # untouched


def test_streamed_large_inputs_with_an_undecodable_file(tmp_path: Path):
    """Inputs bigger than CIFAR are decoded per batch with RandomResizedCrop; bad files skipped."""
    write_class_folders(tmp_path, 8)
    split = split_dataset(load_scan(tmp_path), 0.25)
    broken = split.train[0].path
    broken.write_bytes(b"garbage written after the scan")
    base = random_base(Preprocess(crop=24, resize=28))
    config = TrainConfig(strategy="full", epochs=2, batch_size=4, workers=2)
    result = run(base, split, config)[-1]
    assert result.error is None and len(result.history) == 2
    assert [p.path for p in result.skipped] == [broken]
    assert result.report.total == len(split.val)


# ----------------------------------------------------------------- stopping


def test_cancel_after_the_first_epoch_keeps_it_and_it_can_be_saved(split: DatasetSplit):
    events: list = []
    stop = lambda: any(isinstance(e, EpochReport) for e in events)  # noqa: E731
    for event in fit(random_base(), split, FULL, should_stop=stop):
        events.append(event)
    result = events[-1]
    assert result.cancelled and result.best_epoch == 1 and len(result.history) == 1
    assert result.savable and result.report is not None
    saved = save_model(result, "cancelled-one")
    assert saved.training["cancelled"] is True and saved.training["best_epoch"] == 1
    assert [m.name for m in ModelLibrary().list()] == ["cancelled-one"]


def test_cancel_before_any_epoch_has_nothing_to_save(split: DatasetSplit):
    result = run(random_base(), split, FULL, should_stop=lambda: True)[-1]
    assert result.cancelled and not result.savable and result.history == []
    with pytest.raises(TrainingError, match="nothing to save"):
        save_model(result, "nothing")


def test_exploding_loss_stops_with_a_clear_message(split: DatasetSplit):
    config = TrainConfig(strategy="full", epochs=3, batch_size=16, lr=1e6, optimizer="sgd")
    result = run(random_base(), split, config)[-1]
    assert result.error and "lower the learning rate" in result.error
    assert "became NaN" in result.error or "became infinite" in result.error
    assert not result.savable


def test_nan_loss_after_an_epoch_keeps_the_best_epoch(split: DatasetSplit, monkeypatch):
    calls = [0]
    steps_per_epoch = 5  # 72 training images in batches of 16

    class Breaking(nn.CrossEntropyLoss):
        def forward(self, logits, target):
            calls[0] += 1
            loss = super().forward(logits, target)
            return loss * float("nan") if calls[0] > steps_per_epoch else loss

    monkeypatch.setattr(trainer.nn, "CrossEntropyLoss", Breaking)
    result = run(random_base(), split, FULL)[-1]
    assert result.error == (
        "the training loss became NaN in epoch 2; lower the learning rate and train again"
    )
    assert result.best_epoch == 1 and result.savable


def test_out_of_memory_halves_the_batch(split: DatasetSplit, monkeypatch):
    original = CifarResNet.forward
    sizes: list[int] = []

    def limited(self, x):
        sizes.append(len(x))
        if len(x) > 8:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(self, x)

    monkeypatch.setattr(CifarResNet, "forward", limited)
    config = TrainConfig(strategy="full", epochs=1, batch_size=32, augment=False)
    result = run(random_base(), split, config)[-1]
    assert result.error is None and result.history[0].batch_size == 8
    assert sizes[:3] == [32, 16, 8]  # training: 72 images
    assert [size for size in sizes if size > 8] == [32, 16, 18, 9]  # validation: 18 images
    assert sizes[-1] <= 8


def test_out_of_memory_at_batch_size_one_is_an_error(split: DatasetSplit, monkeypatch):
    def never(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(CifarResNet, "forward", never)
    with pytest.raises(TrainingError, match="out of GPU memory"):
        run(random_base(), split, TrainConfig(strategy="full", epochs=1, batch_size=4))


def test_training_without_validation_images_is_an_error(tmp_path: Path):
    write_class_folders(tmp_path / "train", 3)
    write_class_folders(tmp_path / "val", 0)
    split = split_dataset(load_scan(tmp_path / "train", tmp_path / "val"))
    with pytest.raises(TrainingError, match="no validation images"):
        run(random_base(), split, HEAD)


# ----------------------------------------------------------------- library and CLI


def test_library_round_trip(head_result: FitResult, split: DatasetSplit):
    from resnet_desktop.core.predictor import Predictor

    saved = save_model(head_result, "colours-head")
    assert saved.architecture == "cifar_resnet20" and saved.class_names == ("blue", "green", "red")
    assert saved.training["strategy"] == "head" and saved.training["history"]
    assert saved.metrics["accuracy"] == head_result.report.accuracy
    with pytest.raises(Exception, match="already exists"):
        save_model(head_result, "colours-head")
    loaded = load_model("colours-head")
    predictor = Predictor(loaded, resolved(loaded, precision="fp32"), top_k=1)
    predictions = [
        p for b in predictor.predict_iter([s.path for s in split.val]) for p in b.predictions
    ]
    correct = sum(p.indices[0] == s.label for p, s in zip(predictions, split.val, strict=True))
    assert correct / len(split.val) >= 0.9
    ModelLibrary().remove("colours-head")
    assert "colours-head" not in ModelLibrary()


def test_a_library_model_is_a_base_for_new_classes(head_result: FitResult, tmp_path: Path):
    save_model(head_result, "three-colours")
    two = write_class_folders(tmp_path, 10, {"dark": (20, 20, 20), "light": (230, 230, 230)})
    split = split_dataset(load_scan(two), 0.3)
    result = run(load_model("three-colours"), split, HEAD)[-1]
    assert result.base_weights == "three-colours"
    assert result.state_dict["linear.weight"].shape == (2, 64)
    assert result.report.accuracy == 1.0


def test_cli_finetune_then_evaluate(colours: Path, capsys):
    argv = ["finetune", str(colours), "--model", "cifar_resnet20", "--weights", "random",
            "--strategy", "full", "--epochs", "6", "--batch-size", "16", "--lr", "0.05",
            "--name", "cli-colours"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "class  train  val" in out and "total     72   18" in out
    assert out.count("epoch ") >= 6 and "saved as 'cli-colours'" in out
    assert "precision  recall  support" in out
    entry = ModelLibrary().get("cli-colours")
    assert entry.base_weights == "random" and entry.training["epochs"] == 6
    assert main(["evaluate", str(colours), "--model", "cli-colours"]) == 0
    assert "accuracy: " in capsys.readouterr().out
    assert main(argv) == 1  # the name is taken
    assert "already exists" in capsys.readouterr().err


def test_cli_finetune_user_errors(tmp_path: Path, capsys):
    write_class_folders(tmp_path / "one", 5, {"only": (1, 2, 3)})
    argv = ["finetune", str(tmp_path / "one"), "--model", "cifar_resnet20", "--weights",
            "random", "--name", "x"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: ") and "at least 2 class" in err
    assert "Traceback" not in err
    write_class_folders(tmp_path / "ok", 5)
    assert main(["finetune", str(tmp_path / "ok"), "--model", "cifar_resnet20", "--name", "x"]) == 1
    assert "no built-in weights" in capsys.readouterr().err
    assert main(["finetune", str(tmp_path / "ok"), "--model", "cifar_resnet20", "--weights",
                 "random", "--name", "bad/name"]) == 1  # fmt: skip
    assert capsys.readouterr().err.splitlines()[-1].startswith("error: ")
    assert "x" not in ModelLibrary()


def test_cli_finetune_copies_are_reported(tmp_path: Path, capsys):
    write_class_folders(tmp_path, 6)
    shutil.copy(tmp_path / "red" / "000.png", tmp_path / "red" / "copy.png")
    (tmp_path / "blue" / "broken.png").write_bytes(b"junk")
    argv = ["finetune", str(tmp_path), "--model", "cifar_resnet20", "--weights", "random",
            "--strategy", "head", "--epochs", "2", "--name", "copies"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 group(s) of identical files" in out and "1 unreadable file(s)" in out
    assert "skipped " in out and "broken.png" in out
