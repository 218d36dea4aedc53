"""Which out-of-distribution score says "unknown" best: AUROC on held-out CIFAR-10 classes.

Fine-tunes a new head of ``cifar_resnet20`` with the shared weights on ``--per-class``
training images of each in-distribution class (20 % of them held out as validation, for
the threshold) exactly as ``resnet-desktop finetune`` does (``fit`` with the default
head recipe and runtime, then ``save_model`` into a library of its own), then scores the
CIFAR-10 test images of the in classes and of the other (out) classes. The first row is
the shipped path end to end: the model's stored setup and feature bank, scored by the
predictor as ``predict`` runs it, at the threshold fine-tuning suggested. The other rows
are the candidates, computed from the saved network's logits and features in PyTorch,
each at the threshold that accepts 95 % of the validation images. Prints, per row, the
AUROC and the share of in-class test images accepted and of out-class test images
called unknown.

Not a test (it takes a minute or two); run it by hand:

    python tests/benchmarks/ood_bench.py [--in-classes airplane,automobile,...]

The data come from $RESNET_DESKTOP_SHARED (else ../shared): the training images are
extracted from ``data/cifar10-train.tar.gz`` to a temporary folder, only those needed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from resnet_desktop.app.catalog_run import predictor_for
from resnet_desktop.app.model_identity import ModelArgs, identify_model
from resnet_desktop.core import ood
from resnet_desktop.core.catalog import STORED_TOP_K
from resnet_desktop.core.dataset import DatasetSplit, load_scan, split_dataset
from resnet_desktop.core.device import Normalizer
from resnet_desktop.core.imaging import load_input
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.model_loader import LoadedModel, load_model
from resnet_desktop.core.networks import head_of
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.trainer import FitResult, TrainConfig, fit, save_model
from resnet_desktop.core.zoo import CIFAR10_CLASSES

SHARED = Path(os.environ.get("RESNET_DESKTOP_SHARED", "../shared"))
WEIGHTS = "weights/cifar10-resnet/resnet20-12fca82f.th"
TRAIN_ARCHIVE = "data/cifar10-train.tar.gz"
TEST_FOLDER = "data/cifar10-test"
DEFAULT_IN = ("airplane", "automobile", "bird", "cat", "deer")
KS = (1, 5, 10, 20, 50)
BATCH = 256
MODEL_NAME = "ood-bench"
_MEMBER = re.compile(r"train/([a-z]+)/(\d+\.jpg)")


# ------------------------------------------------------------------------- data


def extract_training_images(archive: Path, classes: list[str], per_class: int, dest: Path) -> Path:
    """The first ``per_class`` images of each class in archive order, as ``dest/<class>/``.

    Files are written by name, never with ``tarfile.extract``, so no member can land
    outside ``dest``; reading stops once every class is full.
    """
    needed = dict.fromkeys(classes, per_class)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            match = _MEMBER.fullmatch(member.name)
            if not member.isfile() or match is None or needed.get(match[1], 0) == 0:
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            folder = dest / match[1]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / match[2]).write_bytes(handle.read())
            needed[match[1]] -= 1
            if not any(needed.values()):
                break
    if any(needed.values()):
        raise ValueError(f"{archive} lacks images: still missing {needed}")
    return dest


def cifar_test_images(root: Path, classes: list[str], per_class: int | None = None) -> list[Path]:
    """Each class's test images in name order, the first ``per_class`` of them if given."""
    return [path for name in classes for path in sorted((root / name).glob("*.jpg"))[:per_class]]


# ------------------------------------------------------------------------- model


def fine_tune(base: LoadedModel, split: DatasetSplit, seed: int) -> LoadedModel:
    """``resnet-desktop finetune``'s work: the default head recipe, saved in the library."""
    result = list(fit(base, split, TrainConfig(strategy="head", seed=seed)))[-1]
    assert isinstance(result, FitResult) and result.state_dict is not None, result
    assert result.ood is not None, "fine-tuning made no OOD setup"
    save_model(result, MODEL_NAME, overwrite=True)
    return load_model(MODEL_NAME)


