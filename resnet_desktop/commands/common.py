"""What the sub-commands share: runtime options, and errors turned into one line and a status."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from resnet_desktop.app.logs import report_bug
from resnet_desktop.core.device import DEVICES, ENGINES, PRECISIONS
from resnet_desktop.core.errors import UserError, user_message

EXIT_OK = 0
EXIT_ERROR = 1  # could not run: bad model, missing file ... or a bug
EXIT_PARTIAL = 3  # ran, but some files failed

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
    parser.add_argument("--batch-size", type=positive_int, help="images per batch (default: auto)")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    if engine:
        parser.add_argument(
            "--engine",
            choices=ENGINES,
            default="auto",
            help="what runs the network; auto: OpenVINO for fp32 on the CPU, else PyTorch",
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
            print(f"error: {user_message(error)}", file=sys.stderr)
            return EXIT_ERROR
        except Exception as error:  # a bug: logged, and said to be one
            report = report_bug(error, f"running {command.__module__}.{command.__name__}")
            print(f"error: {report.message}", file=sys.stderr)
            return EXIT_ERROR

    return wrapper
