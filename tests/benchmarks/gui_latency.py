"""How long the main window's event loop stalls while it classifies a folder.

A QTimer fires every PERIOD_MS; how late each tick arrives is the latency a user feels
(clicks, scrolling, repaints). Prints the percentiles for the whole classification run.
Not a test (timings on shared machines are noise); run it by hand:

    python tests/benchmarks/gui_latency.py --model resnet50 --random-imagenet-weights \
        [--engine openvino]

``--folder`` defaults to the 1,000 ImageNet sample photos of the shared data
($RESNET_DESKTOP_SHARED, else ../shared).

``--random-imagenet-weights`` writes an untrained state dict where torchvision caches the
model's ImageNet weights (in a temporary TORCH_HOME), for machines without network: the
compute is the same as with the real weights.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_desktop.core.device import ENGINES

if TYPE_CHECKING:  # Qt and the window are imported once the environment is set up
    from PySide6.QtCore import QEventLoop

    from resnet_desktop.gui.main_window import MainWindow

PERIOD_MS = 10
DEFAULT_FOLDER = Path(os.environ.get("RESNET_DESKTOP_SHARED", "../shared"), "data/imagenet-samples")


def _fake_imagenet_weights(model: str) -> None:
    import torch

    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.weights import imagenet_weights_path
    from resnet_desktop.core.zoo import get_spec

    spec = get_spec(model)
    path = imagenet_weights_path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_network(spec).state_dict(), path)


def wait_for(signal: Any, loop: QEventLoop) -> None:
    """Run the event loop until ``signal`` fires."""
    signal.connect(loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)


def select_ready_model(window: MainWindow, model: str, loop: QEventLoop) -> bool:
    """Select ``model`` once the window has read which weights are on disk; False if none."""
    from resnet_desktop.app.models import WeightsState

    window.select_model(model)
    choice = window.selector.current_choice()
    while choice is None or choice.name != model or choice.state == WeightsState.UNCHECKED:
        wait_for(window.selector.choicesChanged, loop)
        choice = window.selector.current_choice()
    return choice.ready


def measure(folder: Path, model: str, engine: str) -> dict[str, float]:
    from resnet_desktop.core.runtime import RuntimeOptions
    from resnet_desktop.gui.app import create_application
    from resnet_desktop.gui.gui_gc import GuiThreadCollector
    from resnet_desktop.gui.main_window import MainWindow

    app = create_application()
    collector = GuiThreadCollector(app)  # as run_app does: collections land on this thread
    collector.start()
    window = MainWindow()
    window.show()
    window.options.set_runtime(RuntimeOptions(engine=engine))
    try:
        return classify_with_probe(window, folder, model)
    finally:
        window.close()  # joins the workers: no thread outlives the script
        app.processEvents()
        collector.stop()


def classify_with_probe(window: MainWindow, folder: Path, model: str) -> dict[str, float]:
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    loop = QEventLoop()
    window.add_paths([folder])
    wait_for(window.scanFinished, loop)
    if not select_ready_model(window, model, loop):
        raise SystemExit(f"{model} has no weights here: pass --random-imagenet-weights")
    late: list[float] = []
    last = time.perf_counter()

    def tick() -> None:
        nonlocal last
        now = time.perf_counter()
        late.append(max(0.0, (now - last) * 1000 - PERIOD_MS))
        last = now

    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(PERIOD_MS)
    probe.timeout.connect(tick)
    start = time.perf_counter()
    probe.start()
    window.classify()
    wait_for(window.runFinished, loop)
    probe.stop()
    seconds = time.perf_counter() - start
    images = len(window.results)
    quantiles = statistics.quantiles(late, n=100, method="inclusive")
    return {
        "images": images,
        "images_per_second": images / seconds,
        "ticks": len(late),
        "p50_ms": quantiles[49],
        "p95_ms": quantiles[94],
        "p99_ms": quantiles[98],
        "max_ms": max(late),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--random-imagenet-weights", action="store_true")
    parser.add_argument("--engine", choices=ENGINES, default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["RESNET_DESKTOP_DATA_DIR"] = os.path.join(scratch, "data")
        if args.random_imagenet_weights:
            os.environ["TORCH_HOME"] = os.path.join(scratch, "torch")
            _fake_imagenet_weights(args.model)
        result = measure(args.folder, args.model, args.engine)
    platform = os.environ.get("QT_QPA_PLATFORM", "default")
    print(f"platform {platform}: " + ", ".join(f"{k} {v:.4g}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
