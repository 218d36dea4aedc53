"""The wizard that owns the five pages and stops their work when it closes."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from resnet_desktop.app.finetune import FineTuneState
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.gui.wizard.dataset_page import DatasetPage
from resnet_desktop.gui.wizard.model_page import ModelPage
from resnet_desktop.gui.wizard.options_page import OptionsPage
from resnet_desktop.gui.wizard.review_page import ReviewPage
from resnet_desktop.gui.wizard.train_page import TrainPage


class FineTuneWizard(QWizard):
    """Fine-tune a zoo or library model on a folder-per-class dataset and save it.

    Signals:
        modelSaved(str, bool): the library name of the new model, and whether the user
            wants to classify with it now.
    """

    modelSaved = Signal(str, bool)

    def __init__(
        self, parent: QWidget | None = None, runtime: RuntimeOptions = RuntimeOptions()
    ) -> None:
        super().__init__(parent)
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

    def _on_saved(self, name: str, use_now: bool) -> None:
        self.modelSaved.emit(name, use_now)
        self.accept()

    def _shutdown(self) -> None:
        """Closed, cancelled or finished: stop and join every worker, drop the weights."""
        for page in self._pages():
            page.shutdown()
        self.state.result = None
