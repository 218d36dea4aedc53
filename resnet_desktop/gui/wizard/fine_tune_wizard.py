"""The wizard that owns the five pages and stops their work when it closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMessageBox, QWidget, QWizard

from resnet_desktop.app.finetune import FineTuneState
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.gui.wizard.dataset_page import DatasetPage
from resnet_desktop.gui.wizard.model_page import ModelPage
from resnet_desktop.gui.wizard.options_page import OptionsPage
from resnet_desktop.gui.wizard.review_page import ReviewPage
from resnet_desktop.gui.wizard.train_page import TrainPage

# Builds the question asked before unsaved training is thrown away (tests pass their own).
DiscardBox: TypeAlias = Callable[[QWidget, str], QMessageBox]


def discard_box(parent: QWidget, text: str) -> QMessageBox:
    """Discard or keep: Keep is the default, so a stray Enter never throws work away."""
    box = QMessageBox(QMessageBox.Icon.Question, "Discard the model?", text, parent=parent)
    box.setStandardButtons(QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
    box.button(QMessageBox.StandardButton.Cancel).setText("Keep Working")
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    return box


class FineTuneWizard(QWizard):
    """Fine-tune a zoo or library model on a folder-per-class dataset and save it.

    Signals:
        modelSaved(str, bool): the library name of the new model, and whether the user
            wants to classify with it now.
    """

    modelSaved = Signal(str, bool)

    def __init__(
        self,
        parent: QWidget | None = None,
        runtime: RuntimeOptions = RuntimeOptions(),
        ask_discard: DiscardBox = discard_box,
    ) -> None:
        super().__init__(parent)
        self.ask_discard = ask_discard
        self.setWindowTitle("Fine-tune a model")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage)
        self.state = FineTuneState()
        self.dataset_page = DatasetPage(self.state)
        self.model_page = ModelPage(self.state)
        self.options_page = OptionsPage(self.state, runtime)
        self.train_page = TrainPage(self.state)
        self.review_page = ReviewPage(self.state)
        for page in self._pages():
            self.addPage(page)
        self.review_page.saved.connect(self._on_saved)
        self.currentIdChanged.connect(self._focus_first_field)
        self.finished.connect(self._shutdown)
        self.resize(960, 720)

    def _pages(self) -> tuple[Any, ...]:
        return (
            self.dataset_page,
            self.model_page,
            self.options_page,
            self.train_page,
            self.review_page,
        )

    def _focus_first_field(self) -> None:
        """Each page starts with the keyboard in its first field (after QWizard's own pick)."""
        page = self.currentPage()
        field = page.first_field() if page is not None else None
        if field is not None:
            field.setFocus()

    def unsaved_work(self) -> str:
        """What closing now would throw away, as a question's text ('' if nothing)."""
        if self.train_page.runner.running:
            return "Training is still running. Stop it and discard what it has learnt so far?"
        result = self.state.result
        if result is not None and result.savable:
            return "The trained model has not been saved. Close the wizard and discard it?"
        return ""

    def should_close(self) -> bool:
        """Whether to close: yes when nothing unsaved would be lost, else as the user says."""
        text = self.unsaved_work()
        if not text:
            return True
        box = self.ask_discard(self, text)
        box.exec()
        return box.clickedButton() is box.button(QMessageBox.StandardButton.Discard)

    def reject(self) -> None:
        """Cancel, Escape and the window's close button all come here: ask first."""
        if self.should_close():
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        """The title bar's close button asks (through reject); the program's close() does not.

        The main window closes its dialogs as it quits and goes on quitting whatever they
        answer: a wizard kept open then would be destroyed with its threads running.
        """
        if event.spontaneous():
            super().closeEvent(event)
        else:
            if self.isVisible():
                QWizard.reject(self)  # hides; ``finished`` stops and joins the workers
            event.accept()

    def _on_saved(self, name: str, use_now: bool) -> None:
        self.modelSaved.emit(name, use_now)
        self.accept()

    def _shutdown(self) -> None:
        """Closed, cancelled or finished: stop and join every worker, drop the weights."""
        for page in self._pages():
            page.shutdown()
        self.state.result = None
