"""``resnet-desktop explain``: why a model gave an image its label, as a heatmap overlay."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from resnet_desktop.commands.common import EXIT_OK, add_model_args, reports_errors
from resnet_desktop.core.atomic import atomic_open
from resnet_desktop.core.errors import UserError, user_file_errors
from resnet_desktop.core.explain import explain_file
from resnet_desktop.core.model_loader import load_model

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="show which parts of an image made a class's score (Grad-CAM heatmap)",
        description="Save IMAGE with a heatmap over it: red where the image raised the score "
        "of the top-1 class (or of --class), none where it did not. The region outside the "
        "network's centre crop, which it never saw, is dimmed.",
    )
    parser.add_argument("image", metavar="IMAGE", help="the image file")
    add_model_args(parser)
    parser.add_argument("--classes", help="class names: .txt (one per line) or .json")
    parser.add_argument("--class", dest="label", metavar="LABEL", help="default: the top-1 class")
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="the overlay image: .png, .jpg or .webp"
    )
    parser.set_defaults(func=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    image_format = _save_format(args.out)
    model = load_model(args.model, args.weights, args.classes)
    started = time.perf_counter()
    explanation = explain_file(model, args.image, args.label)
    elapsed = time.perf_counter() - started
    with user_file_errors("write", args.out), atomic_open(args.out, "wb") as handle:
        explanation.overlay.save(handle, format=image_format)
    print(
        f"{args.out}: heatmap of {explanation.label!r} ({explanation.probability:.1%}), "
        f"computed in {elapsed:.2f} s",
        file=sys.stderr,
    )
    return EXIT_OK


def _save_format(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise UserError(f"--out must end in {', '.join(SAVE_FORMATS)}, not {path!r}")
    return SAVE_FORMATS[suffix]
