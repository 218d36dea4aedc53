"""The window's "unknown": greyed rows that keep the best guess, and the threshold editor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from resnet_desktop.app.listing import AddPaths, ListingSession
from resnet_desktop.core.catalog import Catalog
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.ood import Decider
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.gui.manage_models import ManageModelsDialog
from resnet_desktop.gui.results_model import Column
from tests.gui.test_results_model import PETS, RUN, Table, _column

TIMEOUT = 30_000


@pytest.fixture
def scored(qapp, tmp_path: Path) -> Table:
    """Three rows of ``pets``: scores -0.2 and -0.9, and an error."""
    paths = [Path(f"/photos/{name}.jpg") for name in "abc"]
    predictions = [
        Prediction(paths[0], ("cat", "dog"), (0.9, 0.1), (0, 1), ood_score=-0.2),
        Prediction(paths[1], ("dog", "cat"), (0.99, 0.01), (1, 0), ood_score=-0.9),
        Prediction(paths[2], error="not an image"),
    ]
    session, _ = ListingSession.open(tmp_path / "catalog.sqlite3")
    with Catalog.open(session.path) as catalog:
        catalog.record_batch(catalog.model_id(PETS), predictions, RUN)
    table = Table(session)
    table.send(AddPaths(paths))
    table.show(model="pets", identity=PETS, top_k=2)
    yield table
    session.close()


def test_rows_below_the_threshold_read_unknown_greyed_with_the_best_guess(scored: Table):
    model = scored.model
    assert _column(model, Column.LABEL) == ["cat", "dog", "Error"]
    model.set_decider(Decider(-0.5))
    assert _column(model, Column.LABEL) == ["cat", "unknown (dog?)", "Error"]
    assert _column(model, Column.CONFIDENCE)[:2] == ["90.0%", "99.0%"]  # the guess's own
    greyed = _column(model, Column.LABEL, Qt.ItemDataRole.ForegroundRole)
    assert [colour is not None for colour in greyed] == [False, True, False]
    tooltip = model.index(1, Column.LABEL).data(Qt.ItemDataRole.ToolTipRole)
    assert "-0.9" in tooltip and "-0.5" in tooltip
    model.set_decider(None)
    assert _column(model, Column.LABEL)[1] == "dog"


def test_the_gallery_captions_read_unknown_as_the_table_does(scored: Table):
    from PySide6.QtGui import QColor

    from resnet_desktop.gui.review_gallery import _caption

    model, black = scored.model, QColor("black")
    model.set_decider(Decider(-0.5))
    captions = [_caption(model.row_at(row), black, model.is_unknown) for row in range(2)]
    assert [title for title, *_ in captions] == ["cat", "unknown (dog?)"]
    assert captions[1][1] == "99.0%" and captions[1][2] != black  # the guess's own, greyed


def give_setup(name: str, threshold: float) -> None:
    """A library model with an msp setup, as if fine-tuning had made one."""
    path = ModelLibrary().root / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["metrics"]["ood"] = {"method": "msp", "threshold": threshold, "suggested": threshold}
    path.write_text(json.dumps(data), encoding="utf-8")


def test_manage_models_edits_the_threshold_in_a_worker(qtbot, tiny_model):
    give_setup(tiny_model, 0.5)
    dialog = ManageModelsDialog(current=tiny_model)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.listed, timeout=TIMEOUT):
        dialog.show()
    assert dialog.threshold_button.isEnabled()
    dialog.threshold_button.click()
    question = dialog.findChild(QInputDialog)
    assert question.doubleValue() == 0.5 and "suggested 0.5" in question.labelText()
    assert (question.doubleMinimum(), question.doubleMaximum()) == (0.0, 1.0)  # a probability
    question.setDoubleValue(0.75)
    with qtbot.waitSignal(dialog.modelsChanged, timeout=TIMEOUT):
        question.accept()
    assert ModelLibrary().get(tiny_model).metrics["ood"]["threshold"] == 0.75
    assert dialog.table_model.index(0, 6).data() == "0.75"
    dialog.close()


def test_a_model_without_a_setup_has_no_threshold_to_edit(qtbot, tiny_model):
    dialog = ManageModelsDialog(current=tiny_model)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.listed, timeout=TIMEOUT):
        dialog.show()
    assert dialog.rename_button.isEnabled() and not dialog.threshold_button.isEnabled()
    dialog.close()


def test_the_wizard_says_below_what_images_will_read_unknown():
    from resnet_desktop.core.ood import OodSetup
    from resnet_desktop.core.trainer import EpochReport, FitResult, TrainConfig
    from resnet_desktop.core.zoo import SPECS
    from resnet_desktop.gui.wizard.train_page import result_text

    epoch = EpochReport(1, 5, 1.0, 0.5, 0.9, 0.75, 0.01, 1.0, 10.0, 8, True)
    result = FitResult(
        "cifar_resnet20", "random", ["a", "b"], SPECS["cifar_resnet20"].preprocess,
        TrainConfig(), history=[epoch], best_epoch=1, state_dict={},
    )  # fmt: skip
    assert "unknown" not in result_text(result)
    result.ood = OodSetup("knn", -0.61, 5)
    assert "Images scoring below -0.61 will read “unknown” (95% of" in result_text(result)
