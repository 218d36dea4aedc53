"""Reviewing in the window: the gallery, its keys, and the labels they give.

The gallery is a second view of the table's rows (:mod:`.review_gallery`). Review mode
orders the rows least sure first and turns keys into labels a person gives; a label is
sent to the listing's thread, which stores it in the catalog
(:func:`~resnet_desktop.app.review.apply_label`), and the row shows it once the catalog
has it. The GUI thread never writes the catalog itself. Backspace (and Ctrl+Z) takes
back this session's labels, newest first.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from PySide6.QtCore import QModelIndex, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractItemView, QLabel, QMenu, QStatusBar, QWidget

from resnet_desktop.app.listing import ListingService
from resnet_desktop.app.review import (
    LabelRefused,
    PersonLabelChanged,
    SetPersonLabel,
    UndoHistory,
    UndoPersonLabel,
    accepted_label,
    label_for_key,
    shortcut_labels,
    typed_label,
)
from resnet_desktop.core.catalog import LabelError
from resnet_desktop.core.catalog_view import SortKey
from resnet_desktop.core.errors import user_message
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.settings import Settings
from resnet_desktop.gui.image_viewer import (
    ImageViewer,
    open_in_system_viewer,
    reveal_in_file_manager,
)
from resnet_desktop.gui.results_model import PERSON_MARK, Column, ResultsModel, person_note
from resnet_desktop.gui.results_view import ResultsPane
from resnet_desktop.gui.review_pane import GalleryPane
from resnet_desktop.gui.table_flow import TableFlow


class ReviewFlow(QObject):
    """The gallery pane and review mode, between the window, the table and the listing.

    Signals:
        message(str): a short status line.
        labelShown(object): a PersonLabelChanged reached the rows (for tests).
    """

    message = Signal(str)
    labelShown = Signal(object)

    def __init__(
        self,
        listing: ListingService,
        results: ResultsModel,
        pane: ResultsPane,
        table: TableFlow,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._listing = listing
        self._results = results
        self._pane = pane
        self._table = table
        self.history = UndoHistory()
        self._sort_before: tuple[SortKey, bool, int, Qt.SortOrder] | None = None
        self.gallery = GalleryPane(results, pane)
        pane.views.addWidget(self.gallery)
        self.view = self.gallery.view
        self.view.setSelectionModel(pane.view.selectionModel())  # one selection, two views
        self.count_label = QLabel(objectName="labelledLabel")
        self.count_label.setToolTip("Images of the list that a person labelled")
        self._actions: dict[str, QAction] = {}
        self._connect()

    def _connect(self) -> None:
        view = self.view
        view.shortcutKey.connect(self._shortcut)
        view.acceptKey.connect(self._accept)
        view.undoKey.connect(self.undo)
        view.openRequested.connect(self.open_large)
        view.customContextMenuRequested.connect(lambda at: self._context_menu(view, at))
        table = self._pane.view
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(lambda at: self._context_menu(table, at))
        table.doubleClicked.connect(lambda index: self.open_large(index.row()))
        self.gallery.labelTyped.connect(self._typed)
        self.gallery.reviewToggled.connect(self._review_toggled)
        self.gallery.groupToggled.connect(self._group_toggled)
        self._pane.currentRowChanged.connect(self._current_changed)
        self._table.labelChanged.connect(self._label_changed)
        self._table.viewShown.connect(self._view_shown)
        self._table.rowsArrived.connect(self.show_count)

    @property
    def _window(self) -> QWidget:
        return cast(QWidget, self.parent())

    # --- settings and actions ---------------------------------------------------------

    def attach(self, actions: dict[str, QAction], settings: Settings, bar: QStatusBar) -> None:
        """Take the window's View actions, the saved gallery settings and a place in the
        status bar for the count of labelled images."""
        bar.addPermanentWidget(self.count_label)
        self.show_count()
        self._actions = actions
        self.gallery.size_slider.setValue(settings.gallery_tile)
        self.gallery.reviewToggled.connect(actions["actionReview"].setChecked)
        self.gallery.groupToggled.connect(actions["actionGroupByLabel"].setChecked)
        actions["actionGroupByLabel"].setChecked(settings.gallery_grouped)
        self.gallery.group_box.setChecked(settings.gallery_grouped)
        actions["actionGallery"].setChecked(settings.gallery_shown)
        self.show_gallery()

    def store(self, settings: Settings) -> None:
        settings.gallery_shown = self.gallery_shown
        settings.gallery_tile = self.gallery.size_slider.value()
        settings.gallery_grouped = self.gallery.group_box.isChecked()

    @property
    def gallery_shown(self) -> bool:
        return self._pane.views.currentWidget() is self.gallery

    def show_gallery(self) -> None:
        """Show the gallery or the table, as View → Gallery says (Ctrl+G)."""
        on = self._actions["actionGallery"].isChecked()
        row = self._pane.current_row()
        self._pane.views.setCurrentWidget(self.gallery if on else self._pane.view)
        if on:
            self.view.go_to(max(row, 0) if len(self._results) else -1)
            self.view.setFocus()
        else:
            self._pane.view.setFocus()
            if self.gallery.review_box.isChecked():
                self.gallery.review_box.setChecked(False)

    def review(self) -> None:
        """Turn review mode on or off, as View → Review says (the gallery comes with it)."""
        on = self._actions["actionReview"].isChecked()
        if on and not self.gallery_shown:
            self._actions["actionGallery"].setChecked(True)
            self.show_gallery()
        self.gallery.review_box.setChecked(on)

    def group(self) -> None:
        self.gallery.group_box.setChecked(self._actions["actionGroupByLabel"].isChecked())

    # --- order --------------------------------------------------------------------------

    def _review_toggled(self, on: bool) -> None:
        """Review: least sure first (the earlier order comes back after)."""
        header = self._pane.view.horizontalHeader()
        query = self._table.query
        if on:
            self._sort_before = (
                query.sort,
                query.descending,
                header.sortIndicatorSection(),
                header.sortIndicatorOrder(),
            )
            self._set_indicator(-1, Qt.SortOrder.AscendingOrder)
            self._table.arrange(SortKey.REVIEW, False, query.grouped)
            self._show_keys()
            self.view.setFocus()
        elif self._sort_before is not None:
            sort, descending, section, order = self._sort_before
            self._sort_before = None
            self._set_indicator(section, order)
            self._table.arrange(sort, descending, query.grouped)

    def _group_toggled(self, on: bool) -> None:
        query = self._table.query
        self._table.arrange(query.sort, query.descending, on)

    def _set_indicator(self, section: int, order: Qt.SortOrder) -> None:
        """Move the table's sort arrow without the header asking for a sort itself."""
        header = self._pane.view.horizontalHeader()
        header.blockSignals(True)
        header.setSortIndicator(section, order)
        header.blockSignals(False)
        header.viewport().update()

    def _view_shown(self) -> None:
        self.show_count()
        self.gallery.set_class_names(self._class_names())
        if self.gallery_shown and self.view.current_row() < 0 and len(self._results):
            self.view.go_to(0)

    # --- labelling ----------------------------------------------------------------------

    def _class_names(self) -> tuple[str, ...]:
        identity = self._results.query.identity
        return identity.class_names if identity is not None and self._results.results_known else ()

    def _current(self) -> tuple[int, Path, Prediction | None] | None:
        row = self.view.current_row()
        shown = self._results.row_at(row) if 0 <= row < len(self._results) else None
        if shown is None:
            return None
        prediction = shown.prediction if self._results.results_known else None
        return row, shown.path, prediction

    def _shortcut(self, key: str) -> None:
        current = self._current()
        if current is None:
            return
        labels = shortcut_labels(self._class_names(), current[2])
        label = label_for_key(key, labels)
        if label is None:
            self.message.emit(f"Key {key} gives no label here")
        else:
            self._give(current, label)

    def _accept(self) -> None:
        current = self._current()
        if current is None:
            return
        label = accepted_label(current[2])
        if label is None:
            self.message.emit("No prediction to accept: type a label, or classify first (F5)")
        else:
            self._give(current, label)

    def _typed(self, text: str) -> None:
        current = self._current()
        if current is None:
            return
        try:
            label = typed_label(text, self._class_names())
        except LabelError as error:
            self.message.emit(user_message(error))
            return
        self._give(current, label)

    def _give(self, current: tuple[int, Path, Prediction | None], label: str) -> None:
        """Send the label to the catalog and move on to the next image."""
        row, path, _ = current
        self._listing.submit(SetPersonLabel(path, label))
        if row + 1 < len(self._results):
            self.view.go_to(row + 1)

    def undo(self) -> None:
        """Take back the last label given in this session (Backspace, Ctrl+Z)."""
        done = self.history.pop()
        if done is None:
            self.message.emit("No label to undo")
            return
        number, path = done
        self._listing.submit(UndoPersonLabel(number, path))
        row = self._results.row_of(path)
        if row is not None and self.gallery_shown:
            self.view.go_to(row)

    def _label_changed(self, event: PersonLabelChanged | LabelRefused) -> None:
        if isinstance(event, LabelRefused):
            self.message.emit(event.message)
            return
        self._results.set_person_label(event.path, event.label)
        if event.number is not None:
            self.history.push(event.number, event.path)
            self.message.emit(f"{event.path.name}: labelled {event.label}")
        else:
            now = event.label if event.label is not None else "no label"
            self.message.emit(f"Undone: {event.path.name} now has {now}")
        self._show_keys()
        self.labelShown.emit(event)

    def show_count(self) -> None:
        count = self._results.labelled()
        self.count_label.setText(f"{PERSON_MARK} {count} labelled")
        self.count_label.setVisible(bool(count) or self.gallery.review_box.isChecked())

    def _current_changed(self, _row: int) -> None:
        if self.gallery.review_box.isChecked():
            self._show_keys()

    def _show_keys(self) -> None:
        current = self._current()
        prediction = current[2] if current is not None else None
        self.gallery.show_keys(shortcut_labels(self._class_names(), prediction))
        self.show_count()

    # --- opening ------------------------------------------------------------------------

    def open_large(self, row: int) -> None:
        """Show the image of ``row`` large, with what the model and a person said."""
        shown = self._results.row_at(row) if 0 <= row < len(self._results) else None
        if shown is None:
            return
        index = self._results.index(row, Column.TOP_K)
        parts = [str(shown.path)]
        if self._results.results_known and shown.prediction is not None:
            parts.append(str(index.data()) or str(shown.prediction.error))
        if shown.person_label is not None:
            note = person_note(shown, shown.prediction)
            parts.append(f"{PERSON_MARK} {shown.person_label}" + (f" ({note})" if note else ""))
        viewer = ImageViewer(shown.path, "  ·  ".join(parts), self._window)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.show()

    def _context_menu(self, view: QAbstractItemView, at: QPoint) -> None:
        index: QModelIndex = view.indexAt(at)
        shown = self._results.row_at(index.row()) if index.isValid() else None
        if shown is None:
            return
        menu = QMenu(view)
        menu.addAction("Open &Large", lambda: self.open_large(index.row()))
        menu.addAction("Open in &System Viewer", lambda: self._hand_over(shown.path, False))
        menu.addAction("Show in &File Manager", lambda: self._hand_over(shown.path, True))
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(view.viewport().mapToGlobal(at))

    def _hand_over(self, path: Path, reveal: bool) -> None:
        done = reveal_in_file_manager(path) if reveal else open_in_system_viewer(path)
        if not done:
            self.message.emit(f"The desktop could not open {path}")

    def shutdown(self) -> None:
        self.view.shutdown()
