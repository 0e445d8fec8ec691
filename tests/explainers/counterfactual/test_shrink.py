"""The sparsity phase returns the smallest valid edit it found, on the planted cue, within its budget; goals batch;
the headline says what the prediction became."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from planted import CUE_BOXES, cue_classifier, cue_regressor, noise_photo, share_inside

from explainers import pipeline
from explainers.counterfactual import (
    Goal,
    explain,
    explain_many,
    headline,
    other_classes,
    parse_goal,
    success_rate,
)
from explainers.counterfactual import shrink as shrink_module
from explainers.counterfactual.goals import resolve
from explainers.errors import OptionError, TargetError
from explainers.models.predict import model_outputs, predict
from explainers.models.preprocess import prepare_pil
from explainers.models.tasks import decide
from explainers.types import Counterfactual, LoadedModel, PreparedImage, TaskInfo

torch.set_num_threads(1)

UPLOADS = {"square": (64, 64), "wider, cropped": (80, 64), "large": (320, 256)}


def _cropped(model: LoadedModel, size: tuple[int, int]) -> LoadedModel:
    """The model with timm's usual centre crop when the upload is not already its input size."""
    if size == (64, 64):
        return model
    return dataclasses.replace(model, data_config={**model.data_config, "crop_pct": 0.875})


def _met_after_upload(model: LoadedModel, result: Counterfactual, goal: str | Goal) -> bool:
    """Whether the counterfactual's PNG, uploaded again, meets the goal (judged against the original prediction)."""
    again = prepare_pil(model, Image.fromarray(result.rgb))
    parsed = parse_goal(model, goal) if isinstance(goal, str) else goal
    objective, _ = resolve(model, parsed, result.before)
    return bool(objective.met(model_outputs(model, again.image))[0])


def _value_goal(model: LoadedModel, prepared: PreparedImage, move: float) -> str:
    a = float(predict(model, prepared).scores[0])
    return f"a = {a + move:.4f} ± 0.03 g; hold b ± 0.02 g"


@pytest.mark.parametrize("move", [0.3, -0.3])
@pytest.mark.parametrize("upload", list(UPLOADS))
def test_a_planted_regression_edit_shrinks_onto_the_cue_of_the_output_it_moves(upload: str, move: float) -> None:
    model = _cropped(cue_regressor(), UPLOADS[upload])
    prepared = prepare_pil(model, noise_photo(1, UPLOADS[upload]))
    goal = _value_goal(model, prepared, move)
    result = explain(model, prepared, goal=goal, budget=None)
    assert result.valid, result.message
    assert _met_after_upload(model, result, goal)
    assert abs(result.after.scores[1] - result.before.scores[1]) <= 0.02  # the held output stays in its band
    assert share_inside(result.delta, CUE_BOXES[0]) >= 0.7
    assert result.metrics["touched_share"] <= 0.2
    assert result.metrics["l1"] <= result.metrics["first_valid"]["l1"]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("upload", list(UPLOADS))
def test_a_planted_class_edit_shrinks_onto_the_cue(upload: str, seed: int) -> None:
    model = _cropped(cue_classifier(), UPLOADS[upload])
    prepared = prepare_pil(model, noise_photo(seed, UPLOADS[upload]))
    goal = "other" if predict(model, prepared).decision == "evidence" else "evidence"
    result = explain(model, prepared, goal=goal, budget=None)
    assert result.valid, result.message
    assert _met_after_upload(model, result, goal)
    assert share_inside(result.delta, CUE_BOXES[0]) >= 0.7
    assert result.metrics["touched_share"] <= 0.2


def test_the_metrics_report_the_first_valid_edit_and_the_final_one() -> None:
    model = cue_classifier()
    prepared = prepare_pil(model, noise_photo(3, (320, 256)))
    result = explain(model, prepared, goal="other", budget=None)
    first, final = result.metrics["first_valid"], result.metrics
    assert set(first) >= {"l1", "l2", "linf_levels", "changed_share", "touched_share", "tv", "seconds"}
    assert final["l1"] < first["l1"] / 2 and final["touched_share"] < first["touched_share"]
    assert final["shrink"]["steps"] == final["options"]["shrink_steps"] == 60
    assert final["shrink"]["stopped"] == "steps" and 0 < final["shrink"]["best_step"] <= 60
    assert final["l1"] == pytest.approx(float(np.abs(result.delta).sum()), rel=1e-4)


def test_without_a_sparsity_phase_the_first_valid_edit_is_returned() -> None:
    model = cue_classifier()
    prepared = prepare_pil(model, noise_photo(3))
    result = explain(model, prepared, goal="other", shrink_steps=0)
    assert result.valid and result.metrics["shrink"] == {"steps": 0, "renders": 0, "best_step": 0, "stopped": "off"}
    assert result.metrics["l1"] == result.metrics["first_valid"]["l1"]


