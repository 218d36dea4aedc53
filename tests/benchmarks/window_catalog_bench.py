"""The main window on a catalog of N results: opening, sorting, filtering, scrolling, RSS.

Builds a catalog with N synthetic results of a library model (``cifar_resnet20`` with
untrained weights; the results are fake top-5s over the CIFAR classes, recorded with
``record_batch``), writes N empty ``.jpg`` files for the window's scan to find (no image
is decoded: only thumbnails would, and they fail fast), then opens the window offscreen
on them and reports:

- open: from Open Folder to every row listed with its stored result (the scan included),
  and to the first rows on screen;
- sort by confidence, filter by label text: from the request to the new view shown;
- scrolling: jumps to the middle and the end, time until the rows on screen are loaded;
- the longest stall of the event loop in each phase (a 10 ms QTimer's lateness): what
  a user would feel as a frozen window;
- RSS of the window's process before opening and at the end, and its peak (torch is
  loaded before opening, as the window does in the background anyway).

Not a test (timings on shared machines are noise); run it by hand:

    QT_QPA_PLATFORM=offscreen python tests/benchmarks/window_catalog_bench.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Qt and the window are imported once the environment is set up
    from PySide6.QtCore import QEventLoop

    from resnet_desktop.gui.main_window import MainWindow

PERIOD_MS = 10
MODEL = "bench"
CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FOLDER_SIZE = 1000  # files per sub-folder
SCREENS = 50


def rss_mib() -> float:
    """Resident memory now (Linux), in MiB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------ set-up


def import_model() -> None:
    """A library model to own the results (untrained: only its identity matters)."""
    import torch

    from resnet_desktop.core.library import ModelLibrary
    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.zoo import get_spec

    with tempfile.TemporaryDirectory() as scratch:
        weights = Path(scratch, "bench.pth")
        torch.save(build_network(get_spec("cifar_resnet20")).state_dict(), weights)
        ModelLibrary().import_file(weights, "cifar_resnet20", list(CIFAR), MODEL)


def write_files(folder: Path, count: int) -> list[Path]:
    """``count`` empty .jpg files, in sub-folders, in the order the scan finds them."""
    paths = []
    for number in range(count):
        sub = folder / f"{number // FOLDER_SIZE:03d}"
        if number % FOLDER_SIZE == 0:
            sub.mkdir(parents=True)
        path = sub / f"img_{number:06d}.jpg"
        path.touch()
        paths.append(path)
    return paths


def record_results(paths: list[Path]) -> None:
    """Fake top-5 results of MODEL for every path, in batches as a run records them."""
    from resnet_desktop.app.identity import identity_for
    from resnet_desktop.core.catalog import Catalog, RunInfo, file_signature
    from resnet_desktop.core.predictor import Prediction

    rng = random.Random(0)
    run = RunInfo("cpu", "fp32", "torch")
    with Catalog.open() as catalog:
        model = catalog.model_id(identity_for(MODEL))
        for start in range(0, len(paths), 256):
            batch = paths[start : start + 256]
            predictions = []
            for path in batch:
                indices = tuple(rng.sample(range(len(CIFAR)), 5))
                raw = sorted((rng.random() for _ in range(5)), reverse=True)
                probs = tuple(p / (sum(raw) + rng.random()) for p in raw)
                labels = tuple(CIFAR[i] for i in indices)
                predictions.append(Prediction(path, labels, probs, indices))
            catalog.record_batch(model, predictions, run, {p: file_signature(p) for p in batch})


# ------------------------------------------------------------------------------ measuring


