"""Target choices a type-to-filter list offers (the exact name first, the photo's top classes before the rest) and
suggestions for a name that is not there, on the 1,000 ImageNet names."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from explainers.errors import TargetError
from explainers.models.imagenet import imagenet_names
from explainers.targets import exact_name, ranked_choices, resolve_target, suggestions

NAMES = list(imagenet_names())


def _first_containing(choices: list[str], typed: str) -> str:
    """What Gradio's dropdown picks on Enter: the first choice whose label contains the typed text (any case)."""
    return next(c for c in choices if typed.lower() in c.lower())


@pytest.mark.parametrize(
    ("typed", "picked"), [("espresso", "espresso"), ("cup", "cup"), ("tabby", "tabby"), ("Goldfish", "goldfish")]
)
def test_the_first_choice_containing_a_typed_name_is_that_name(typed: str, picked: str) -> None:
    assert NAMES.index("espresso maker") < NAMES.index("espresso")  # in model order the longer name came first
    assert _first_containing(ranked_choices(NAMES), typed) == picked


def test_the_photos_top_classes_come_first_in_score_order() -> None:
    scores = [0.0] * len(NAMES)
    for rank, name in enumerate(["espresso", "cup", "eggnog"]):
        scores[NAMES.index(name)] = 1.0 - rank / 10
    choices = ranked_choices(NAMES, scores, top=3)
    assert choices[:3] == ["espresso", "cup", "eggnog"]
    assert sorted(choices) == sorted(NAMES)


def test_an_exact_name_ignores_case_and_spaces_and_nothing_else() -> None:
    assert exact_name(NAMES, "  Espresso ") == "espresso"
    assert exact_name(NAMES, "espress") is None
    assert exact_name(NAMES, "") is None


@pytest.mark.parametrize(("typed", "first"), [("espreso", "espresso"), ("coffee", "coffee mug"), ("tabbby", "tabby")])
def test_suggestions_put_the_closest_name_first_for_substrings_and_typos(typed: str, first: str) -> None:
    assert first in suggestions(NAMES, typed)[:2]
    assert "tench" not in suggestions(NAMES, typed)


def test_an_unknown_target_suggests_the_near_spelling() -> None:
    loaded: Any = SimpleNamespace(task=SimpleNamespace(names=tuple(NAMES), kind="multiclass"))
    with pytest.raises(TargetError, match="did you mean: espresso"):
        resolve_target(loaded, "espreso")
