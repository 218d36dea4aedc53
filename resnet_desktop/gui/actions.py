"""The main window's actions, declared as a table: object name, text, shortcuts, slot name.

Tests and menus find an action by its object name (``actionClassify``); the window builds
its menus and toolbar from the same table, so a shortcut is defined once.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

Keys = QKeySequence.StandardKey | str


@dataclass(frozen=True)
class ActionSpec:
    name: str  # objectName
    text: str
    slot: str  # name of the window's method the action triggers
    keys: tuple[Keys, ...] = ()
    tip: str = ""


ACTIONS = (
    ActionSpec("actionOpenFolder", "&Open Folder…", "open_folder", ("Ctrl+O",),
               "Add every image in a folder and its subfolders"),
    ActionSpec("actionAddImages", "&Add Images…", "add_images", ("Ctrl+Shift+O",)),
    ActionSpec("actionExportCsv", "&Export CSV…", "export_csv", ("Ctrl+E",),
               "Save the results of all rows as CSV"),
    ActionSpec("actionExportFilteredCsv", "Export &Filtered Rows as CSV…", "export_filtered_csv",
               ("Ctrl+Shift+E",)),
    ActionSpec("actionQuit", "&Quit", "close", ("Ctrl+Q",)),
    ActionSpec("actionCopy", "&Copy Selected Rows", "copy_selection", ("Ctrl+C",),
               "Copy the selected rows as CSV"),
    ActionSpec("actionClearList", "C&lear List", "clear_list"),
    ActionSpec("actionClassify", "&Classify", "classify", ("F5", "Ctrl+R"),
               "Classify the images without an up-to-date result (F5)"),
    ActionSpec("actionStop", "&Stop", "stop", ("Esc",), "Stop classifying or scanning (Esc)"),
    ActionSpec("actionImportWeights", "&Import Weights File…", "import_weights"),
    ActionSpec("actionFineTune", "&Fine-tune…", "open_fine_tune", (),
               "Train a model on your own labelled folders"),
    ActionSpec("actionEvaluate", "E&valuate…", "open_evaluate", (),
               "Measure the selected model's accuracy on a labelled folder"),
    ActionSpec("actionAbout", "&About ResNet Desktop", "show_about"),
)  # fmt: skip


def create_actions(window: QWidget) -> dict[str, QAction]:
    """An action per ACTIONS entry, added to ``window`` (so shortcuts work everywhere in it)."""
    actions = {}
    for spec in ACTIONS:
        action = QAction(spec.text, window)
        action.setObjectName(spec.name)
        action.setShortcuts([QKeySequence(key) for key in spec.keys])
        if spec.tip:
            action.setStatusTip(spec.tip)
            action.setToolTip(spec.tip)
        action.triggered.connect(getattr(window, spec.slot))
        window.addAction(action)
        actions[spec.name] = action
    return actions
