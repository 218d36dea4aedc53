"""Which exceptions are the user's to fix, shown as a message and never as a traceback.

The CLI prints them as ``error: ...`` and the GUI shows them in a message; anything else
is a bug and is logged with its traceback. The dataset, training and evaluation errors
subclass ValueError, so they are covered too.
"""

from __future__ import annotations

from resnet_desktop.core.imaging import DecodeError
from resnet_desktop.core.library import LibraryError
from resnet_desktop.core.model_loader import ModelLoadError
from resnet_desktop.core.weights import WeightsError


class UserError(Exception):
    """Something the user can fix (a wrong name, a missing or unreadable file).

    Front ends show it as one line; every other exception is a bug, logged with its
    traceback and said to be one.
    """


def user_error_types() -> tuple[type[BaseException], ...]:
    return (ModelLoadError, WeightsError, LibraryError, DecodeError, OSError, ValueError, KeyError)


def user_message(error: BaseException) -> str:
    """The one-line text to show for a user error (KeyError's repr quotes are dropped)."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error) or type(error).__name__
