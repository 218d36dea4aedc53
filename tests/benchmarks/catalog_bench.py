"""What the results catalog costs: scanning, recording, a no-change run, window queries, RSS.

Generates N small JPEG files (32x32 gradients with noise, each different), then measures:
- scan rate of ``scan_images`` (files/s);
- the model's own rate on a sample (``cifar_resnet20``, untrained: same compute) and the
  catalog's record rate on the N files (rows/s), i.e. the share of a run the catalog costs;
- ``pending()`` over the N unchanged files (what a second run does) and a streamed CSV
  export of their results;
- on a catalog of ``--rows`` synthetic results: listing them as the window would, sorting
  by confidence, by label, filtering by label text and confidence, reading a page;
- peak RSS. Not a test (timings on shared machines are noise); run it by hand:

    python tests/benchmarks/catalog_bench.py --images 20000 --rows 200000 [--model-images 0]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BATCH = 256  # the predictor's default CPU batch for 32x32 models
CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def rss_mib() -> float:
    """Resident memory now (Linux), in MiB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_images(folder: Path, count: int) -> None:
    """``count`` different 32x32 JPEGs, 1,000 per sub-folder."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, 32, dtype=np.float32)
    for number in range(count):
        sub = folder / f"{number // 1000:03d}"
        if number % 1000 == 0:
            sub.mkdir(parents=True)
        start, end = rng.uniform(0, 255, (2, 3)).astype(np.float32)
        direction = ramp[:, None] if number % 2 else ramp[None, :]
        image = start + (end - start) * direction[..., None] + rng.normal(0, 20, (32, 32, 3))
        pixels = np.clip(image, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(sub / f"img_{number:06d}.jpg", quality=90)


def fake_predictions(paths: list[Path], rng: random.Random) -> list[Any]:
    from resnet_desktop.core.predictor import Prediction

    result = []
    for path in paths:
        indices = tuple(rng.sample(range(len(CIFAR)), 5))
        raw = sorted((rng.random() for _ in range(5)), reverse=True)
        probs = tuple(p / (sum(raw) + rng.random()) for p in raw)
        result.append(Prediction(path, tuple(CIFAR[i] for i in indices), probs, indices))
    return result


def model_rate(paths: list[Path]) -> float:
    """Images/s of cifar_resnet20 (untrained weights: the same compute) on ``paths``."""
    from resnet_desktop.core.model_loader import load_model
    from resnet_desktop.core.predictor import Predictor

    predictor = Predictor(load_model("cifar_resnet20", "random"), device="cpu", top_k=5)
    next(iter(predictor.predict_iter(paths[:BATCH])))  # warm-up
    *_, last = predictor.predict_iter(paths)
    return last.images_per_second


def identity() -> Any:
    from resnet_desktop.core.catalog import ModelIdentity
    from resnet_desktop.core.zoo import get_spec

    return ModelIdentity("cifar_resnet20", "0" * 64, CIFAR, get_spec("cifar_resnet20").preprocess)


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def bench_files(folder: Path, catalog_file: Path, model_images: int) -> dict[str, float]:
    from resnet_desktop.core.catalog import Catalog, RunInfo
    from resnet_desktop.core.export import write_csv
    from resnet_desktop.core.imaging import scan_images

    paths, scan_s = timed(lambda: list(scan_images([folder])))
    figures = {"files": len(paths), "scan_files_per_s": len(paths) / scan_s}
    if model_images:
        figures["model_images_per_s"] = model_rate(paths[:model_images])
    rng = random.Random(0)
    run = RunInfo("cpu", "fp32", "torch")
    with Catalog.open(catalog_file) as catalog:
        model = catalog.model_id(identity())
        todo, first_pending_s = timed(lambda: list(catalog.pending(paths, model)))
        signatures = dict(todo)
        record_s = 0.0
        for chunk in batches([item.path for item in todo], BATCH):
            predictions = fake_predictions(chunk, rng)
            record_s += timed(catalog.record_batch, model, predictions, run, signatures)[1]
        again, pending_s = timed(lambda: list(catalog.pending(paths, model)))
        csv_file = catalog_file.with_suffix(".csv")
        rows = (result for _, result in catalog.results_for(paths, model, 5) if result)
        written, csv_s = timed(lambda: write_csv(csv_file, rows, 5))
    figures.update(
        first_pending_s=first_pending_s,
        record_rows_per_s=len(paths) / record_s,
        no_change_pending_s=pending_s,
        no_change_left=len(again),
        csv_rows=written,
        csv_rows_per_s=written / csv_s,
    )
    if model_images:
        model_s = len(paths) / figures["model_images_per_s"]
        figures["catalog_share_of_run_pct"] = 100 * (first_pending_s + record_s) / model_s
        figures["no_change_vs_first_run_pct"] = 100 * pending_s / (model_s + record_s)
    return figures


def bench_queries(catalog_file: Path, count: int) -> dict[str, float]:
    """A catalog of ``count`` results on paths that need not exist: the window's queries."""
    from resnet_desktop.core.catalog import Catalog, FileSignature, RunInfo
    from resnet_desktop.core.catalog_view import SortKey, ViewQuery

    rng = random.Random(1)
    run = RunInfo("cpu", "fp32", "torch")
    paths = [Path(f"/photos/{n // 1000:04d}/IMG_{n:07d}.JPG") for n in range(count)]
    figures: dict[str, float] = {"rows": count}
    with Catalog.open(catalog_file) as catalog:
        model = catalog.model_id(identity())
        record_s = 0.0
        for chunk in batches(paths, 512):
            predictions = fake_predictions(chunk, rng)
            signatures = {path: FileSignature(1000, 1, 1) for path in chunk}
            record_s += timed(catalog.record_batch, model, predictions, run, signatures)[1]
        figures["record_rows_per_s"] = count / record_s
        listing = catalog.listing()
        figures["list_s"] = timed(listing.add, paths)[1]
        paths.clear()  # the window keeps no list of its own
        queries = {
            "sort_confidence_s": ViewQuery(model, SortKey.CONFIDENCE, descending=True),
            "sort_label_s": ViewQuery(model, SortKey.LABEL),
            "filter_label_s": ViewQuery(model, SortKey.CONFIDENCE, label_text="ca"),
            "filter_label_confidence_s": ViewQuery(model, label_text="o", min_confidence=0.4),
            "unsorted_s": ViewQuery(model),
        }
        for name, query in queries.items():
            view, figures[name] = timed(listing.view, query)
            figures[name.replace("_s", "_rows")] = len(view)
            page_s = timed(view.rows, len(view) // 2, 100)[1]
            figures[name.replace("_s", "_page_ms")] = 1000 * page_s
        figures["integrity_check_s"] = timed(catalog.check)[1]
        figures["file_mib"] = catalog.info().size_bytes / 2**20
    return figures


def report(title: str, figures: dict[str, float]) -> None:
    print(title)
    for name, value in figures.items():
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
        print(f"  {name:32s} {text}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20_000, help="JPEG files to generate")
    parser.add_argument("--rows", type=int, default=200_000, help="results for the query part")
    parser.add_argument("--model-images", type=int, default=2048, help="0: skip the model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as temp:
        root = Path(temp)
        os.environ["RESNET_DESKTOP_DATA_DIR"] = str(root / "data")  # nothing of the user's
        generate_s = timed(lambda: write_images(root / "images", args.images))[1]
        report("generated", {"images": args.images, "seconds": generate_s, "rss_mib": rss_mib()})
        report("files", bench_files(root / "images", root / "files.sqlite3", args.model_images))
        report("rss after files", {"rss_mib": rss_mib(), "peak_rss_mib": peak_rss_mib()})
        report("window queries", bench_queries(root / "rows.sqlite3", args.rows))
        report("rss at the end", {"rss_mib": rss_mib(), "peak_rss_mib": peak_rss_mib()})


if __name__ == "__main__":
    main()
