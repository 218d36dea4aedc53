"""``resnet-desktop benchmark``: throughput of decoding, the network, and both together."""

from __future__ import annotations

import argparse
from pathlib import Path

from resnet_desktop.commands.common import (
    EXIT_OK,
    add_model_args,
    add_runtime_args,
    notify,
    positive_int,
    reports_errors,
    runtime_options,
)
from resnet_desktop.core import benchmark
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.imaging import scan_images
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.predictor import Predictor


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark",
        help="measure decoding, model and end-to-end throughput",
        description="Measure images/s per stage and the end-to-end efficiency against the "
        "pipeline bound. Without --folder only the model is measured.",
    )
    add_model_args(parser)
    parser.add_argument("--folder", help="folder of images to decode and classify")
    parser.add_argument("--limit", type=positive_int, help="use at most this many images")
    parser.add_argument("--batches", type=positive_int, default=10, help="model-only batches")
    parser.add_argument(
        "--compare-tutorial",
        action="store_true",
        help="also time the tutorials' loop (PIL + transforms, batches of 8, fp32, one thread)",
    )
    add_runtime_args(parser)
    parser.set_defaults(func=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    model = load_model(args.model, args.weights or "random")
    predictor = Predictor(model, runtime_options(args).resolve(model.preprocess), notify=notify)
    print(
        f"{args.model} on {predictor.runtime.describe()}, {predictor.decode_workers} decode threads"
    )
    print(f"why: {predictor.runtime.reason}")
    paths = _images(args.folder, args.limit) if args.folder else []
    predictor.calibrate(paths)
    if predictor.needs_calibration:
        raise UserError("int8 calibrates on images: give --folder")
    model_rate = benchmark.measure_model(predictor, args.batches)
    _show(model_rate)
    if not paths:
        return EXIT_OK
    benchmark.measure_end_to_end(predictor, paths[: predictor.batch_size])  # warm file cache
    decode_rate = benchmark.measure_decode(predictor, paths)
    _show(decode_rate)
    end_to_end = benchmark.measure_end_to_end(predictor, paths)
    _show(end_to_end)
    shared_cpu = predictor.device.type == "cpu"
    bound = benchmark.pipeline_bound(decode_rate.per_second, model_rate.per_second, shared_cpu)
    formula = "1/(1/decode + 1/model)" if shared_cpu else "min(decode, model)"
    print(f"pipeline bound     {bound:9.1f} images/s  ({formula})")
    print(f"efficiency         {end_to_end.per_second / bound:9.2f}  (end-to-end / bound)")
    if args.compare_tutorial:
        tutorial = benchmark.tutorial_loop(predictor, paths)
        _show(tutorial)
        print(f"speed-up           {end_to_end.per_second / tutorial.per_second:9.2f}x  "
              "(end-to-end / tutorial loop)")  # fmt: skip
    return EXIT_OK


def _images(folder: str, limit: int | None) -> list[Path]:
    paths = list(scan_images([folder]))[:limit]
    if not paths:
        raise UserError(f"no images found in {folder}")
    return paths


def _show(rate) -> None:
    print(
        f"{rate.name:<18} {rate.per_second:9.1f} images/s  ({rate.images} in {rate.seconds:.2f} s)"
    )
