"""Which exceptions are the user's to fix, shown as one line and never as a traceback.

Only errors of our own type, raised on purpose with a message worded for the user, are
user errors: the front ends print them as ``error: ...`` or show them in a message. Any
other exception, a bare ``ValueError``, ``KeyError`` or ``OSError`` included, is a bug:
logged with its traceback and said to be one (``resnet_desktop.app.logs``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

_MAX_SUMMARY = 300
# Remedies: ways to fix an error that each front end words its own way (a flag, a menu item).
REMEDY_WEIGHTS_FILE = "weights file"  # give the app the weights file yourself
REMEDY_NO_WEIGHTS = "no weights"  # an architecture without built-in weights: bring a file
REMEDY_CPU = "cpu"  # run on the processor instead
REMEDY_ENGINE_TORCH = "engine torch"  # run in PyTorch instead
REMEDY_ENGINE_OPENVINO = "engine openvino"  # run in OpenVINO (or let the app choose)


class UserError(Exception):
    """Something the user can fix (a wrong name, a missing or unreadable file).

    Front ends show it as one line; every other exception is a bug, logged with its
    traceback and said to be one. ``remedy`` names a way to fix it that is worded by
    the front end (:data:`REMEDY_WEIGHTS_FILE`: ``--weights FILE`` or a menu item).
    """

    remedy: str | None = None

    def __init__(self, *args: object, remedy: str | None = None) -> None:
        super().__init__(*args)
        self.remedy = remedy


def user_message(error: UserError, remedies: Mapping[str, str] | None = None) -> str:
    """The one line to show for a user error, ending with the front end's own remedy.

    ``remedies`` maps a remedy (of the error or of an error it was raised from) to the
    front end's words for it: ``{REMEDY_WEIGHTS_FILE: "or pass --weights FILE"}``.
    """
    text = one_line(str(error)) or type(error).__name__
    phrase = (remedies or {}).get(_remedy(error) or "")
    return f"{text}, {phrase}" if phrase else text


def _remedy(error: BaseException | None) -> str | None:
    """The remedy of ``error`` or of the first error in its causes that has one."""
    seen = 0
    while error is not None and seen < 10:  # a cause chain is short; never loop on a cycle
        remedy = getattr(error, "remedy", None)
        if remedy:
            return remedy
        error, seen = error.__cause__, seen + 1
    return None


def bug_summary(error: BaseException) -> str:
    """``TypeError: what it said``, on one bounded line: what a bug report starts with."""
    text = one_line(str(error))[:_MAX_SUMMARY]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def one_line(text: str) -> str:
    """``text`` with its whitespace runs (newlines too) made single spaces."""
    return " ".join(text.split())


@contextlib.contextmanager
def user_file_errors(action: str, path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an ``OSError`` on a file the user named into a :class:`UserError`.

    A missing input or an unwritable output is the user's to fix, not a bug; ``action``
    says what was being done: ``with user_file_errors("write", path): ...`` fails with
    ``cannot write PATH: Permission denied``.
    """
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise UserError(f"cannot {action} {os.fspath(path)}: {reason}") from error
