"""Images/s of ``predict`` locally and with ``--cluster`` on a local Ray, side by side.

Run: RESNET_DESKTOP_SHARED=../shared python tests/benchmarks/cluster_bench.py [ROUNDS]
Both paths run in this process on the same files, alternating, each round once; Ray
starts once (its start-up is timed apart), as on a cluster that is already up. Files:
2,000 CIFAR-10 test images through cifar_resnet20 (shared weights), and the 1,000
ImageNet sample photos through resnet50 (random weights: same compute as trained ones).
Plus decoding alone (read + decode + resize, one core), which sizes the decoding CPUs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from resnet_desktop.app.cluster_workers import decode_or_reason
from resnet_desktop.cli import main
from resnet_desktop.core.imaging import scan_images
from resnet_desktop.core.zoo import get_spec

SHARED = Path(os.environ.get("RESNET_DESKTOP_SHARED", "../shared"))


def cifar_sample(folder: Path, per_class: int) -> Path:
    for class_folder in sorted((SHARED / "data/cifar10-test").iterdir()):
        (folder / class_folder.name).mkdir(parents=True)
        for image in sorted(class_folder.iterdir())[:per_class]:
            (folder / class_folder.name / image.name).symlink_to(image.resolve())
    return folder


def timed_run(folder: Path, model: list[str], out: Path, *extra: str) -> float:
    """Seconds of one ``predict --no-catalog`` run (all images classified)."""
    args = ["predict", str(folder), *model, "--no-catalog", "--csv", str(out), *extra]
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        code = main(args)
    assert code in (0, 3), code
    return time.perf_counter() - start


def decode_rate(folder: Path, architecture: str) -> float:
    """Images/s of reading + decoding + resizing on one core, as the cluster's tasks do."""
    paths = [str(path) for path in scan_images([folder])]
    preprocess = get_spec(architecture).preprocess
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    for path in paths:
        decode_or_reason(path, preprocess)
    return len(paths) / (time.perf_counter() - start)


def main_bench(rounds: int) -> None:
    import ray

    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    os.environ["RESNET_DESKTOP_DATA_DIR"] = str(work / "data")
    start = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.ERROR,
             log_to_driver=False)  # fmt: skip
    print(f"Ray start-up: {time.perf_counter() - start:.1f} s on {os.cpu_count()} CPUs")
    cifar = cifar_sample(work / "cifar", 200)
    weights = str(SHARED / "weights/cifar10-resnet/resnet20-12fca82f.th")
    cases = [
        ("cifar_resnet20, 2000 CIFAR", cifar, 2000, "cifar_resnet20",
         ["--model", "cifar_resnet20", "--weights", weights]),
        ("resnet50, 1000 ImageNet photos", SHARED / "data/imagenet-samples", 1000, "resnet50",
         ["--model", "resnet50", "--weights", "random"]),
    ]  # fmt: skip
    for engine in (["--engine", "torch", "--precision", "fp32"], []):
        for title, folder, count, _, model in cases:
            label = " ".join(engine) or "auto (as the user gets)"
            for _ in range(rounds):
                local = timed_run(folder, model, work / "local.csv", *engine)
                cluster = timed_run(folder, model, work / "cluster.csv", *engine, "--cluster")
                print(f"{title} [{label}]: local {count / local:.1f} images/s, cluster "
                      f"{count / cluster:.1f} images/s ({cluster / local:.2f}x the time)",
                      flush=True)  # fmt: skip
    ray.shutdown()
    for title, folder, _, architecture, _ in cases:
        print(f"decoding alone, {title}: {decode_rate(folder, architecture):.0f} images/s per core")


if __name__ == "__main__":
    main_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
