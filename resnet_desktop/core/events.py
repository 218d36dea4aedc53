"""What the long-running generators share in their event streams; torch-free.

Each generator (``fit``, ``evaluate``, ``scan_dataset``) declares the union of the small
frozen event types it yields, and its consumers ``match`` on them with an explicit
failure on anything else, so a new event kind cannot slip past a front end unnoticed.
A front end's job that does more than call the generator (loading a model first, say)
reports that step as a :class:`Status`, never as a bare string.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class TextEnum(str, Enum):
    """An enum whose members are their text: they compare, print and format as the value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


@dataclass(frozen=True)
class Status:
    """A one-line description of what a job is doing now, for a status bar."""

    message: str


def unknown_event(event: object) -> AssertionError:
    """The error a consumer raises for an event its ``match`` does not know."""
    return AssertionError(f"unknown event {event!r}")
