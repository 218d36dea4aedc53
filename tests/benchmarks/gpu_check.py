"""The GPU path, measured once on a CUDA machine: run this there, by hand.

    PYTHONPATH=. python tests/benchmarks/gpu_check.py [--folder PHOTOS] [--images 400]

Needs only torch, torchvision, Pillow, numpy and safetensors (the project's other
dependencies are not imported, or stubbed: platformdirs). Without ``--folder`` it writes
``--images`` synthetic photos of camera-like sizes (plus a PNG and a broken file, which
must come back as the same rows). Everything goes to a temporary folder. It reports:

- the batch size ``auto`` chooses on this GPU, and why it runs as it does;
- end-to-end images/s with CPU decoding and with GPU decoding (nvJPEG batches);
- model-only images/s in bf16 and fp16 (channels_last, as the app runs);
- the out-of-memory halving: under a forced small memory limit
  (``torch.cuda.set_per_process_memory_fraction``) a large batch halves until it fits,
  with the same answers;
- that the labels equal the CPU's: the GPU model against the CPU (fp32) on the same
  inputs, and GPU decoding against CPU decoding (max abs pixel difference, labels).

``--device cpu`` runs the same steps on the CPU (GPU decoding through torchvision's CPU
decoder, no fp16, no memory limit), which is how tests/core/test_gpu_check.py tests it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PHOTO_SIZES = ((640, 480), (1024, 768), (800, 600), (1600, 1200), (480, 640), (3000, 2000))
OOM_BATCH = 1024
OOM_LIMIT_BYTES = 3 * 1024**3  # far below what a batch of 1024 ResNet-50 images needs


def stub_missing_modules() -> None:
    """platformdirs is imported by the project's paths module; the data folder is set below,
    so it is never called. A GPU machine may not have it."""
    if importlib.util.find_spec("platformdirs") is None:
        sys.modules["platformdirs"] = types.ModuleType("platformdirs")


def write_photos(folder: Path, count: int) -> list[Path]:
    """``count`` smooth, noisy JPEG photos of camera-like sizes, a PNG and a broken JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        width, height = PHOTO_SIZES[index % len(PHOTO_SIZES)]
        small = rng.integers(0, 256, (height // 32 + 1, width // 32 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
        image.save(folder / f"photo_{index:04d}.jpg", "JPEG", quality=90)
    Image.new("RGB", (300, 200), (20, 120, 220)).save(folder / "graphic.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    return sorted(folder.iterdir())


def _predictor(
    model,
    device: str,
    precision: str,
    device_decode: bool | None = None,
    batch_size: int | None = None,
):
    from resnet_desktop.core.predictor import Predictor
    from resnet_desktop.core.runtime import RuntimeOptions

    engine = "torch"  # OpenVINO is the CPU's, and not installed on a bare GPU machine
    runtime = RuntimeOptions(device, precision, engine, batch_size)
    return Predictor(model, runtime.resolve(model.preprocess), device_decode=device_decode)


def _rows(predictor, paths: list[Path]) -> list[tuple]:
    return [
        (p.path.name, p.indices[:1], p.error)
        for batch in predictor.predict_iter(paths)
        for p in batch.predictions
    ]


def _rate(work: Callable[[], object], images: int) -> float:
    start = time.perf_counter()
    work()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return images / (time.perf_counter() - start)


def end_to_end(model, device: str, paths: list[Path]) -> dict[str, float]:
    """Images/s of whole runs, decoding on the CPU and on the GPU, at ``auto`` precision."""
    rates = {}
    for name, on_device in (("CPU decoding", False), ("GPU decoding", True)):
        predictor = _predictor(model, device, "auto", device_decode=on_device)
        _rows(predictor, paths[: predictor.batch_size])  # warm-up: kernels, file cache
        rates[name] = _rate(lambda p=predictor: _rows(p, paths), len(paths))
    return rates


def model_only(model, device: str, precisions: tuple[str, ...], batches: int) -> dict:
    from resnet_desktop.core.benchmark import measure_model

    rates = {}
    for precision in precisions:
        predictor = _predictor(model, device, precision)
        rates[precision] = (measure_model(predictor, batches).per_second, predictor.batch_size)
    return rates


def labels_against_the_cpu(model, device: str, paths: list[Path]) -> dict[str, object]:
    """The GPU's answers against the CPU's, on the same inputs and with each decoder."""
    from resnet_desktop.core.predictor import decode_or_reason

    cpu_rows = _rows(_predictor(model, "cpu", "fp32", device_decode=False), paths)
    same_inputs = _rows(_predictor(model, device, "fp32", device_decode=False), paths)
    gpu_decoding = _rows(_predictor(model, device, "fp32", device_decode=True), paths)
    on_device = _predictor(model, device, "fp32", device_decode=True)
    with ThreadPoolExecutor(on_device.decode_workers) as pool:
        decoded = [
            d for _, batch in on_device.decoded_batches(pool, paths, lambda: False) for d in batch
        ]
    differences = [
        int(np.abs(torch.as_tensor(d).cpu().numpy().astype(int) - cpu.astype(int)).max())
        for d, cpu in zip(
            decoded, [decode_or_reason(p, model.preprocess) for p in paths], strict=True
        )
        if not isinstance(d, str)
    ]
    return {
        "images": len(paths),
        "GPU model, CPU-decoded inputs: rows equal to the CPU's": _equal(same_inputs, cpu_rows),
        "GPU decoding: rows equal to CPU decoding (GPU model)": _equal(gpu_decoding, same_inputs),
        "GPU decoding: errors equal to the CPU's": [r[2] for r in gpu_decoding]
        == [r[2] for r in cpu_rows],
        "GPU decoding: max abs pixel difference": max(differences),
        "GPU decoding: mean of the per-image max differences": float(np.mean(differences)),
    }


def _equal(rows: list[tuple], reference: list[tuple]) -> int:
    return sum(a == b for a, b in zip(rows, reference, strict=True))


def out_of_memory_halving(model) -> dict[str, object]:
    """A batch of OOM_BATCH under a memory limit: the sizes it ran at, and the answers."""
    predictor = _predictor(model, "cuda", "auto", batch_size=OOM_BATCH)
    size = model.preprocess.crop
    inputs = torch.randint(0, 256, (64, size, size, 3), dtype=torch.uint8)
    reference = predictor.predict_inputs(inputs)[1]
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(OOM_LIMIT_BYTES / total)
    try:
        big = inputs.repeat(OOM_BATCH // len(inputs), 1, 1, 1)
        _, indices = predictor.predict_inputs(big)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    return {
        "limit GiB": OOM_LIMIT_BYTES / 1024**3,
        "batch size before": OOM_BATCH,
        "batch size after halving": predictor.batch_size,
        "answers equal the unlimited run's": bool((indices[:64] == reference).all()),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", type=Path, help="photos to use (default: synthetic ones)")
    parser.add_argument("--images", type=int, default=400, help="synthetic photos to write")
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--weights", default="random", help="a state-dict file, or random")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--batches", type=int, default=20, help="model-only batches")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stub_missing_modules()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        os.environ["RESNET_DESKTOP_DATA_DIR"] = str(Path(scratch) / "data")
        paths = _photos(args, Path(scratch))
        _report(args, paths)
    return 0


def _photos(args: argparse.Namespace, scratch: Path) -> list[Path]:
    from resnet_desktop.core.imaging import scan_images

    if args.folder:
        return list(scan_images([args.folder]))
    return write_photos(scratch / "photos", args.images)


def _report(args: argparse.Namespace, paths: list[Path]) -> None:
    from resnet_desktop.core.gpu_decode import available
    from resnet_desktop.core.model_loader import load_model

    device = args.device
    model = load_model(args.model, args.weights)
    auto = _predictor(model, device, "auto")
    print(f"torch {torch.__version__}, {_device_name(device)}, {len(paths)} files")
    print(f"GPU decoding available (nvJPEG): {available(torch.device(device))}")
    print(f"auto: {auto.runtime.describe()}; why: {auto.runtime.reason}")
    precisions = ("bf16", "fp16") if device == "cuda" else ("bf16",)
    for precision, (rate, batch) in model_only(model, device, precisions, args.batches).items():
        print(f"model only, {precision}, channels_last, batch {batch}: {rate:9.1f} images/s")
    for name, rate in end_to_end(model, device, paths).items():
        print(f"end to end, {name}: {rate:9.1f} images/s")
    for name, value in labels_against_the_cpu(model, device, paths).items():
        print(f"{name}: {value}")
    if device == "cuda":
        for name, value in out_of_memory_halving(model).items():
            print(f"out of memory: {name}: {value}")


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(0) if device == "cuda" else "CPU"


if __name__ == "__main__":
    sys.exit(main())