def test_a_candidate_the_round_trip_undoes_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    model = cue_classifier()
    prepared = prepare_pil(model, noise_photo(3, (80, 64)))
    first = explain(model, prepared, goal="other", shrink_steps=0)
    real = shrink_module.round_trip

    def undone(model: LoadedModel, prepared: PreparedImage, change: torch.Tensor) -> Any:
        return real(model, prepared, torch.zeros_like(change))  # the upload comes back as it was: never valid

    monkeypatch.setattr(shrink_module, "round_trip", undone)
    result = explain(model, prepared, goal="other", budget=None)
    assert result.metrics["shrink"]["renders"] > 0 and result.metrics["shrink"]["best_step"] == 0
    assert result.valid and np.array_equal(result.rgb, first.rgb)


@pytest.mark.parametrize("seed", range(3))
def test_the_returned_edit_is_valid_when_the_upload_is_smaller_than_the_model_input(seed: int) -> None:
    model = _cropped(cue_classifier(), (40, 30))
    prepared = prepare_pil(model, noise_photo(seed, (40, 30)))
    goal = "other" if predict(model, prepared).decision == "evidence" else "evidence"
    result = explain(model, prepared, goal=goal, budget=None)
    assert result.valid and _met_after_upload(model, result, goal)


def test_the_budget_stops_the_sparsity_phase_at_the_clock() -> None:
    model = cue_classifier()
    prepared = prepare_pil(model, noise_photo(3))
    now = [0.0]

    def tick(fraction: float, message: str) -> None:  # every shrink step takes "one second"
        if message.startswith("shrinking"):
            now[0] += 1.0

    result = explain(model, prepared, goal="other", budget=3.0, progress=tick, clock=lambda: now[0])
    assert result.valid
    assert result.metrics["shrink"]["steps"] == 3 and result.metrics["shrink"]["stopped"] == "budget"
    assert result.metrics["options"]["budget"] == 3.0


def test_a_budget_spent_before_the_first_valid_edit_leaves_it_unshrunk() -> None:
    model = cue_classifier()
    prepared = prepare_pil(model, noise_photo(3))
    result = explain(model, prepared, goal="other", budget=0.0)
    assert result.valid and result.metrics["shrink"]["steps"] == 0 and result.metrics["shrink"]["stopped"] == "budget"
    assert result.metrics["l1"] == result.metrics["first_valid"]["l1"]


def test_several_goals_in_one_batch_give_what_each_gives_alone() -> None:
    model = cue_regressor()
    prepared = prepare_pil(model, noise_photo(2))
    goals = [_value_goal(model, prepared, 0.3), _value_goal(model, prepared, -0.3), "b = 0.5 ± 0.05"]
    together = explain_many(model, prepared, goals=goals, budget=None)
    alone = [explain(model, prepared, goal=g, budget=None) for g in goals]
    assert [r.request for r in together] == [r.request for r in alone]
    assert success_rate(together) == success_rate(alone) == 1.0
    for batched, single in zip(together, alone, strict=True):
        # Batched convolutions may differ from single ones in the last float bits, which can tip an 8-bit rounding.
        assert np.abs(batched.delta - single.delta).max() <= 1 / 255 + 1e-6
        assert batched.metrics["l1"] == pytest.approx(single.metrics["l1"], rel=0.05)


def test_every_other_top_class_is_one_goal() -> None:
    task = TaskInfo("multiclass", ("cup", "espresso", "mug", "plate", "spoon", "bowl"))
    prediction = decide(task, np.array([2.0, 5.0, 1.0, 0.5, 0.1, -1.0]))
    assert other_classes(prediction, 4) == [Goal("class", n) for n in ("cup", "mug", "plate")]


def test_other_classes_needs_a_multiclass_prediction() -> None:
    prediction = decide(TaskInfo("regression", ("a",)), np.array([1.0]))
    with pytest.raises(TargetError, match="multiclass"):
        other_classes(prediction)


def test_other_classes_needs_at_least_two_classes() -> None:
    prediction = decide(TaskInfo("multiclass", ("a", "b")), np.array([1.0, 0.0]))
    with pytest.raises(OptionError, match="k must be a whole number from 2"):
        other_classes(prediction, 1)


def test_the_success_rate_of_an_empty_batch_is_zero() -> None:
    assert success_rate([]) == 0.0


@pytest.mark.parametrize("goals", [[], "other", [Goal("other")] * 65])
def test_a_batch_of_no_goals_a_bare_goal_or_too_many_is_refused(goals: Any) -> None:
    model = cue_classifier()
    with pytest.raises(OptionError, match="goals must be a list"):
        explain_many(model, prepare_pil(model, noise_photo(3)), goals=goals)