class StallProbe:
    """How late a 10 ms timer fires: the longest is the longest freeze of the window."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.worst_ms = 0.0
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(PERIOD_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst_ms = max(self.worst_ms, (now - self._last) * 1000 - PERIOD_MS)
        self._last = now

    def reset(self) -> None:
        self.worst_ms, self._last = 0.0, time.perf_counter()

    def stop(self) -> None:
        self._timer.stop()


def wait_until(loop: QEventLoop, done: Callable[[], bool], timeout_s: float = 600) -> None:
    from PySide6.QtCore import QEventLoop

    deadline = time.perf_counter() + timeout_s
    while not done():
        if time.perf_counter() > deadline:
            raise SystemExit("timed out")
        loop.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)


def visible_rows_loaded(window: MainWindow) -> bool:
    view, results = window.pane.view, window.results
    first = max(0, view.rowAt(0))
    last = view.rowAt(view.viewport().height() - 1)
    last = results.rowCount() - 1 if last < 0 else last
    return all(results.row_at(row) is not None for row in range(first, last + 1))


def phase(
    window: MainWindow, probe: StallProbe, start: Callable[[], None], done: Callable[[], bool]
) -> dict[str, float]:
    """Time from ``start()`` until ``done()``, then until the rows on screen are loaded."""
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    probe.reset()
    began = time.perf_counter()
    start()
    wait_until(loop, done)
    seconds = time.perf_counter() - began
    wait_until(loop, lambda: visible_rows_loaded(window))
    result = {"seconds": seconds, "rows_on_screen_s": time.perf_counter() - began}
    return {**result, "max_stall_ms": probe.worst_ms}


def measure(folder: Path, count: int) -> dict[str, dict[str, Any]]:
    from PySide6.QtCore import QEventLoop, Qt

    from resnet_desktop.gui.app import create_application
    from resnet_desktop.gui.gui_gc import GuiThreadCollector
    from resnet_desktop.gui.main_window import MainWindow
    from resnet_desktop.gui.results_model import Column

    app = create_application()
    collector = GuiThreadCollector(app)
    collector.start()
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    loop = QEventLoop()
    window.select_model(MODEL)
    wait_until(loop, lambda: window.results.query.identity is not None, 120)
    wait_until(loop, lambda: window.runtime is not None, 120)  # torch loaded, as it will be
    probe = StallProbe()
    views: list[float] = []
    window.viewShown.connect(lambda: views.append(time.perf_counter()))
    report: dict[str, dict[str, Any]] = {"rss before opening": {"rss_mib": rss_mib()}}
    try:
        scanned: list[bool] = []
        window.scanFinished.connect(lambda: scanned.append(True))
        began = time.perf_counter()
        report["open"] = phase(
            window, probe, lambda: window.add_paths([folder]), lambda: bool(scanned)
        )
        report["open"]["first_rows_s"] = views[0] - began
        report["open"]["rows"] = window.results.rowCount()
        report["open"]["counts"] = window.status.counts_label.text()
        view = window.pane.view
        report["sort by confidence"] = phase(
            window, probe,
            lambda: view.sortByColumn(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder),
            lambda: window.results.query.descending,
        )  # fmt: skip
        report["filter by label"] = phase(
            window, probe,
            lambda: window.pane.filterChanged.emit("cat", 0.0),  # as typing pauses
            lambda: window.results.query.label_text == "cat",
        )  # fmt: skip
        report["filter by label"]["rows"] = window.results.rowCount()
        report["clear filter"] = phase(
            window, probe,
            lambda: window.pane.filterChanged.emit("", 0.0),
            lambda: window.results.query.label_text == "",
        )  # fmt: skip
        middle = window.results.index(count // 2, 0)
        report["jump to the middle"] = phase(
            window, probe, lambda: view.scrollTo(middle), lambda: True
        )
        report["jump to the end"] = phase(window, probe, view.scrollToBottom, lambda: True)
        report[f"scroll up {SCREENS} screens"] = phase(
            window, probe, lambda: scroll_screens(window, loop, SCREENS), lambda: True
        )
        report["rss at the end"] = {"rss_mib": rss_mib(), "peak_rss_mib": peak_rss_mib()}
    finally:
        probe.stop()
        window.close()
        app.processEvents()
        collector.stop()
    return report


def scroll_screens(window: MainWindow, loop: QEventLoop, screens: int) -> None:
    """Page up ``screens`` times, each screen's rows loaded before the next."""
    bar = window.pane.view.verticalScrollBar()
    for _ in range(screens):
        wait_until(loop, lambda: visible_rows_loaded(window))
        bar.setValue(bar.value() - bar.pageStep())


def set_up(scratch: Path, rows: int) -> None:
    """The model, the files and their results (run in a child: its memory is not counted)."""
    import_model()
    paths = write_files(scratch / "images", rows)
    record_results(paths)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="results in the catalog")
    parser.add_argument("--set-up", type=Path, help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.set_up:
        set_up(args.set_up, args.rows)
        return 0
    with tempfile.TemporaryDirectory(prefix="window-catalog-bench-") as scratch:
        os.environ["RESNET_DESKTOP_DATA_DIR"] = os.path.join(scratch, "data")
        began = time.perf_counter()
        child = [sys.executable, __file__, "--rows", str(args.rows), "--set-up", scratch]
        subprocess.run(child, check=True)
        print(f"set-up: {args.rows} files and results in {time.perf_counter() - began:.1f} s")
        report = measure(Path(scratch, "images"), args.rows)
    platform = os.environ.get("QT_QPA_PLATFORM", "default")
    print(f"platform {platform}, {args.rows} rows")
    for name, values in report.items():
        shown = ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()
        )
        print(f"  {name}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
