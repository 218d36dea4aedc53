"""The wizard's last page: the best epoch's validation metrics, and the name to save under."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from resnet_desktop.app.finetune import FineTuneState
from resnet_desktop.app.names import new_model_name
from resnet_desktop.core.library import LibraryError, LibraryModel, ModelLibrary
from resnet_desktop.core.train_config import FitResult
from resnet_desktop.gui.evaluation_view import EvalReportView
from resnet_desktop.gui.widgets import InlineError
from resnet_desktop.gui.wizard.train_page import result_text
from resnet_desktop.gui.workers import JobRunner


def name_problem(name: str) -> str:
    """Why ``name`` cannot be used for a new library model ('' if it can)."""
    try:
        ModelLibrary().check_new_name(name)  # damaged entries count as taken too
    except LibraryError as error:
        return str(error)
    return ""


class ReviewPage(QWizardPage):
    """Validation metrics of the best epoch, and the name to save the model under.

    Signals:
        saved(str, bool): the model was saved under this name; whether to use it now.
    """

    saved = Signal(str, bool)

    def __init__(self, state: FineTuneState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setTitle("Review and save")
        self.setSubTitle("How the best epoch does on the validation images.")
        self.runner = JobRunner(self)
        self.runner.item.connect(self._on_saved)
        self.runner.failed.connect(self._on_failed)
        self.runner.finished.connect(self._on_finished)
        self._saved_name: str | None = None
        self.summary = QLabel(wordWrap=True)
        self.report_view = EvalReportView()
        self.name_edit = QLineEdit(placeholderText="A name for the model library")
        self.name_edit.textChanged.connect(self._check_name)
        self.name_error = InlineError()
        self.use_now = QCheckBox("Use this model now", checked=True)
        form = QFormLayout()
        form.addRow("Model name:", self.name_edit)
        form.addRow("", self.name_error)
        form.addRow("", self.use_now)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.report_view, 1)
        layout.addLayout(form)

    def first_field(self) -> QWidget:
        return self.name_edit

    def initializePage(self) -> None:
        result = self.state.result
        self.summary.setText(result_text(result) if result else "")
        self.report_view.set_report(result.report if result else None)
        if not self.name_edit.text() and result is not None:
            self.name_edit.setText(self._suggestion(result))
        self._check_name()
        self.wizard().setButtonText(QWizard.WizardButton.FinishButton, "Save")

    def _suggestion(self, result: FitResult) -> str:
        dataset = self.state.scan.root.name if self.state.scan else "dataset"
        return new_model_name(dataset, result.architecture)

    def _check_name(self) -> None:
        self.name_error.setText(name_problem(self.name_edit.text()))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return (
            self.state.result is not None and not self.runner.running and not self.name_error.text()
        )

    def validatePage(self) -> bool:
        """Finish: save in the background; the wizard closes once the model is written."""
        if self._saved_name is not None:
            return True
        result, name = self.state.result, self.name_edit.text()
        if result is None or self.runner.running:
            return False
        from resnet_desktop.core.trainer import save_model

        self.name_error.setText("")
        self.runner.start(lambda _stop: [save_model(result, name)])
        self.completeChanged.emit()
        return False

    def _on_saved(self, model: LibraryModel) -> None:
        self._saved_name = model.name
        self.saved.emit(model.name, self.use_now.isChecked())

    def _on_failed(self, message: str) -> None:
        self.name_error.setText(message)

    def _on_finished(self, _completed: bool) -> None:
        self.completeChanged.emit()

    def shutdown(self) -> None:
        self.runner.shutdown()
        self.report_view.shutdown()
