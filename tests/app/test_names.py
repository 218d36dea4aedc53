"""Suggested library names: built from the user's words, always accepted by the library."""

from __future__ import annotations

import pytest

from resnet_desktop.app.names import FALLBACK, new_model_name, suggest_name
from resnet_desktop.core.library import MAX_NAME_LENGTH, ModelLibrary, check_name


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("flowers", "resnet50"), "flowers-resnet50"),
        (("modèle", "resnet18"), "modele-resnet18"),
        (("my/data", "resnet50"), "my-data-resnet50"),
        (("resnet50",), "resnet50-2"),  # a built-in architecture's name is refused
        (("con.x",), "con-x"),  # "con.x" is reserved on Windows
        (("nul",), "nul-2"),
        (("数据",), FALLBACK),
        (("...", ""), FALLBACK),
        ((" spaced ", "name "), "spaced -name"),
    ],
)
def test_suggestions_are_names_the_library_accepts(parts: tuple[str, ...], expected: str):
    name = suggest_name(parts)
    assert name == expected
    check_name(name)  # raises if the library would refuse it


def test_taken_names_get_the_first_free_number_whatever_their_case():
    assert suggest_name(("a", "b"), {"A-B", "a-b-2"}) == "a-b-3"
    assert suggest_name((), {FALLBACK.upper()}) == f"{FALLBACK}-2"


def test_long_words_are_cut_so_a_number_still_fits():
    long = "x" * 200
    taken = {suggest_name((long,))}
    numbered = suggest_name((long,), taken)
    assert numbered.endswith("-2") and len(numbered) <= MAX_NAME_LENGTH
    check_name(numbered)


def test_new_names_avoid_the_models_of_the_library(tmp_path, tiny_weights):
    library = ModelLibrary(tmp_path)
    library.import_file(tiny_weights, "cifar_resnet20", [str(n) for n in range(10)], "mine-x")
    assert new_model_name("mine", "x", library=library) == "mine-x-2"
