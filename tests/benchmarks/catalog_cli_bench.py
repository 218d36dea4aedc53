"""What the results catalog costs ``predict``, and whether killed runs resume exactly.

For each N (generated 32x32 JPEGs, each different; see catalog_bench.py), with
``cifar_resnet20`` and the weights and class names given:
- scan rate (files/s) of the listing ``predict`` makes;
- ``predict --csv`` end to end with the catalog and with ``--no-catalog`` (wall time,
  images/s, peak RSS), and the share of the run spent in catalog calls (pending,
  record, rows), measured inside the run: steadier than two timings on a busy machine;
- the same command again on the unchanged folder (time, as a share of the first run);
- a run killed with SIGKILL at ``--kills`` random moments (a random batch, a random
  delay into it) and resumed each time: every image must end with exactly one result,
  the CSV must equal the uninterrupted run's byte for byte, and the images classified
  twice must be at most one batch per kill;
- peak RSS of ``predict --csv`` with a catalog holding all but ``--classify`` of the
  images (the network runs, every row streams): compare across N for flatness.
``--full-runs-up-to`` limits the full runs (the model at ~400 images/s on 2 cores makes
200,000 images a 10-minute run each). Not a test; run it by hand:

    python tests/benchmarks/catalog_cli_bench.py --images 20000 200000 \\
        --weights resnet20-12fca82f.th --classes cifar10.txt
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.catalog_bench import report, timed, write_images

BATCH = 256  # the predictor's CPU batch for 32x32 inputs

# Runs ``resnet-desktop ARGS``, logging each predicted batch's size to $BENCH_LOG (flushed:
# a SIGKILL loses nothing) and the seconds spent in catalog calls to $BENCH_TIMES.
RUN = """
import atexit, json, os, sys, time
from resnet_desktop.app import catalog_run
from resnet_desktop.core.predictor import Predictor
from resnet_desktop.cli import main

log = open(os.environ["BENCH_LOG"], "a")
spent = {"pending": 0.0, "record": 0.0, "rows": 0.0}

def timing(name, real):
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - start
    return timed

for name in spent:
    setattr(catalog_run.CatalogStore, name, timing(name, getattr(catalog_run.CatalogStore, name)))
chunk = Predictor.predict_decoded

def logged(self, paths, decoded):
    predictions = chunk(self, paths, decoded)
    log.write(f"{len(predictions)}\\n")
    log.flush()
    return predictions

