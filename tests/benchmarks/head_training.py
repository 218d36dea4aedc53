"""Wall time of head-only training on cached features, in several settings side by side.

The head strategy trains one linear layer on features computed once, so each step is a
handful of tiny tensor operations. With torch's default thread pool, each of them can
open a parallel region whose threads must all be scheduled; on a busy CPU that waiting,
not the arithmetic, decides the time. Variants, run interleaved in this one process:

* ``1 thread, batch 64``: the old way, ``torch.set_num_threads(1)`` around the loop
  (process-wide, so a classification started meanwhile also ran on one thread);
* ``all threads, batch 64``: the old batch size without touching the thread count;
* ``all threads, batch B``: the head's defaults now (see ``train_config._DEFAULTS``).

Not a test (timings on shared machines are noise); run it by hand:

    python tests/benchmarks/head_training.py [--synthetic] [--epochs 30] [--repeats 3]

Features are cifar_resnet20's for 2,000 CIFAR-10 test images (200 per class, the shared
data in $RESNET_DESKTOP_SHARED, else ../shared), or with ``--synthetic`` random ones of
the same shape (64 wide); ``--width 2048`` gives a ResNet-50-sized head.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from resnet_desktop.core.epoch_loop import EpochLoop
from resnet_desktop.core.feature_cache import VALIDATION_BATCH
from resnet_desktop.core.optimisation import Optimisation
from resnet_desktop.core.train_config import TrainConfig, resolve_config
from resnet_desktop.core.training_data import BatchSize, BatchSizes, FeatureFeeder, Feeders
from resnet_desktop.core.zoo import get_spec

SHARED = Path(os.environ.get("RESNET_DESKTOP_SHARED", "../shared"))
PER_CLASS = 200
CLASSES = 10


def cifar_features() -> tuple[torch.Tensor, torch.Tensor]:
    """cifar_resnet20's pooled features and the labels of 200 test images per class."""
    from resnet_desktop.core.device import Normalizer
    from resnet_desktop.core.imaging import load_input
    from resnet_desktop.core.model_loader import load_model

    weights = SHARED / "weights/cifar10-resnet/resnet20-12fca82f.th"
    model = load_model("cifar_resnet20", weights)
    folders = sorted(path for path in (SHARED / "data/cifar10-test").iterdir() if path.is_dir())
    paths = [path for folder in folders for path in sorted(folder.iterdir())[:PER_CLASS]]
    labels = torch.arange(len(folders)).repeat_interleave(PER_CLASS)
    images = torch.stack([torch.from_numpy(load_input(p, model.preprocess)) for p in paths])
    network = model.network.eval()
    network.linear = nn.Identity()
    normalize = Normalizer(model.preprocess.mean, model.preprocess.std, torch.device("cpu"))
    with torch.no_grad():
        features = torch.cat([network(normalize(batch)) for batch in images.split(250)])
    return features.flatten(1), labels


def synthetic_features(width: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(CLASSES).repeat_interleave(PER_CLASS)
    centres = torch.randn(CLASSES, width, generator=generator)
    noise = torch.randn(len(labels), width, generator=generator) * 2
    return torch.relu(centres[labels] + noise), labels


def feeders(features: torch.Tensor, labels: torch.Tensor) -> Feeders:
    """Every fifth image validates, as a 20% split would."""
    val = torch.arange(len(labels)) % 5 == 0
    train_rows, val_rows = torch.nonzero(~val).flatten(), torch.nonzero(val).flatten()
    return Feeders(
        FeatureFeeder(features[train_rows], labels[train_rows], train_rows, 0),
        FeatureFeeder(features[val_rows], labels[val_rows], val_rows, 1),
    )


@contextmanager
def threads(count: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_head(data: Feeders, config: TrainConfig) -> tuple[float, float, float]:
    """(seconds, best validation loss, its accuracy) of one head training."""
    torch.manual_seed(0)
    head = nn.Linear(data.train.features.shape[1], CLASSES)
    counts = [PER_CLASS * 4 // 5] * CLASSES
    optimisation = Optimisation(head, config, counts, torch.device("cpu"), "fp32")
    sizes = BatchSizes(
        BatchSize(int(config.batch_size or 1)), BatchSize(256), BatchSize(VALIDATION_BATCH)
    )
    loop = EpochLoop(head, optimisation, data, config, sizes, lambda: False, time.monotonic())
    started = time.perf_counter()
    for _ in loop.run():
        pass
    seconds = time.perf_counter() - started
    assert loop.best is not None
    return seconds, loop.best.val.loss, loop.best.val.accuracy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="random features, no data")
    parser.add_argument("--width", type=int, default=64, help="synthetic feature width")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    features, labels = synthetic_features(args.width) if args.synthetic else cifar_features()
    data = feeders(features, labels)
    head = resolve_config(
        TrainConfig(strategy="head", epochs=args.epochs), get_spec("cifar_resnet20").preprocess
    )
    old = replace(head, batch_size=64, lr=3e-3)
    variants = {
        "1 thread, batch 64 (before)": (1, old),
        "all threads, batch 64": (None, old),
        f"all threads, batch {head.batch_size} (after)": (None, head),
    }
    print(
        f"{len(labels)} images, features {features.shape[1]} wide, {args.epochs} epochs, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (count, config) in variants.items():
            with threads(count):
                runs[name].append(train_head(data, config))
    for name, results in runs.items():
        seconds = [result[0] for result in results]
        _, loss, accuracy = results[0]
        print(
            f"{name:34s} median {statistics.median(seconds):6.2f} s  min {min(seconds):6.2f} s"
            f"  best val loss {loss:.4f}  accuracy {accuracy:.1%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