def _result(task: TaskInfo, before: list[float], after: list[float], goal: dict[str, Any], **kw: Any) -> Counterfactual:
    """A Counterfactual with only what headline reads filled in."""
    empty = np.zeros((1, 1, 3), dtype=np.float32)
    return Counterfactual(
        request=kw.get("request", "a goal"),
        valid=kw.get("valid", True),
        pixels=empty,
        rgb=empty.astype(np.uint8),
        delta=empty,
        before=decide(task, np.array(before)),
        after=decide(task, np.array(after)),
        metrics={"goal": goal},
    )


def test_the_headline_of_a_class_change_names_both_top_classes() -> None:
    task = TaskInfo("multiclass", ("espresso", "cup", "mug"))
    result = _result(task, [5.2, 2.0, 0.0], [1.2, 1.4, 0.9], {"kind": "other", "name": "espresso"})
    assert headline(result) == "espresso 96% -> cup 41%"


def test_the_headline_of_a_value_change_gives_units_and_held_bands() -> None:
    task = TaskInfo("regression", ("calories", "protein"), units=("kcal", "g"))
    goal = {
        "kind": "band",
        "name": "calories",
        "value": 350.0,
        "tolerance": 10.0,
        "unit": "kcal",
        "held": [{"name": "protein", "value": 12.0, "tolerance": 5.0, "unit": "g"}],
    }
    result = _result(task, [312.0, 12.0], [350.0, 12.0], goal)
    assert headline(result) == "calories 312 kcal -> 350 kcal (protein held at 12 g ± 5)"
    moved = _result(task, [312.0, 12.0], [350.0, 13.5], goal)
    assert headline(moved) == "calories 312 kcal -> 350 kcal (protein held at 12 g ± 5, now 13.5 g)"


def test_the_headline_of_a_label_switch_says_off_and_on() -> None:
    task = TaskInfo("multilabel", ("cat", "dog"), thresholds=(0.5, 0.5), abstain=0.25)
    result = _result(task, [-0.8, 2.0], [1.45, 2.0], {"kind": "on", "name": "cat"})
    assert headline(result) == "cat off (31%) -> on (81%)"


def test_the_headline_of_a_missed_goal_says_so() -> None:
    task = TaskInfo("multiclass", ("espresso", "cup"))
    result = _result(task, [3.0, 0.0], [1.0, 0.0], {"kind": "class", "name": "cup"}, valid=False, request="class cup")
    assert headline(result) == "espresso 95% -> espresso 73% (goal not reached: class cup)"


def test_the_headline_of_a_real_counterfactual_reads_its_goal_from_the_metrics() -> None:
    model = cue_regressor()
    prepared = prepare_pil(model, noise_photo(1))
    result = explain(model, prepared, goal=_value_goal(model, prepared, 0.3), budget=None)
    text = headline(result)
    assert text.startswith("a ") and " g -> " in text and "(b held at " in text and "± 0.02" in text


def test_a_counterfactual_without_a_goal_has_no_headline() -> None:
    task = TaskInfo("multiclass", ("a", "b"))
    result = dataclasses.replace(_result(task, [1.0, 0.0], [0.0, 1.0], {}), metrics={})
    with pytest.raises(OptionError, match="no 'goal'"):
        headline(result)


@pytest.mark.parametrize("method", ["gradcam", "occlusion"])
def test_the_pipeline_confines_the_edit_to_the_chosen_method_s_map(method: str) -> None:
    model = cue_classifier()
    prepared = prepare_pil(model, noise_photo(3))
    prediction = predict(model, prepared)
    result = pipeline.counterfactual(
        model, prepared, prediction, "other", mask_threshold=0.3, mask_method=method, options={"budget": None}
    )
    assert result.valid, result.message
    assert result.metrics["mask"]["method"] == method and result.metrics["mask"]["threshold"] == 0.3
    assert 0 < result.metrics["mask"]["free_share"] < 1


def test_an_unknown_mask_method_is_refused() -> None:
    model = cue_classifier()
    prepared = prepare_pil(model, noise_photo(3))
    with pytest.raises(OptionError, match="unknown mask method 'lime'"):
        pipeline.counterfactual(
            model, prepared, predict(model, prepared), "other", mask_threshold=0.5, mask_method="lime"
        )


def test_a_mask_threshold_of_one_is_refused() -> None:
    model = cue_classifier()
    prepared = prepare_pil(model, noise_photo(3))
    with pytest.raises(OptionError, match="below 1"):
        pipeline.counterfactual(model, prepared, predict(model, prepared), "other", mask_threshold=1.0)


def test_a_batch_option_the_search_does_not_take_is_refused() -> None:
    model = cue_classifier()
    with pytest.raises(OptionError, match=r"unknown counterfactual option\(s\) \['steps'\]"):
        explain_many(model, prepare_pil(model, noise_photo(3)), goals=["other"], steps=5)
