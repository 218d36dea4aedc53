"""The review loop measured: does retraining on a person's corrections help, and which ones?

For each seed, through the command line's own code (``main([...])`` in this process):

1. ``finetune`` a 5-class head on ``cifar_resnet20`` with the shared weights, on
   ``--per-class`` CIFAR-10 training images of each class (the "before" model);
2. ``predict`` ``--pool`` other training images of those classes into a fresh catalog;
3. correct ``--corrections`` of them, the true labels standing in for a person, stored as
   person labels for that model: once the least confident, once a random draw, and, as
   an upper bound, every one of them (in a copy of the catalog each);
4. ``finetune --from-corrections`` (the labelled images plus the model's own training
   folder, which its metadata names), one model per choice;
5. accuracy of the three models on the 1,000 test images of each class.

Not a test (a few minutes on a CPU); run it by hand:

    python tests/benchmarks/correction_loop.py [--seeds 0 1 2]

The data come from $RESNET_DESKTOP_SHARED (else ../shared); the training images are
extracted to a temporary folder, only those needed. The app's data folder (library,
catalog) is a temporary one too.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tarfile
import tempfile
from pathlib import Path

SHARED = Path(os.environ.get("RESNET_DESKTOP_SHARED", "../shared"))
WEIGHTS = "weights/cifar10-resnet/resnet20-12fca82f.th"
TRAIN_ARCHIVE = "data/cifar10-train.tar.gz"
TEST_FOLDER = "data/cifar10-test"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer")
RUNTIME = ["--device", "cpu"]


def extract(archive: Path, per_class: int, pool: int, dest: Path) -> tuple[Path, Path]:
    """``dest/train/<class>/`` (the first ``per_class`` of each class in archive order) and
    ``dest/pool/<class>/`` (the next ``pool / len(CLASSES)``), written by name."""
    wanted = per_class + pool // len(CLASSES)
    seen = dict.fromkeys(CLASSES, 0)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or seen.get(parts[1], wanted) >= wanted:
                continue
            part = "train" if seen[parts[1]] < per_class else "pool"
            folder = dest / part / parts[1]
            folder.mkdir(parents=True, exist_ok=True)
            handle = tar.extractfile(member)
            assert handle is not None
            (folder / parts[2]).write_bytes(handle.read())
            seen[parts[1]] += 1
            if all(count >= wanted for count in seen.values()):
                break
    return dest / "train", dest / "pool"


def run(argv: list[str]) -> None:
    from resnet_desktop.cli import main

    code = main(argv)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {code}")


def confidences(catalog: Path, model: str) -> list[tuple[Path, float, str]]:
    """Each classified image with the model's top-1 probability and label, from the catalog."""
    from resnet_desktop.app.sorting import load_identity
    from resnet_desktop.core.catalog import Catalog

    identity = load_identity(model)
    with Catalog.open(catalog, read_only=True) as store:
        paths = store.classified_by(identity)
        number = store.find_model(identity)
        assert number is not None
        results = store.results_for(paths, number, top_k=1)
        return [
            (path, result.probs[0], result.labels[0])
            for path, result in results
            if result and result.ok
        ]


def give_labels(catalog: Path, model: str, paths: list[Path]) -> None:
    """The true labels (the class folder's name), stored as a reviewing person would."""
    from resnet_desktop.app.sorting import load_identity
    from resnet_desktop.core.catalog import Catalog

    identity = load_identity(model)
    with Catalog.open(catalog) as store:
        number = store.model_id(identity)
        for path in paths:
            store.set_person_label(path, path.parent.name, number)


def accuracy(model: str, folder: Path) -> float:
    from resnet_desktop.core.evaluate import EvalReport, evaluate
    from resnet_desktop.core.model_loader import load_model
    from resnet_desktop.core.runtime import RuntimeOptions

    report = list(evaluate(load_model(model), folder, RuntimeOptions(device="cpu")))[-1]
    assert isinstance(report, EvalReport) and not report.cancelled
    return report.accuracy


def one_seed(
    seed: int, train: Path, pool: Path, test: Path, work: Path, count: int, strategy: str
) -> dict:
    base = f"five-{seed}"
    common = ["--seed", str(seed), "--strategy", strategy, *RUNTIME]
    weights = str(SHARED / WEIGHTS)
    run(["finetune", str(train), "--model", "cifar_resnet20", "--weights", weights,
         "--name", base, *common])  # fmt: skip
    catalog = work / f"catalog-{seed}.sqlite3"
    run(["predict", str(pool), "--model", base, "--catalog", str(catalog), "--csv",
         str(work / f"pool-{seed}.csv"), *RUNTIME])  # fmt: skip
    scored = confidences(catalog, base)
    said = {path: label for path, _, label in scored}
    pool_accuracy = statistics.fmean(said[path] == path.parent.name for path in said)
    choices = {
        "lowest": [path for path, *_ in sorted(scored, key=lambda item: item[1])[:count]],
        "random": random.Random(seed).sample(sorted(said), count),
        "all": sorted(said),  # the upper bound: every pool image labelled
    }
    figures = {"before": accuracy(base, test), "pool_before": pool_accuracy}
    for how, chosen in choices.items():
        copy = work / f"catalog-{seed}-{how}.sqlite3"
        shutil.copyfile(catalog, copy)
        give_labels(copy, base, chosen)
        wrong = sum(said[path] != path.parent.name for path in chosen)
        retrained = f"{base}-{how}"
        run(["finetune", "--from-corrections", "--model", base, "--catalog", str(copy),
             "--name", retrained, *common])  # fmt: skip
        figures[how] = accuracy(retrained, test)
        figures[f"{how}_wrong"] = wrong
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--corrections", type=int, default=100)
    parser.add_argument("--strategy", default="head", help="of both fine-tunings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="correction-loop-") as temp:
        work = Path(temp)
        os.environ["RESNET_DESKTOP_DATA_DIR"] = str(work / "appdata")
        train, pool = extract(SHARED / TRAIN_ARCHIVE, args.per_class, args.pool, work / "data")
        test = work / "test"
        test.mkdir()
        for name in CLASSES:
            (test / name).symlink_to((SHARED / TEST_FOLDER / name).resolve())
        rows = {}
        for seed in args.seeds:
            rows[seed] = one_seed(seed, train, pool, test, work, args.corrections, args.strategy)
            print(f"seed {seed}: {rows[seed]}", file=sys.stderr, flush=True)
    _print_table(rows, args)


def _print_table(rows: dict[int, dict], args: argparse.Namespace) -> None:
    print(
        f"\n{len(CLASSES)} classes, {args.per_class} training images each; {args.pool} pool "
        f"images; {args.corrections} corrected; strategy {args.strategy}; accuracy on "
        f"{1000 * len(CLASSES)} test images"
    )
    print(
        f"{'seed':>6}  {'before':>7}  {'lowest':>7}  {'random':>7}  {'all':>7}  "
        "wrong among lowest/random"
    )
    for seed, row in rows.items():
        print(
            f"{seed:>6}  {row['before']:7.2%}  {row['lowest']:7.2%}  {row['random']:7.2%}  "
            f"{row['all']:7.2%}  {row['lowest_wrong']}/{row['random_wrong']}"
        )
    for key in ("before", "lowest", "random", "all"):
        values = [row[key] for row in rows.values()]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{key:>7}: mean {statistics.fmean(values):.2%}  sd {spread:.2%}")


if __name__ == "__main__":
    main()
