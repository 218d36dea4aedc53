"""The table's side of the listing: which view it asks for, and what comes back.

The window's list and its views live in the listing's thread
(:class:`~resnet_desktop.app.listing.ListingService`); this object turns what the user
does to the table (a header click, a filter, top-k, a model's results, Export, Copy)
into requests, and the listing's events into the table model, the clipboard and status
lines. It never waits for an answer: the table shows the new view when it comes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from resnet_desktop.app.listing import (
    CatalogOpened,
    CatalogProblem,
    Copied,
    CopyRows,
    Counted,
    CountRows,
    ExportCsv,
    Exported,
    ExportFailed,
    FetchPage,
    ListingEvent,
    ListingService,
    PageReady,
    Refresh,
    ShowQuery,
    Synced,
    TableQuery,
    ViewReady,
)
from resnet_desktop.app.review import LabelRefused, PersonLabelChanged
from resnet_desktop.core.catalog import ModelIdentity
from resnet_desktop.core.catalog_view import SortKey
from resnet_desktop.core.settings import Settings
from resnet_desktop.gui.catalog_flow import CatalogFlow
from resnet_desktop.gui.messages import show_message
from resnet_desktop.gui.results_model import ResultsModel
from resnet_desktop.gui.results_view import ResultsPane

NOTHING_TO_EXPORT = "Nothing to export yet: classify the images first (F5)"


class TableFlow(QObject):
    """Asks the listing for views, pages, exports and copies for the results table.

    Signals:
        viewShown(): the table shows a new view.
        rowsArrived(): rows or counts came: what shows the current row may show more.
        synced(object): the tag of a Sync request: the listing served everything before it.
        message(str): a short status line for the window's status bar.
        labelChanged(object): a PersonLabelChanged or LabelRefused of the review.
    """

    viewShown = Signal()
    labelChanged = Signal(object)
    rowsArrived = Signal()
    synced = Signal(object)
    message = Signal(str)

    def __init__(
        self,
        listing: ListingService,
        results: ResultsModel,
        pane: ResultsPane,
        catalog: CatalogFlow,
        settings: Settings,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self._listing = listing
        self._results = results
        self._pane = pane
        self._catalog = catalog
        self._query = TableQuery()  # what the table is to show (the listing catches up)
        results.pageNeeded.connect(self._fetch)
        results.sortRequested.connect(self._sort)
        pane.filterChanged.connect(self._filter)

    @property
    def _window(self) -> QWidget:
        return cast(QWidget, self.parent())

    # --- what to show ---------------------------------------------------------------

    def show_model(self, name: str | None, identity: ModelIdentity | None) -> None:
        """Show ``name``'s results (its identity as :func:`identity_for` found it)."""
        self._show(dataclasses.replace(self._query, model=name, identity=identity))

    @property
    def query(self) -> TableQuery:
        """What the table is to show (the view on screen may not have caught up)."""
        return self._query

    def arrange(self, sort: SortKey, descending: bool, grouped: bool) -> None:
        """Show the rows in this order, one label's together when ``grouped`` (the
        gallery's review order and grouping)."""
        self._show(
            dataclasses.replace(self._query, sort=sort, descending=descending, grouped=grouped)
        )

    def set_top_k(self, top_k: int) -> None:
        self._show(dataclasses.replace(self._query, top_k=top_k))

    def refresh(self) -> None:
        """Results were recorded: read the view again, from the rows on screen."""
        self._listing.submit(Refresh(self._pane.first_visible_row()))

    def count(self) -> None:
        """Ask for the done/failed counts again (during a run)."""
        self._listing.submit(CountRows())

    def _show(self, query: TableQuery) -> None:
        """Ask for ``query``'s view; asked twice (Qt sorts twice on a click), ask once."""
        if query != self._query:
            self._query = query
            self._listing.submit(ShowQuery(query, self._pane.first_visible_row()))

    def _fetch(self, generation: int, first: int) -> None:
        self._listing.submit(FetchPage(generation, first))

    def _sort(self, key: SortKey, descending: bool) -> None:
        self._show(dataclasses.replace(self._query, sort=key, descending=descending))

    def _filter(self, label_text: str, min_confidence: float) -> None:
        query = dataclasses.replace(
            self._query, label_text=label_text, min_confidence=min_confidence
        )
        self._show(query)

    # --- export and copy ------------------------------------------------------------

    def export_csv(self) -> None:
        """Save the results of every row as CSV, in the table's order."""
        self._export(filtered=False)

    def export_filtered_csv(self) -> None:
        """Save the results of the rows the filters show, in the table's order."""
        self._export(filtered=True)

    def _export(self, filtered: bool) -> None:
        done, failed = self._results.counts()[1:]
        if not (done or failed) or (filtered and not len(self._results)):
            self.message.emit(NOTHING_TO_EXPORT)
            return
        default = str(Path(self._settings.last_folder or Path.home()) / "predictions.csv")
        path, _ = QFileDialog.getSaveFileName(
            self._window, "Export CSV", default, "CSV files (*.csv)"
        )
        if path:
            self._listing.submit(ExportCsv(Path(path), filtered))
            self.message.emit(f"Exporting to {path}…")

    def copy_selection(self) -> None:
        """Copy the selected rows' results as CSV text (Ctrl+C)."""
        ranges = self._pane.selected_ranges()
        if ranges:
            self._listing.submit(CopyRows(self._results.generation, ranges))
        else:
            self.message.emit("Select classified rows to copy")

    # --- the listing's answers ------------------------------------------------------

    def handle(self, event: ListingEvent) -> None:
        """Take an event of the listing's job (connected to its worker's ``yielded``)."""
        match event:
            case ViewReady():
                self._results.show_view(event)
                self.viewShown.emit()
            case PageReady():
                self._results.set_page(event)
                self.rowsArrived.emit()
            case Counted():
                self._results.set_counts(event.counts)
                self.rowsArrived.emit()
            case Exported() | ExportFailed() | Copied():
                self._delivered(event)
            case CatalogOpened():
                self._catalog.catalog_opened(event)
            case CatalogProblem():
                self._catalog.catalog_problem(event)
            case Synced():
                self.synced.emit(event.tag)
            case PersonLabelChanged() | LabelRefused():
                self.labelChanged.emit(event)
            case _:
                raise TypeError(f"unknown event from the listing: {event!r}")

    def _delivered(self, event: Exported | ExportFailed | Copied) -> None:
        match event:
            case Exported(rows=0):
                self.message.emit(NOTHING_TO_EXPORT)
            case Exported(path=path, rows=rows):
                self.message.emit(f"Exported {rows} rows to {path}")
            case ExportFailed(message=message):
                show_message(self._window, "Export failed", message, QMessageBox.Icon.Warning)
            case Copied(rows=0):
                self.message.emit("Select classified rows to copy")
            case Copied(text=text, rows=rows):
                QApplication.clipboard().setText(text)
                self.message.emit(f"Copied {rows} rows")