def predicted_scores(paths: list[Path]) -> np.ndarray:
    """The OOD scores ``predict`` records for ``paths`` (its model, scorer and runtime)."""
    model = identify_model(ModelArgs(MODEL_NAME))
    predictor = predictor_for(model, RuntimeOptions(), STORED_TOP_K)
    assert predictor.ood is not None, "the saved model has no usable OOD setup"
    scores = [
        prediction.ood_score
        for batch in predictor.predict_iter(paths)
        for prediction in batch.predictions
    ]
    assert None not in scores, "an image was not scored"
    return np.array(scores, dtype=np.float64)


def shipped_row(inside: list[Path], outside: list[Path]) -> Row:
    """The shipped method end to end, at the threshold stored with the model."""
    setup = ood.OodSetup.from_dict(ModelLibrary().get(MODEL_NAME).metrics["ood"])
    in_scores, out_scores = predicted_scores(inside), predicted_scores(outside)
    return Row(
        f"shipped: {setup.method} k={setup.k} (predict)",
        ood.auroc(in_scores, out_scores),
        float((in_scores >= setup.threshold).mean()),
        float((out_scores < setup.threshold).mean()),
    )


@dataclass
class Outputs:
    """What the fine-tuned network says about a list of images."""

    logits: np.ndarray
    pooled: np.ndarray  # the head's input: globally pooled penultimate features
    spatial: np.ndarray  # the last stage's output before the pool, flattened


def run_network(model: LoadedModel, paths: list[Path], pool: ThreadPoolExecutor) -> Outputs:
    normalize = Normalizer(model.preprocess.mean, model.preprocess.std, torch.device("cpu"))
    head = head_of(model.network, model.spec)
    stage: list[torch.Tensor] = []
    hook = model.network.get_submodule("layer3").register_forward_hook(
        lambda _m, _a, out: stage.append(out.flatten(1))
    )
    parts = []
    try:
        for start in range(0, len(paths), BATCH):
            chunk = paths[start : start + BATCH]
            arrays = list(pool.map(lambda p: load_input(p, model.preprocess), chunk))
            with torch.inference_mode():
                inputs = normalize(torch.from_numpy(np.stack(arrays)))
                logits, pooled = ood.logits_and_features(model.network, head, inputs)
            parts.append((logits.numpy(), pooled.numpy(), stage.pop().numpy()))
    finally:
        hook.remove()
    return Outputs(*(np.concatenate(column) for column in zip(*parts, strict=True)))


# ------------------------------------------------------------------------- candidates


@dataclass
class Sets:
    train: Outputs
    train_labels: np.ndarray
    val: Outputs
    test_in: Outputs
    test_out: Outputs

    def each(self) -> tuple[Outputs, Outputs, Outputs]:
        return self.val, self.test_in, self.test_out


Scorer = Callable[[Outputs], np.ndarray]


def logit_scorers() -> dict[str, Scorer]:
    return {
        "msp": lambda o: ood.msp(o.logits),
        "max_logit": lambda o: ood.max_logit(o.logits),
        "energy": lambda o: ood.energy(o.logits),
    }


def knn_scorers(sets: Sets) -> dict[str, Scorer]:
    scorers: dict[str, Scorer] = {}
    for k in KS:
        scorers[f"knn k={k}"] = lambda o, k=k: ood.knn_score(o.pooled, sets.train.pooled, k)
        scorers[f"knn pre-pool k={k}"] = lambda o, k=k: ood.knn_score(
            o.spatial, sets.train.spatial, k
        )
    return scorers


