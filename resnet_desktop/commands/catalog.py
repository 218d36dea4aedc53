"""``resnet-desktop catalog info|forget|vacuum|set-aside``: looking after the results catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

from resnet_desktop.commands.common import EXIT_OK, reports_errors
from resnet_desktop.commands.results_io import add_catalog_arg, shown_path
from resnet_desktop.core import paths
from resnet_desktop.core.catalog import Catalog, CatalogInfo, set_aside
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.export import terminal_safe

MIB = 1 << 20
SHA_SHOWN = 12  # hex digits of a weights sha256 that tell models apart on screen


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "catalog",
        help="show or tidy the results catalog",
        description="Show what the results catalog holds, forget images, compact it, or "
        "set a damaged one aside.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="where the catalog is and what it holds")
    info.set_defaults(func=info_command)
    forget = actions.add_parser(
        "forget", help="drop the results of these files, and of every file under these folders"
    )
    forget.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    forget.set_defaults(func=forget_command)
    vacuum = actions.add_parser(
        "vacuum", help="drop images left without results and compact the file"
    )
    vacuum.set_defaults(func=vacuum_command)
    aside = actions.add_parser(
        "set-aside",
        help="rename a damaged catalog (run it when nothing else uses the catalog); the "
        "next run starts a new one",
    )
    aside.set_defaults(func=set_aside_command)
    for action in (info, forget, vacuum, aside):
        add_catalog_arg(action)


@reports_errors
def info_command(args: argparse.Namespace) -> int:
    with Catalog.open(args.catalog, read_only=True) as catalog:
        for line in info_lines(catalog.info()):
            print(line)
    return EXIT_OK


def info_lines(info: CatalogInfo) -> list[str]:
    """The catalog's place, size and counts, then one line per model."""
    lines = [
        f"catalog: {shown_path(info.path)}",
        f"format {info.format}, {info.size_bytes / MIB:.1f} MiB",
        f"images: {info.images}",
        f"labels set by a person: {info.person_labels}",
    ]
    if not info.models:
        return [*lines, "no results yet"]
    width = max(len("model"), *(len(terminal_safe(model.name)) for model in info.models))
    lines.append(f"{'model':<{width}}  {'weights':<{SHA_SHOWN}}  classes  results   errors")
    for model in info.models:
        lines.append(
            f"{terminal_safe(model.name):<{width}}  {model.weights_sha256[:SHA_SHOWN]:<{SHA_SHOWN}}"
            f"  {model.classes:>7}  {model.results:>7}  {model.errors:>7}"
        )
    return lines


@reports_errors
def forget_command(args: argparse.Namespace) -> int:
    with Catalog.open(args.catalog) as catalog:
        forgotten = catalog.forget(args.paths)
    images = "image" if forgotten == 1 else "images"
    print(f"forgot {forgotten} {images}, with their results and labels")
    return EXIT_OK


@reports_errors
def vacuum_command(args: argparse.Namespace) -> int:
    with Catalog.open(args.catalog) as catalog:
        freed = catalog.vacuum()
        size = catalog.info().size_bytes
    freed_mib, size_mib = freed / MIB, size / MIB
    print(
        f"compacted {shown_path(catalog.path)}: {freed_mib:.1f} MiB freed, {size_mib:.1f} MiB now"
    )
    return EXIT_OK


@reports_errors
def set_aside_command(args: argparse.Namespace) -> int:
    path = Path(args.catalog) if args.catalog else paths.catalog_path()
    if not path.is_file():
        raise UserError(f"no catalog at {shown_path(path)}")
    moved = set_aside(path)
    print(f"moved {shown_path(path)} to {shown_path(moved)}; the next run starts a new catalog")
    return EXIT_OK
