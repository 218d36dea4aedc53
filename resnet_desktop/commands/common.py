"""What the sub-commands share: runtime options, user errors as exit codes, report tables.

The sub-command modules never import each other; what two of them need lives here or in
:mod:`~resnet_desktop.commands.progress` (the progress bar) or
:mod:`~resnet_desktop.commands.results_io` (the catalog and the rows of results).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from resnet_desktop.app.logs import report_bug
from resnet_desktop.core.device import DEVICES, ENGINES, PRECISIONS, TRAINING_PRECISIONS
from resnet_desktop.core.errors import (
    REMEDY_CPU,
    REMEDY_ENGINE_OPENVINO,
    REMEDY_ENGINE_TORCH,
    REMEDY_LIBRARY_REMOVE,
    REMEDY_NO_WEIGHTS,
    REMEDY_SORT_COPY_OR_LINK,
    REMEDY_SORT_FINISH_UNDO,
    REMEDY_SORT_SAME_MODE,
    REMEDY_WEIGHTS_FILE,
    UserError,
    user_message,
)
from resnet_desktop.core.runtime import RuntimeOptions

if TYPE_CHECKING:
    from resnet_desktop.core.evaluate import EvalReport

EXIT_OK = 0
EXIT_ERROR = 1  # could not run: bad model, missing file ... or a bug
EXIT_PARTIAL = 3  # ran, but some files failed
# How the command line words the ways to fix an error (the window names its menu items).
REMEDIES = {
    REMEDY_WEIGHTS_FILE: "or pass --weights FILE",
    REMEDY_NO_WEIGHTS: "so pass --weights FILE, or --weights random for an untrained network",
    REMEDY_CPU: "so use --device cpu with it",
    REMEDY_ENGINE_TORCH: "so use --engine torch",
    REMEDY_ENGINE_OPENVINO: "so use --engine auto or openvino with it",
    REMEDY_SORT_COPY_OR_LINK: "so sort it with --copy or --link, or sort the file it points to",
    REMEDY_SORT_SAME_MODE: "so run it again with --{mode} to finish it, or undo it with "
    "`resnet-desktop sort --undo {journal}`",
    REMEDY_SORT_FINISH_UNDO: "so finish it with `resnet-desktop sort --undo {journal}`",
    REMEDY_LIBRARY_REMOVE: "so remove it (`resnet-desktop models remove {name}`) and import "
    "the model again",
}

Command = Callable[[argparse.Namespace], int]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_model_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--model", required=required, help="zoo architecture or library model")
    parser.add_argument(
        "--weights", help="state-dict file (.pth/.pt/.th/.safetensors), or 'random'"
    )


def add_runtime_args(parser: argparse.ArgumentParser, *, engine: bool = True) -> None:
    """``--batch-size --device --precision`` (and ``--engine``): read with runtime_options."""
    parser.add_argument("--batch-size", type=positive_int, help="images per batch (default: auto)")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    precisions = PRECISIONS if engine else TRAINING_PRECISIONS  # no engine: training
    parser.add_argument("--precision", choices=precisions, default="auto")
    if engine:
        parser.add_argument(
            "--engine",
            choices=ENGINES,
            default="auto",
            help="what runs the network; auto: OpenVINO on the CPU when installed, else PyTorch",
        )


def runtime_options(args: argparse.Namespace) -> RuntimeOptions:
    """The options add_runtime_args added, as one value (``auto`` for an engine not offered)."""
    return RuntimeOptions(
        device=args.device,
        precision=args.precision,
        engine=getattr(args, "engine", "auto"),
        batch_size=args.batch_size,
    )


def notify(message: str) -> None:
    """Where the core's one-line notices go on the command line."""
    print(message, file=sys.stderr)


def reports_errors(command: Command) -> Command:
    """Run ``command``: Ctrl+C exits 130, an error prints one line and exits 1.

    A :class:`UserError` prints its message. Anything else is a bug: its traceback goes to
    the log file and the line says it is a bug and where the details are.
    """

    @functools.wraps(command)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
        except UserError as error:
            print(f"error: {user_message(error, REMEDIES)}", file=sys.stderr)
            return EXIT_ERROR
        except Exception as error:  # a bug: logged, and said to be one
            report = report_bug(error, f"running {command.__module__}.{command.__name__}")
            print(f"error: {report.message}", file=sys.stderr)
            return EXIT_ERROR

    return wrapper


def class_table(report: EvalReport) -> list[str]:
    """One line per class: precision, recall and support."""
    width = max(len("class"), *(len(name) for name in report.class_names))
    lines = [f"{'class':<{width}}  precision  recall  support"]
    for metrics in report.per_class:
        lines.append(
            f"{metrics.name:<{width}}  {metrics.precision:>9.1%}  {metrics.recall:>6.1%}  "
            f"{metrics.support:>7}"
        )
    return lines


@contextlib.contextmanager
def ctrl_c_stops(unit: str) -> Iterator[Callable[[], bool]]:
    """A ``should_stop`` that the first Ctrl+C sets; the second interrupts at once.

    A long command stops after the ``unit`` in hand (a batch, a file), so what it has
    done is kept whole. Off the main thread (tests) no handler can be installed.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop.is_set
        return

    def on_ctrl_c(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(f"\nstopping after this {unit} (Ctrl+C again to stop now)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield stop.is_set
    finally:
        signal.signal(signal.SIGINT, previous)
