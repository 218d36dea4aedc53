"""Which threads are running: Python's own, without the dummies Qt's threads leave behind."""

from __future__ import annotations

import threading


def python_threads() -> set[threading.Thread]:
    """Threads Python started and that still run; a QThread that ever ran Python code shows
    up as a ``_DummyThread`` that never ends, so those are left out."""
    return {
        thread
        for thread in threading.enumerate()
        if thread.is_alive() and not isinstance(thread, threading._DummyThread)
    }
