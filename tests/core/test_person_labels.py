"""Labels a person gives, in the catalog: stored as a history, shown in views, ordered."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_desktop.core.catalog import MAX_LABEL_CHARS, Catalog, LabelError, ModelIdentity, RunInfo
from resnet_desktop.core.catalog_view import SortKey, ViewQuery
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.zoo import Preprocess

RUN = RunInfo("cpu", "fp32", "torch")
PETS = ModelIdentity("pets", "c" * 64, ("cat", "dog", "bird"), Preprocess(32, None))


def _result(path: Path, top: int, confidence: float) -> Prediction:
    indices = (top, (top + 1) % 3)
    labels = tuple(PETS.class_names[i] for i in indices)
    return Prediction(path, labels, (confidence, 1 - confidence), indices)


@pytest.fixture
def catalog(tmp_path: Path):
    with Catalog.open(tmp_path / "catalog.sqlite3") as opened:
        yield opened


def test_the_latest_label_wins_and_an_undo_shows_the_one_before(catalog: Catalog, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not even an image: labels need no result")
    model = catalog.model_id(PETS)
    first = catalog.set_person_label(photo, "  cat ", model)
    second = catalog.set_person_label(photo, "dog")
    assert dict(catalog.person_labels([photo])) == {photo: "dog"}
    assert catalog.info().person_labels == 2
    assert catalog.remove_person_label(second, tmp_path / "other.jpg") is None  # not its
    assert catalog.remove_person_label(second, photo) == ("cat",)  # trimmed when stored
    assert catalog.remove_person_label(first, photo) == (None,)
    assert catalog.remove_person_label(first, photo) is None  # nothing left to take back
    assert dict(catalog.person_labels([photo])) == {photo: None}
    catalog.set_person_label(photo, "bird", model)  # its model's class set, for a retrain
    row = catalog._db.execute("SELECT class_set, model_id FROM person_labels").fetchone()
    assert row == (PETS.class_set, model)


@pytest.mark.parametrize("label", ["", "   ", "a\nb", "tab\there", "x" * (MAX_LABEL_CHARS + 1)])
def test_a_label_that_cannot_be_stored_is_refused_and_nothing_written(catalog, tmp_path, label):
    with pytest.raises(LabelError):
        catalog.set_person_label(tmp_path / "a.jpg", label)
    assert catalog.info().person_labels == 0 and catalog.info().images == 0


def test_a_label_keeps_the_images_results(catalog: Catalog, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"x")
    model = catalog.model_id(PETS)
    catalog.record_batch(model, [_result(photo, 0, 0.9)], RUN)
    catalog.set_person_label(photo, "dog", model)
    assert next(catalog.results_for([photo], model, 2))[1] is not None


def test_views_show_labels_count_them_and_order_a_review_least_sure_first(catalog, tmp_path):
    paths = [tmp_path / f"{name}.jpg" for name in "abcdefg"]
    for path in paths:
        path.write_bytes(path.name.encode())
    a, b, c, d, e, f, g = paths
    model = catalog.model_id(PETS)
    catalog.record_batch(
        model,
        [_result(a, 0, 0.9), _result(b, 1, 0.4), _result(c, 0, 0.6), _result(d, 2, 0.3),
         Prediction(e, error="cannot identify image")],
        RUN,
    )  # fmt: skip
    catalog.set_person_label(d, "Bird", model)  # labelled: reviewed already
    catalog.set_person_label(g, "cat")  # no result, but a person's label
    listing = catalog.listing()
    listing.add(paths)
    assert listing.counts(model).labelled == 2

    review = listing.view(ViewQuery(model, SortKey.REVIEW))
    rows = review.rows(0, 10)
    assert [row.path for row in rows] == [b, c, a, d, f, g, e]
    assert [row.person_label for row in rows] == [None, None, None, "Bird", None, "cat", None]

    grouped = listing.view(ViewQuery(model, SortKey.REVIEW, grouped=True)).rows(0, 10)
    # bird (d, by a person), cat (c, a: the model; g: a person), dog (b), then no label
    assert [row.path for row in grouped] == [d, c, a, g, b, f, e]
