"""``resnet-desktop models``: import, list and remove the models of the user's library."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.app.library_admin import export_library_model, summarise
from resnet_desktop.app.models import WeightsState, zoo_choices
from resnet_desktop.commands.common import EXIT_OK, reports_errors
from resnet_desktop.core import zoo
from resnet_desktop.core.export import terminal_safe
from resnet_desktop.core.library import LibraryModel, ModelLibrary
from resnet_desktop.core.model_export import FORMATS
from resnet_desktop.core.weights import read_class_names

if TYPE_CHECKING:
    from resnet_desktop.core.library import ModelLibrary


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        prog="resnet-desktop models",
        help="import, list and remove library models",
        description="Manage the model library: state-dict files imported with their class "
        "names, and fine-tuned models.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    _register_import(actions)
    _register_list(actions)
    _register_remove(actions)
    _register_export(actions)
    _register_set_threshold(actions)
    parser.set_defaults(func=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    return _ACTIONS[args.action](args)


def _register_import(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "import",
        help="add a state-dict file to the library",
        description="Check that FILE's weights fit ARCH with one output per class, then save "
        "them in the library as NAME (safetensors, so the copy can never run code).",
    )
    parser.add_argument("file", metavar="FILE", help=".pth/.pt/.th/.bin/.safetensors file")
    parser.add_argument(
        "--model", required=True, choices=list(zoo.SPECS), metavar="ARCH", help="architecture"
    )
    parser.add_argument(
        "--classes", required=True, metavar="FILE", help="class names: .txt or .json"
    )
    parser.add_argument("--name", required=True, help="library name for the model")
    parser.add_argument("--overwrite", action="store_true", help="replace a model of that name")


def _register_list(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser("list", help="list the library's models")
    parser.add_argument(
        "--all",
        action="store_true",
        help="also list the built-in architectures and whether their weights are cached",
    )


def _register_remove(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser("remove", help="delete a model from the library")
    parser.add_argument("name", metavar="NAME")


def _import(args: argparse.Namespace) -> int:
    class_names = read_class_names(args.classes)
    library = ModelLibrary()
    model = library.import_file(
        args.file, args.model, class_names, args.name, overwrite=args.overwrite
    )
    print(
        f"imported {model.name!r} ({model.architecture}, {len(model.class_names)} classes) "
        f"into {library.root}"
    )
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    library = ModelLibrary()
    models = library.list()
    if models:
        rows = [
            (m.name, m.architecture, str(len(m.class_names)), m.created, _threshold_text(m))
            for m in models
        ]
        header = ("NAME", "ARCHITECTURE", "CLASSES", "CREATED", "UNKNOWN BELOW")
        print(format_table(header, _safe(rows)))
    else:
        print(f"no models in the library ({library.root})")
    _print_damaged(library)
    if args.all:
        print()
        print(format_table(("BUILT-IN", "CLASSES", "IMAGENET WEIGHTS"), _zoo_rows()))
    return EXIT_OK


def _threshold_text(model: LibraryModel) -> str:
    threshold = summarise(model).threshold
    return "-" if threshold is None else f"{threshold:.4g}"


_WEIGHTS_TEXT = {
    WeightsState.CACHED: "cached",
    WeightsState.DOWNLOAD: "not cached (downloaded on use)",
    WeightsState.NEEDS_FILE: "none (import a checkpoint)",
}


def _print_damaged(library: ModelLibrary) -> None:
    """Entries that cannot be used, so a name that "already exists" is never invisible."""
    damaged = library.damaged()
    if damaged:
        print("\ndamaged entries (remove them with: resnet-desktop models remove NAME):")
        print(format_table(("NAME", "PROBLEM"), _safe([(d.name, d.reason) for d in damaged])))


def _safe(rows: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The cells with what a terminal would act on escaped: names come from file names."""
    return [tuple(terminal_safe(cell) for cell in row) for row in rows]


def _zoo_rows() -> list[tuple[str, ...]]:
    return [(c.name, str(c.spec.num_classes), _WEIGHTS_TEXT[c.state]) for c in zoo_choices()]


def _remove(args: argparse.Namespace) -> int:
    ModelLibrary().remove(args.name)
    print(f"removed {args.name!r}")
    return EXIT_OK


_ACTIONS = {"import": _import, "list": _list, "remove": _remove}


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, so names with spaces stay readable."""
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table)
    return "\n".join(line.rstrip() for line in lines)


# --- export -------------------------------------------------------------------------------


def _register_export(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "export",
        help="write a model as ONNX or OpenVINO IR, with its class names",
        description="Write NAME (a library model, or a zoo architecture with its ImageNet "
        "weights) into DIR for other programs: uint8 RGB NHWC images in, logits out, the "
        "normalisation inside the graph; NAME.classes.txt and NAME.json (how to resize and "
        "crop) beside it.",
    )
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write into")


def _export(args: argparse.Namespace) -> int:
    files = export_library_model(args.name, args.format, Path(args.out))
    print("\n".join(str(path) for path in files))
    return EXIT_OK


_ACTIONS["export"] = _export


# --- set-threshold ------------------------------------------------------------------------


def _register_set_threshold(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "set-threshold",
        help="change the score below which a model calls an image 'unknown'",
        description="Set the 'unknown' threshold of NAME, a model fine-tuned by this "
        "version: images whose score is below VALUE are called unknown. Fine-tuning "
        "suggests one that accepts 95 %% of the validation images; 'models list' shows it.",
    )
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("value", metavar="VALUE", type=float)


def _set_threshold(args: argparse.Namespace) -> int:
    model = ModelLibrary().set_ood_threshold(args.name, args.value)
    print(f"{terminal_safe(model.name)}: 'unknown' below {model.metrics['ood']['threshold']:g}")
    return EXIT_OK


_ACTIONS["set-threshold"] = _set_threshold
