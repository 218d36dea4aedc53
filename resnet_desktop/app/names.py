"""Names offered for new library models: always ones the library accepts.

A suggestion is built from words the user already gave (a dataset folder, a weights file)
and checked with :func:`resnet_desktop.core.library.check_name`, so the window never
offers a name that saving would refuse: accents are dropped ("modèle" becomes "modele"),
other characters (dots too) become "-", and a built-in architecture's, a reserved or a
taken name gets a number.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence

from resnet_desktop.core.library import MAX_NAME_LENGTH, LibraryError, ModelLibrary, check_name

FALLBACK = "model"  # when the words leave nothing usable
_UNSAFE = re.compile(r"[^A-Za-z0-9 _\-]+")  # no ".": "con.x" would be reserved on Windows
_STEM_LENGTH = MAX_NAME_LENGTH - 8  # room for a "-NNN" suffix


def suggest_name(parts: Sequence[str], taken: Iterable[str] = ()) -> str:
    """``parts`` joined by "-" as a valid name not in ``taken`` (``-2``, ``-3`` ... if it is)."""
    folded = {name.casefold() for name in taken}
    stem = _portable("-".join(parts))
    numbers = range(1, len(folded) + 3)  # more candidates per stem than names taken
    candidates = (
        base if number == 1 else f"{base}-{number}"
        for base, number in itertools.product((stem, FALLBACK), numbers)
        if base
    )
    return next(n for n in candidates if n.casefold() not in folded and _acceptable(n))


def new_model_name(*parts: str, library: ModelLibrary | None = None) -> str:
    """A suggestion from ``parts`` that no model of ``library`` (by default the user's) has."""
    models = (library or ModelLibrary()).list()
    return suggest_name(parts, (model.name for model in models))


def _portable(text: str) -> str:
    """``text`` in the library's character set: accents dropped, the rest replaced by "-"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _UNSAFE.sub("-", plain).strip(" -")[:_STEM_LENGTH].strip(" -")


def _acceptable(name: str) -> bool:
    try:
        check_name(name)
    except LibraryError:
        return False
    return True