Predictor.predict_decoded = logged
atexit.register(lambda: open(os.environ["BENCH_TIMES"], "w").write(json.dumps(spent)))
sys.exit(main(sys.argv[1:]))
"""


class Bench:
    def __init__(self, root: Path, model_args: list[str]) -> None:
        self.root = root
        self.model_args = model_args
        self.env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def command(self, folder: Path, *extra: str) -> list[str]:
        return [sys.executable, "-c", RUN, "predict", str(folder), *self.model_args, *extra]

    def start(self, folder: Path, log: Path, *extra: str) -> subprocess.Popen:
        env = {**self.env, "BENCH_LOG": str(log), "BENCH_TIMES": str(log) + ".times"}
        return subprocess.Popen(
            self.command(folder, *extra),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, folder: Path, name: str, *extra: str) -> dict[str, Any]:
        """One run to its end: wall seconds, peak RSS, its summary line and catalog time."""
        log = self.root / f"{name}.log"
        start = time.perf_counter()
        process = self.start(folder, log, *extra)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        err = process.stderr.read() if process.stderr else ""
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise RuntimeError(f"{name} exited {process.returncode}: {err}")
        times = json.loads(Path(str(log) + ".times").read_text())
        return {
            "wall_s": wall,
            "peak_rss_mib": usage.ru_maxrss / 1024,
            "summary": err.strip().splitlines()[-1],
            "catalog_s": sum(times.values()),
            "classified": predicted(log),
        }


def predicted(log: Path) -> int:
    try:
        return sum(int(line) for line in log.read_text().split())
    except FileNotFoundError:
        return 0


def stored_results(catalog: Path) -> int:
    from resnet_desktop.core.catalog import Catalog

    with Catalog.open(catalog, read_only=True) as opened:
        return opened.stats().results


def scan_rate(folder: Path) -> dict[str, float]:
    from resnet_desktop.app.catalog_run import scan_listing

    spool, seconds = timed(scan_listing, [folder])
    with spool:
        return {"files": len(spool), "scan_s": seconds, "scan_files_per_s": len(spool) / seconds}


def full_runs(bench: Bench, folder: Path, count: int) -> dict[str, Any]:
    """With and without the catalog (in the order with, without, without, with: the load
    of a shared machine drifts), then the same command again; CSVs compared."""
    root = bench.root
    catalog = root / f"full-{count}.sqlite3"
    second = root / f"full-{count}-2.sqlite3"
    csv = [f"{root}/{name}.csv" for name in "abcd"]
    first = bench.run(folder, f"with-{count}", "--catalog", str(catalog), "--csv", csv[0])
    plain = [
        bench.run(folder, f"without-{count}-{n}", "--no-catalog", "--csv", csv[1]) for n in (1, 2)
    ]
    last = bench.run(folder, f"with-{count}-2", "--catalog", str(second), "--csv", csv[3])
    again = bench.run(folder, f"again-{count}", "--catalog", str(catalog), "--csv", csv[2])
    with_s = first["wall_s"] + last["wall_s"]
    without_s = sum(run["wall_s"] for run in plain)
    same = {Path(name).read_bytes() for name in csv}
    return {
        "runs": {"with": [first, last], "without": plain, "again": again},
        "with_images_per_s": 2 * count / with_s,
        "without_images_per_s": 2 * count / without_s,
        "with_vs_without_time_pct": 100 * (with_s / without_s - 1),
        "catalog_share_of_run_pct": 100 * (first["catalog_s"] + last["catalog_s"]) / with_s,
        "no_change_vs_first_pct": 100 * again["wall_s"] / first["wall_s"],
        "all_csvs_equal": len(same) == 1,
    }


def killed_runs(bench: Bench, folder: Path, count: int, kills: int, seed: int) -> dict[str, Any]:
    """Kill at random moments, resume each time; compare with the uninterrupted CSV."""
    rng = random.Random(seed)
    catalog = bench.root / f"killed-{count}.sqlite3"
    attempts = []
    for attempt in range(kills):
        before = stored_results(catalog) if catalog.exists() else 0
        batches = max(1, (count - before) // BATCH - 1)
        target = rng.randint(1, batches)  # kill during the batch after this many
        log = bench.root / f"kill-{count}-{attempt}.log"
        process = bench.start(folder, log, "--catalog", str(catalog))
        while predicted(log) < target * BATCH and process.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.6))  # about one batch's time on this machine
        killed = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait()
        after = stored_results(catalog)
        attempts.append(
            {
                "killed_mid_run": killed,
                "classified": predicted(log),
                "committed": after - before,
                "redone_next_time": predicted(log) - (after - before),
            }
        )
    final = bench.run(folder, f"resumed-{count}", "--catalog", str(catalog), "--csv",
                      f"{bench.root}/k.csv")  # fmt: skip
    from resnet_desktop.core.catalog import Catalog

    with Catalog.open(catalog, read_only=True) as opened:
        integrity = opened.check() or ["ok"]
        results = opened.stats().results
    reference = bench.root / "a.csv"
    return {
        "attempts": attempts,
        "final_classified": final["classified"],
        "results": results,
        "integrity": integrity,
        "max_redone": max(a["redone_next_time"] for a in attempts),
        "csv_equals_uninterrupted": reference.exists()
        and (bench.root / "k.csv").read_bytes() == reference.read_bytes(),
    }


def prefilled_run(bench: Bench, folder: Path, count: int, classify: int) -> dict[str, Any]:
    """Peak RSS of predict --csv when the catalog holds all but ``classify`` images."""
    from resnet_desktop.app.catalog_run import scan_listing
    from resnet_desktop.app.model_identity import ModelArgs, identify_model
    from resnet_desktop.core.catalog import Catalog, RunInfo, chunks, file_signature
    from tests.benchmarks.catalog_bench import fake_predictions

    args = dict(zip(bench.model_args[::2], bench.model_args[1::2], strict=True))
    model = identify_model(ModelArgs(args["--model"], args["--weights"], args["--classes"]))
    catalog_file = bench.root / f"prefilled-{count}.sqlite3"
    rng = random.Random(0)
    run = RunInfo("cpu", "fp32", "torch")
    with scan_listing([folder]) as listing, Catalog.open(catalog_file) as catalog:
        number = catalog.model_id(model.identity)
        kept = (path for index, path in enumerate(listing) if index >= classify)
        for chunk in chunks(kept, 2048):
            signatures = {path: file_signature(path) for path in chunk}
            catalog.record_batch(number, fake_predictions(chunk, rng), run, signatures)
    figures = bench.run(folder, f"prefilled-{count}", "--catalog", str(catalog_file), "--csv",
                        f"{bench.root}/p.csv")  # fmt: skip
    again = bench.run(folder, f"prefilled-again-{count}", "--catalog", str(catalog_file),
                      "--csv", f"{bench.root}/p2.csv")  # fmt: skip
    return {"classify_run": figures, "no_change_run": again}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--classes", required=True)
    parser.add_argument("--full-runs-up-to", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--classify", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model_args = ["--model", "cifar_resnet20", "--weights", args.weights, "--classes", args.classes]
    with tempfile.TemporaryDirectory(prefix="catalog-cli-bench-") as temp:
        root = Path(temp)
        os.environ["RESNET_DESKTOP_DATA_DIR"] = str(root / "data")  # nothing of the user's
        report("machine", {"cpus": os.cpu_count() or 0, "load_1min": os.getloadavg()[0]})
        for count in args.images:
            folder = root / f"images-{count}"
            generate_s = timed(write_images, folder, count)[1]
            report(f"N = {count}", {"generate_s": generate_s, **scan_rate(folder)})
            bench = Bench(root, model_args)
            if count <= args.full_runs_up_to:
                print(json.dumps(full_runs(bench, folder, count), indent=1))
                kills = killed_runs(bench, folder, count, args.kills, args.seed)
                print(json.dumps(kills, indent=1))
            print(json.dumps(prefilled_run(bench, folder, count, args.classify), indent=1))
            report("load after", {"load_1min": os.getloadavg()[0]})
            sys.stdout.flush()


if __name__ == "__main__":
    main()
