"""The question asked when Classify finds nothing to do after a change of runtime.

Device, precision and engine are not part of a model's identity (they change speed, the
scores barely), so results computed before a change stay valid and Classify leaves them
alone. A user who just chose another precision expects to see it run: say why nothing
ran and offer to classify everything again.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget


def offer_redo(parent: QWidget, text: str, redo: Callable[[], object]) -> QMessageBox:
    """A question (not shown yet) whose Classify Again button calls ``redo``."""
    box = QMessageBox(QMessageBox.Icon.Question, "Results are up to date", text, parent=parent)
    box.setObjectName("redoOffer")
    again = box.addButton("Classify Again", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Keep Results", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    again.clicked.connect(redo)
    return box
