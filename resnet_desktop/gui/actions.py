"""The main window's actions, declared as a table: object name, text, shortcuts, slot.

Tests and menus find an action by its object name (``actionClassify``); the window builds
its menus and toolbar from the same table, so a shortcut is defined once. The slots are
the window's methods themselves, not their names, so "find usages" of a method finds its
action and a renamed method cannot leave an action pointing nowhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence

if TYPE_CHECKING:
    from resnet_desktop.gui.main_window import MainWindow

Keys = QKeySequence.StandardKey | str


@dataclass(frozen=True)
class ActionSpec:
    name: str  # objectName
    text: str
    slot: Callable[[], object]  # the window's method the action triggers
    keys: tuple[Keys, ...] = ()
    tip: str = ""
    checkable: bool = False


def action_specs(window: MainWindow) -> tuple[ActionSpec, ...]:
    """The window's actions, each with the method of ``window`` it triggers."""
    return (
        ActionSpec("actionOpenFolder", "&Open Folder…", window.open_folder, ("Ctrl+O",),
                   "Show the images of a folder and its subfolders, replacing the list"),
        ActionSpec("actionAddFolder", "Add &Folder…", window.add_folder, ("Ctrl+Shift+D",),
                   "Add the images of another folder to the list"),
        ActionSpec("actionAddImages", "&Add Images…", window.add_images, ("Ctrl+Shift+O",)),
        ActionSpec("actionExportCsv", "&Export CSV…", window.table.export_csv, ("Ctrl+E",),
                   "Save the results of all rows as CSV"),
        ActionSpec("actionExportFilteredCsv", "Export &Filtered Rows as CSV…",
                   window.table.export_filtered_csv, ("Ctrl+Shift+E",)),
        ActionSpec("actionOpenCatalog", "Open &Catalog…", window.catalog.open_catalog, (),
                   "Record results into another catalog file"),
        ActionSpec("actionNewCatalog", "&New Catalog…", window.catalog.new_catalog, (),
                   "Start an empty catalog file and record results into it"),
        ActionSpec("actionSortIntoFolders", "&Sort into Folders…", window.sort_into_folders,
                   ("Ctrl+Shift+S",), "Copy, move or link the listed images into folders by label"),
        ActionSpec("actionUndoSort", "&Undo Sort…", window.undo_sort, (),
                   "Put back everything a sort into folders did"),
        ActionSpec("actionQuit", "&Quit", window.close, ("Ctrl+Q",)),
        ActionSpec("actionCopy", "&Copy Selected Rows", window.table.copy_selection, ("Ctrl+C",),
                   "Copy the selected rows as CSV"),
        ActionSpec("actionClearList", "C&lear List", window.clear_list),
        ActionSpec("actionPreferences", "&Preferences…", window.open_preferences, ("Ctrl+,",),
                   "Where and how the network runs: processor or graphics card, precision"),
        ActionSpec("actionClassify", "&Classify", window.classify, ("F5", "Ctrl+R"),
                   "Classify the images without an up-to-date result (F5)"),
        ActionSpec("actionClassifyAgain", "Classify &Again", window.classify_again,
                   ("Ctrl+Shift+R",), "Classify every image again, replacing stored results"),
        ActionSpec("actionStop", "&Stop", window.stop, ("Esc",),
                   "Stop classifying or scanning (Esc)"),
        ActionSpec("actionImportWeights", "&Import Weights File…", window.import_weights),
        ActionSpec("actionFineTune", "&Fine-tune…", window.open_fine_tune, (),
                   "Train a model on your own labelled folders"),
        ActionSpec("actionFineTuneCorrections", "Fine-tune with My &Corrections…",
                   window.fine_tune_corrections, (),
                   "Retrain the selected model on the images you labelled for it"),
        ActionSpec("actionEvaluate", "E&valuate…", window.open_evaluate, (),
                   "Measure the selected model's accuracy on a labelled folder"),
        ActionSpec("actionManageModels", "&Manage Models…", window.manage_models, (),
                   "Rename, relabel, delete or export the models of your library"),
        ActionSpec("actionUserGuide", "&User Guide", window.show_user_guide, ("F1",)),
        ActionSpec("actionShortcuts", "&Keyboard Shortcuts", window.show_shortcuts, ("Ctrl+/",)),
        ActionSpec("actionAbout", "&About ResNet Desktop", window.show_about),
        ActionSpec("actionGallery", "&Gallery", window.review.show_gallery, ("Ctrl+G",),
                   "Show the images as a grid of thumbnails instead of the table",
                   checkable=True),
        ActionSpec("actionReview", "&Review Labels", window.review.review,
                   ("Ctrl+L",), "Least sure first: label each image with a key "
                   "(digits, Enter accepts, Backspace undoes)", checkable=True),
        ActionSpec("actionGroupByLabel", "Group by &Label", window.review.group, (),
                   "Keep the images of each label together", checkable=True),
        ActionSpec("actionUndoLabel", "&Undo Label", window.review.undo, ("Ctrl+Z",),
                   "Take back the last label you gave"),
    )  # fmt: skip


def create_actions(window: MainWindow) -> dict[str, QAction]:
    """An action per entry of the table, added to ``window`` (so shortcuts work everywhere)."""
    actions = {}
    for spec in action_specs(window):
        action = QAction(spec.text, window)
        action.setObjectName(spec.name)
        action.setShortcuts([QKeySequence(key) for key in spec.keys])
        action.setCheckable(spec.checkable)
        if spec.tip:
            action.setStatusTip(spec.tip)
            action.setToolTip(spec.tip)
        action.triggered.connect(spec.slot)
        window.addAction(action)
        actions[spec.name] = action
    return actions