def mahalanobis_scorer(sets: Sets, normalised: bool) -> Scorer:
    """Minus the smallest class-conditional Mahalanobis distance (Lee et al. 2018).

    Class means and one shared (pooled within-class) covariance from the training split,
    on the pooled features as they are or L2-normalised.
    """

    def prepared(outputs: Outputs) -> np.ndarray:
        pooled = ood.l2_normalise(outputs.pooled) if normalised else outputs.pooled
        return pooled.astype(np.float64)

    features, labels = prepared(sets.train), sets.train_labels
    classes = np.unique(labels)
    means = np.stack([features[labels == c].mean(0) for c in classes])
    centred = features - means[np.searchsorted(classes, labels)]
    precision = np.linalg.pinv(centred.T @ centred / len(features))

    def score(outputs: Outputs) -> np.ndarray:
        diff = prepared(outputs)[:, None, :] - means[None]
        distances = np.einsum("ncd,de,nce->nc", diff, precision, diff)
        return -distances.min(axis=1)

    return score


def standardised_sum(a: Scorer, b: Scorer, val: Outputs) -> Scorer:
    """Two scores each scaled by its validation mean and spread, then added."""
    stats = [(s(val).mean(), s(val).std() or 1.0) for s in (a, b)]
    return lambda o: sum((s(o) - m) / sd for s, (m, sd) in zip((a, b), stats, strict=True))


@dataclass(frozen=True)
class Row:
    method: str
    auroc: float
    accepted_in: float
    unknown_out: float


def evaluate(name: str, scorer: Scorer, sets: Sets) -> Row:
    val, inside, outside = (scorer(o) for o in sets.each())
    threshold = ood.suggest_threshold(val)
    return Row(
        name,
        ood.auroc(inside, outside),
        float((inside >= threshold).mean()),
        float((outside < threshold).mean()),
    )


# ------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-classes", default=",".join(DEFAULT_IN))
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="split and head initialisation")
    parser.add_argument("--threads", type=int, default=2)
    return parser


def measure(args: argparse.Namespace, work: Path) -> list[Row]:
    os.environ["RESNET_DESKTOP_DATA_DIR"] = str(work / "appdata")  # a library of its own
    inside = args.in_classes.split(",")
    outside = [name for name in CIFAR10_CLASSES if name not in inside]
    folder = extract_training_images(SHARED / TRAIN_ARCHIVE, inside, args.per_class, work)
    split = split_dataset(load_scan(folder), 0.2, seed=args.seed)
    model = fine_tune(load_model("cifar_resnet20", SHARED / WEIGHTS), split, args.seed)
    test_in = cifar_test_images(SHARED / TEST_FOLDER, inside)
    test_out = cifar_test_images(SHARED / TEST_FOLDER, outside)
    shipped = shipped_row(test_in, test_out)
    with ThreadPoolExecutor(args.threads) as pool:
        sets = Sets(
            train=run_network(model, [s.path for s in split.train], pool),
            train_labels=np.array([s.label for s in split.train]),
            val=run_network(model, [s.path for s in split.val], pool),
            test_in=run_network(model, test_in, pool),
            test_out=run_network(model, test_out, pool),
        )
    scorers = {
        **logit_scorers(),
        **knn_scorers(sets),
        "mahalanobis": mahalanobis_scorer(sets, normalised=False),
        "mahalanobis normalised": mahalanobis_scorer(sets, normalised=True),
    }
    for k in (5, 10, 20):
        scorers[f"knn k={k} + energy"] = standardised_sum(
            scorers[f"knn k={k}"], scorers["energy"], sets.val
        )
    return [shipped, *(evaluate(name, scorer, sets) for name, scorer in scorers.items())]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ood-bench-") as work:
        rows = measure(args, Path(work))
    baseline = next(row.auroc for row in rows if row.method == "msp")
    print(f"in: {args.in_classes}; {args.per_class} training images per class, seed {args.seed}")
    print(f"{'method':<24} {'AUROC':>6} {'vs MSP':>7} {'in accepted':>12} {'out unknown':>12}")
    for row in rows:
        print(
            f"{row.method:<24} {row.auroc:6.3f} {row.auroc - baseline:+7.3f} "
            f"{row.accepted_in:12.1%} {row.unknown_out:12.1%}"
        )
    print(f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
