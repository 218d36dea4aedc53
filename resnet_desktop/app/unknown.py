"""Saying "unknown": which models score images for it, and where their threshold comes from.

A library model fine-tuned by this version carries an OOD setup (metrics ``ood``) and,
for the kNN method, its training images' features beside it. Prediction scores every
image with it (:func:`scorer_for`); reading a result as a label or ``unknown`` takes the
threshold, the model's own or one the user gives (:func:`decider_for`). A model whose
features are missing or damaged still classifies, with a one-line notice and no
"unknown"; a zoo model has no setup, so a threshold given for it applies to the top-1
probability (the maximum softmax).

Nothing here imports torch; reading a model's setup reads its small JSON file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from resnet_desktop.core.library import LibraryError, ModelLibrary
from resnet_desktop.core.ood import Decider, OodError, OodScorer, OodSetup, score_range
from resnet_desktop.core.zoo import SPECS

logger = logging.getLogger(__name__)

Notify = Callable[[str], None]


def scorer_for(name: str, notify: Notify | None = None) -> OodScorer | None:
    """What scores ``name``'s images; None for a model without a setup, or a broken one.

    A broken setup or features file is the user's file, not our bug: ``notify`` hears
    one line saying so, and the model classifies without "unknown".
    """
    library = ModelLibrary()
    if name in SPECS or not library.exists(name):
        return None
    return library_scorer(library, name, notify)


def library_scorer(
    library: ModelLibrary, name: str, notify: Notify | None = None, shown: str | None = None
) -> OodScorer | None:
    """:func:`scorer_for` of a model in ``library``, called ``shown`` in the notice.

    A Ray worker reads the model's files from a library folder of its own, under a name
    of its own (:mod:`resnet_desktop.app.cluster_workers`), and says what the user calls it.
    """
    try:
        return library.ood_scorer(name)
    except (OodError, LibraryError) as error:
        message = (
            f"{shown or name} cannot say 'unknown' this time ({error}); it classifies as before"
        )
        logger.warning(message)
        if notify:
            notify(message)
        return None


def stored_setup(name: str | None) -> OodSetup | None:
    """The setup in ``name``'s metadata, if it has a valid one (zoo models have none)."""
    library = ModelLibrary()
    if name is None or name in SPECS or not library.exists(name):
        return None
    try:
        metrics = library.get(name).metrics
        return OodSetup.from_dict(metrics["ood"]) if "ood" in metrics else None
    except (OodError, LibraryError):
        return None


@dataclass(frozen=True)
class StoredSetup:
    """A model's "unknown" setup as a worker read it; None: the model has none."""

    setup: OodSetup | None


def setup_job(name: str | None) -> Callable[[Callable[[], bool]], Iterator[StoredSetup]]:
    """A job for a worker: ``name``'s :func:`stored_setup`, so a dialog that needs it (the
    sort dialog's threshold box) reads no file on the GUI thread."""

    def job(should_stop: Callable[[], bool]) -> Iterator[StoredSetup]:
        yield StoredSetup(stored_setup(name))

    return job


def decider_for(name: str | None, threshold: float | None = None) -> Decider | None:
    """How to read ``name``'s results, with ``threshold`` in place of its own if given.

    ``name`` None: a model with no setup of its own (other weights, other classes).

    None when there is nothing to decide with: no setup and no threshold given.

    Raises:
        OodError: ``threshold`` is outside what the model's score can be.
    """
    setup = stored_setup(name)
    if threshold is None:
        return None if setup is None else Decider(setup.threshold)
    if setup is None:
        OodSetup("msp", threshold)  # checks the range of a probability
        return Decider(threshold, from_confidence=True)
    OodSetup(setup.method, threshold, setup.k)  # checks the range of the model's score
    return Decider(threshold)


def unknown_rule(decider: Decider) -> str:
    """What sends an image to "unknown", in words: the model's own score, or confidence."""
    if decider.from_confidence:
        return f"confidence under {decider.threshold:.0%}"
    return f"a score under the model's 'unknown' threshold ({decider.threshold:.4g})"


def threshold_range(setup: OodSetup | None) -> tuple[float, float]:
    """What a threshold for a model with ``setup`` may be: its score's range, or a
    probability's for a model without one."""
    return score_range("msp" if setup is None else setup.method)
