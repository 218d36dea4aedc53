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
REMEDY_SORT_COPY_OR_LINK = "sort copy or link"  # a symbolic link: copy or link it, not move
# An unfinished sort in the destination (fields: mode, journal): finish it or undo it.
REMEDY_SORT_SAME_MODE = "sort same mode"
REMEDY_SORT_FINISH_UNDO = "sort finish undo"  # an interrupted undo (field: journal): finish it
# A library model that cannot be used (field: name): remove it, then import it again.
REMEDY_LIBRARY_REMOVE = "library remove"


class UserError(Exception):
    """Something the user can fix (a wrong name, a missing or unreadable file).

    Front ends show it as one line; every other exception is a bug, logged with its
    traceback and said to be one. ``remedy`` names a way to fix it that is worded by
    the front end (:data:`REMEDY_WEIGHTS_FILE`: ``--weights FILE`` or a menu item);
    ``fields`` fill the ``{name}`` places of the front end's words (a journal's path).
    """

    remedy: str | None = None

    def __init__(
        self, *args: object, remedy: str | None = None, fields: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(*args)
        self.remedy = remedy
        self.fields = dict(fields or {})


def user_message(error: UserError, remedies: Mapping[str, str] | None = None) -> str:
    """The one line to show for a user error, ending with the front end's own remedy.

    ``remedies`` maps a remedy (of the error or of an error it was raised from) to the
    front end's words for it: ``{REMEDY_WEIGHTS_FILE: "or pass --weights FILE"}``.
    """
    text = one_line(str(error)) or type(error).__name__
    source = _with_remedy(error)
    if source is None:
        return text
    return remedied(text, source.remedy, remedies, source.fields)


def remedied(
    text: str,
    remedy: str | None,
    remedies: Mapping[str, str] | None,
    fields: Mapping[str, object] | None = None,
) -> str:
    """``text`` ending with the front end's words for ``remedy``, their places filled in.

    For a problem reported as text (a file a sort could not place) rather than raised.
    """
    phrase = (remedies or {}).get(remedy or "")
    return f"{text}, {phrase.format_map(fields or {})}" if phrase else text


def _with_remedy(error: BaseException | None) -> UserError | None:
    """``error`` or the first error in its causes that has a remedy."""
    seen = 0
    while error is not None and seen < 10:  # a cause chain is short; never loop on a cycle
        if isinstance(error, UserError) and error.remedy:
            return error
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
