"""The ``resnet-desktop`` command: the window without a sub-command, headless work with one.

Arguments are parsed before anything heavy is imported, so ``--help``, ``--version`` and
argument errors are instant and the window can appear before torch has loaded. Then the
log file is set up (:mod:`resnet_desktop.app.logs`), for the window as for a command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from resnet_desktop import __version__
from resnet_desktop.app.logs import setup_logging
from resnet_desktop.commands.common import reports_errors
from resnet_desktop.core.housekeeping import clean_abandoned

# Each module registers one sub-command: ``register(subparsers)`` sets ``func`` on it.
COMMAND_MODULES = (
    "predict",
    "results",
    "catalog",
    "models",
    "benchmark",
    "finetune",
    "evaluate",
    "explain",
    "sort",
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the headless sub-commands."""
    parser = argparse.ArgumentParser(
        prog="resnet-desktop",
        usage="%(prog)s [PATH ...] [--model NAME]\n       %(prog)s COMMAND ...",
        description="Classify images with ResNet/DenseNet models. Without a command, "
        "opens the desktop window with PATHs (images or folders) loaded.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, prog="resnet-desktop"
    )
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"resnet_desktop.commands.{module_name}").register(subparsers)
    return parser


def build_window_parser() -> argparse.ArgumentParser:
    """The parser of ``resnet-desktop [PATH ...] [--model NAME]``."""
    parser = argparse.ArgumentParser(prog="resnet-desktop", add_help=False)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--model")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if args_list and (
        (args_list[0].startswith("-") and args_list[0] != "--model")
        or args_list[0] in _command_names(parser)
    ):
        args = parser.parse_args(args_list)
        setup_logging()
        clean_abandoned()  # what killed runs left a day ago or more
        return int(args.func(args))
    window_args = build_window_parser().parse_args(args_list)
    setup_logging(console_level=logging.INFO)  # a terminal, if any, follows the window's work
    clean_abandoned()  # what killed runs left a day ago or more
    return reports_errors(_open_window)(window_args)


def _open_window(args: argparse.Namespace) -> int:
    """The window; a bug that escapes its start-up or event loop is reported as the CLI's are."""
    from resnet_desktop.gui.app import run_app

    return run_app(args.paths, model=args.model)


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:  # argparse offers no public accessor
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()
