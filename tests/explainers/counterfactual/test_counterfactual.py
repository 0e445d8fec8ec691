"""Counterfactuals reach the goal, edit where the planted evidence is, and survive the trip through a real upload."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from planted import (
    PlantedRegionNet,
    Shifted,
    make_loaded,
    noise_photo,
    planted_classifier,
    planted_regressor,
    quadrant_box,
    share_inside,
)
from torch import nn

from explainers.counterfactual import Goal, explain, parse_goal, render
from explainers.errors import OptionError, TargetError
from explainers.models.predict import predict
from explainers.models.preprocess import prepare_pil
from explainers.types import LoadedModel, PreparedImage, TaskInfo

torch.set_num_threads(1)

QUADRANT = 3


def _classifier() -> LoadedModel:
    """Evidence in the bottom-right quadrant; "evidence" wins on about half of the test uploads."""
    net = Shifted(planted_classifier(QUADRANT).model, (1.1, 0.0))
    return make_loaded(net, TaskInfo("multiclass", ("evidence", "other")), model_id="planted-shifted")


def _labels() -> LoadedModel:
    """Two labels: "left" reads the left half, "right" the right half; on at p >= 0.73 (a raw output near 1)."""
    net = PlantedRegionNet([(0, 0, 64, 32), (0, 32, 64, 64)])
    return make_loaded(net, TaskInfo("multilabel", ("left", "right"), thresholds=(0.73, 0.73), abstain=0.25))


_upload = noise_photo


def _prepared(model: LoadedModel, decision: str, size: tuple[int, int] = (64, 64)) -> PreparedImage:
    """The first upload the model reads as `decision`."""
    for seed in range(50):
        prepared = prepare_pil(model, _upload(seed, size))
        if predict(model, prepared).decision == decision:
            return prepared
    raise LookupError(f"no test upload is read as {decision}")


def _reread(model: LoadedModel, rgb: np.ndarray) -> str:
    """The decision for the counterfactual uploaded again as any photo would be."""
    return predict(model, prepare_pil(model, Image.fromarray(rgb))).decision


@pytest.mark.parametrize("goal", ["other", "any other class"])
def test_leaving_the_evidence_class_edits_the_planted_quadrant(goal: str) -> None:
    model = _classifier()
    result = explain(model, _prepared(model, "evidence"), goal=goal)
    assert result.valid and result.after.decision == "other", result.message
    assert share_inside(result.delta, quadrant_box(64, QUADRANT)) >= 0.8


def test_reaching_the_evidence_class_edits_the_planted_quadrant() -> None:
    model = _classifier()
    result = explain(model, _prepared(model, "other"), goal="evidence")
    assert result.valid and result.after.decision == "evidence", result.message
    assert result.request == "class evidence"
    assert share_inside(result.delta, quadrant_box(64, QUADRANT)) >= 0.8


def test_a_regression_output_reaches_its_value_while_the_held_one_stays_in_its_band() -> None:
    model = planted_regressor()
    prepared = prepare_pil(model, _upload(0))
    before = predict(model, prepared).scores
    target = float(before[0]) + 0.4
    result = explain(model, prepared, goal=f"left = {target} ± 0.03 g; hold right ± 0.02 g")
    assert result.valid, result.message
    assert abs(result.after.scores[0] - target) <= 0.03
    assert abs(result.after.scores[1] - before[1]) <= 0.02
    assert [v["name"] for v in result.metrics["after"]["values"]] == ["left", "right"]
    assert share_inside(result.delta, (0, 0, 64, 33)) >= 0.8


def test_a_z_scored_head_is_asked_in_user_units() -> None:
    base = planted_regressor()
    task = dataclasses.replace(
        base.task, names=("kcal", "protein"), units=("kcal", "g"), target_mean=(300.0, 20.0), target_std=(100.0, 5.0)
    )
    model = dataclasses.replace(base, task=task)
    prepared = prepare_pil(model, _upload(1))
    before = predict(model, prepared).scores
    result = explain(model, prepared, goal=f"kcal = {before[0] + 30:.0f} kcal ± 3, protein ± 0.5 g")
    assert result.valid, result.message
    assert abs(result.after.scores[0] - round(before[0] + 30)) <= 3
    assert abs(result.after.scores[1] - before[1]) <= 0.5


@pytest.mark.parametrize("goal, state", [("+right", True), ("left off", False)])
def test_a_label_is_switched_on_or_off(goal: str, state: bool) -> None:
    model = _labels()
    prepared = next(
        p for p in (prepare_pil(model, _upload(s)) for s in range(50)) if predict(model, p).decision == "left"
    )
    result = explain(model, prepared, goal=goal)
    assert result.valid, result.message
    index = 1 if "right" in goal else 0
    assert bool(result.after.scores[index] >= 0.73) is state


def test_the_counterfactual_of_a_non_square_upload_is_read_as_the_target_after_a_real_round_trip() -> None:
    base = _classifier()
    model = dataclasses.replace(base, data_config={**base.data_config, "crop_pct": 0.875})
    prepared = _prepared(model, "evidence", size=(80, 64))
    result = explain(model, prepared, goal="other")
    assert result.valid, result.message
    assert result.rgb.shape == (64, 80, 3) and result.rgb.dtype == np.uint8
    assert _reread(model, result.rgb) == "other" == result.after.decision
    left, top, right, bottom = prepared.crop_box
    outside = np.ones((64, 80), dtype=bool)
    outside[int(top) : int(np.ceil(bottom)), int(left) : int(np.ceil(right))] = False
    assert np.array_equal(result.rgb[outside], prepared.rgb[outside])


def test_a_regression_counterfactual_of_a_non_square_upload_survives_the_round_trip() -> None:
    base = planted_regressor()
    model = dataclasses.replace(base, data_config={**base.data_config, "crop_pct": 0.875})
    prepared = prepare_pil(model, _upload(2, size=(64, 80)))
    target = float(predict(model, prepared).scores[0]) - 0.2
    result = explain(model, prepared, goal=f"left = {target} ± 0.02")
    assert result.valid, result.message
    again = predict(model, prepare_pil(model, Image.fromarray(result.rgb))).scores
    assert abs(again[0] - target) <= 0.02


def test_an_upload_smaller_than_the_model_input_still_gives_the_target_after_the_round_trip() -> None:
    base = _classifier()
    model = dataclasses.replace(base, data_config={**base.data_config, "crop_pct": 0.875})
    prepared = _prepared(model, "evidence", size=(40, 30))
    result = explain(model, prepared, goal="other")
    assert result.valid, result.message
    assert result.rgb.shape == (30, 40, 3)
    assert _reread(model, result.rgb) == "other"


def test_the_part_of_the_view_outside_a_letterboxed_upload_is_left_alone() -> None:
    base = _classifier()
    model = dataclasses.replace(base, data_config={**base.data_config, "crop_mode": "border"})
    prepared = prepare_pil(model, _upload(0, size=(64, 32)))  # padded with 16 rows above and below
    goal = "evidence" if predict(model, prepared).decision == "other" else "other"
    result = explain(model, prepared, goal=goal)
    assert result.valid, result.message
    assert _reread(model, result.rgb) == goal
    assert np.abs(result.delta[:16]).max() == 0 and np.abs(result.delta[-16:]).max() == 0


def test_the_search_stops_soon_after_the_first_valid_edit() -> None:
    model = planted_regressor()
    result = explain(model, prepare_pil(model, _upload(3)), goal="left = 1.7 ± 0.05", max_steps=500)
    assert result.valid, result.message
    steps = result.metrics["steps"]
    assert result.metrics["steps_run"] <= steps + 3 + steps // 2 < 500


def test_the_request_is_written_out_with_units_and_tolerances() -> None:
    model = planted_regressor()
    result = explain(model, prepare_pil(model, _upload(0)), goal="left = 1.5 ± 0.03 g; keep right within 0.02")
    assert result.request == "left = 1.5 ± 0.03 g, hold right ± 0.02 g"


def test_a_uniform_change_is_drawn_over_the_crop_box_and_nowhere_else() -> None:
    base = _classifier()
    model = dataclasses.replace(base, data_config={**base.data_config, "crop_pct": 0.875})
    prepared = prepare_pil(model, Image.fromarray(np.full((64, 96, 3), 100, dtype=np.uint8)))
    rgb = render(prepared, torch.full((3, 64, 64), 10 / 255))
    left, top, right, bottom = prepared.crop_box
    inside = np.zeros((64, 96), dtype=bool)
    inside[int(np.ceil(top)) : int(bottom), int(np.ceil(left)) : int(right)] = True
    assert (rgb[inside] == 110).all()
    assert (rgb[~inside] <= 110).all() and (rgb[~inside] >= 100).all()
    outer = np.ones((64, 96), dtype=bool)
    outer[int(top) : int(np.ceil(bottom)), int(left) : int(np.ceil(right))] = False
    assert (rgb[outer] == 100).all()


def test_rendering_no_change_gives_back_the_upload() -> None:
    base = _classifier()
    model = dataclasses.replace(base, data_config={**base.data_config, "crop_pct": 0.875})
    prepared = prepare_pil(model, _upload(3, size=(80, 64)))
    assert np.array_equal(render(prepared, torch.zeros(3, 64, 64)), prepared.rgb)


def test_the_same_seed_gives_the_same_counterfactual() -> None:
    model = planted_regressor()
    prepared = prepare_pil(model, _upload(4))
    goal = "left = 2 ± 0.05; right ± 0.05"
    runs = [explain(model, prepared, goal=goal, restarts=4, seed=7, budget=None) for _ in range(2)]
    assert np.array_equal(runs[0].rgb, runs[1].rgb) and np.array_equal(runs[0].delta, runs[1].delta)

    def timeless(metrics: dict[str, object]) -> dict[str, object]:
        return {k: timeless(v) if isinstance(v, dict) else v for k, v in metrics.items() if k != "seconds"}

    assert timeless(runs[0].metrics) == timeless(runs[1].metrics)


def test_the_same_answer_comes_back_when_two_threads_ask_at_once() -> None:
    model = _classifier()
    prepared = _prepared(model, "evidence")
    alone = explain(model, prepared, goal="other", budget=None)  # steps, not the clock, end the sparsity phase
    results: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: results.append(explain(model, prepared, goal="other", budget=None).rgb))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and all(np.array_equal(r, alone.rgb) for r in results)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_the_mask_confines_the_change(kind: str) -> None:
    model = _classifier()
    prepared = _prepared(model, "evidence")
    mask = np.zeros((64, 64), dtype=bool)
    mask[40:64, 36:60] = True
    result = explain(model, prepared, goal="other", mask=mask if kind == "bool" else mask * 0.7)
    assert result.valid, result.message
    assert np.abs(result.delta[~mask]).max() == 0
    assert np.abs(result.delta[mask]).max() > 0


def test_the_model_is_left_as_it_was() -> None:
    model = _classifier()
    explain(model, _prepared(model, "evidence"), goal="other")
    assert not model.model.training
    assert not any(p.requires_grad for p in model.model.parameters())
    assert not any(m._forward_hooks or m._backward_hooks for m in model.model.modules())


def test_progress_is_reported_as_a_growing_fraction_ending_at_one() -> None:
    model = planted_regressor()
    seen: list[tuple[float, str]] = []
    explain(
        model,
        prepare_pil(model, _upload(5)),
        goal="left = 1.8 ± 0.05",
        max_steps=100,
        progress=lambda f, m: seen.append((f, m)),
    )
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 < fractions[0] <= 0.01
    assert seen[0][1] == "step 1/100"


def test_metrics_describe_the_change() -> None:
    model = _classifier()
    result = explain(model, _prepared(model, "evidence"), goal="other")
    m = result.metrics
    delta = result.delta
    assert m["valid"] is True and m["steps"] >= 1 and m["seconds"] > 0
    assert m["l2"] == pytest.approx(float(np.linalg.norm(delta)), rel=1e-4)
    assert m["l1"] == pytest.approx(float(np.abs(delta).sum()), rel=1e-4)
    assert 0 <= m["changed_share"] <= m["touched_share"] <= 1
    assert m["before"]["top"][0]["name"] == "evidence" and m["after"]["top"][0]["name"] == "other"
    assert result.pixels.shape == (3, 64, 64) and delta.shape == (64, 64, 3)
    assert np.allclose(np.rint(delta * 255), delta * 255, atol=1e-4)


def test_an_unreachable_value_ends_invalid_with_how_close_it_got_and_what_to_try() -> None:
    model = planted_regressor()
    result = explain(model, prepare_pil(model, _upload(6)), goal="left = 1000 ± 1 g", max_steps=30)
    assert not result.valid
    assert "left" in result.message and "-> " in result.message
    assert "more steps" in result.message and "nearer value" in result.message
    assert result.rgb.shape == (64, 64, 3) and result.metrics["steps"] == 30


def test_an_unknown_class_is_refused_before_any_optimisation() -> None:
    model = _classifier()
    calls: list[float] = []
    with pytest.raises(TargetError, match="no class named 'cat'"):
        explain(model, _prepared(model, "evidence"), goal="cat", progress=lambda f, m: calls.append(f))
    assert calls == []


def test_asking_for_the_class_already_predicted_is_refused() -> None:
    model = _classifier()
    with pytest.raises(TargetError, match="already predicts"):
        explain(model, _prepared(model, "evidence"), goal="evidence")


def test_asking_for_a_value_already_predicted_is_refused() -> None:
    model = planted_regressor()
    prepared = prepare_pil(model, _upload(0))
    value = float(predict(model, prepared).scores[0])
    with pytest.raises(TargetError, match="already predicts"):
        explain(model, prepared, goal=f"left = {value + 0.001} ± 0.01")


def test_asking_to_switch_on_a_label_that_is_on_is_refused() -> None:
    model = _labels()
    prepared = next(
        p for p in (prepare_pil(model, _upload(s)) for s in range(50)) if predict(model, p).decision == "left"
    )
    with pytest.raises(TargetError, match="already predicts"):
        explain(model, prepared, goal="left on")


def test_a_goal_of_the_wrong_kind_for_the_task_is_refused() -> None:
    model = planted_regressor()
    with pytest.raises(TargetError, match="regression model takes a goal of kind value"):
        explain(model, prepare_pil(model, _upload(0)), goal=Goal("other"))


def test_holding_the_target_itself_is_refused() -> None:
    model = planted_regressor()
    with pytest.raises(TargetError, match="named twice"):
        explain(model, prepare_pil(model, _upload(0)), goal="left = 2; hold left ± 1")


def test_an_image_prepared_for_another_size_is_refused() -> None:
    model = _classifier()
    other = make_loaded(nn.Identity(), model.task, input_size=32)
    with pytest.raises(OptionError, match="prepared as"):
        explain(model, prepare_pil(other, _upload(0)), goal="other")


@pytest.mark.parametrize(
    "option",
    [
        {"l2": -1.0},
        {"l1": float("nan")},
        {"tv": "a"},
        {"l2": True},
        {"max_steps": 0},
        {"max_steps": 2.5},
        {"max_steps": 10**6},
        {"restarts": 0},
        {"restarts": 17},
        {"seed": -1},
        {"seed": 1.5},
        {"progress": 5},
        {"mask": np.ones((32, 32), dtype=bool)},
        {"mask": np.full((64, 64), 2.0)},
        {"mask": np.zeros((64, 64))},
        {"mask": np.full((64, 64), "x")},
        {"mask": np.full((64, 64), np.nan)},
        {"l2": 3.5e38},
        {"tv": float("inf")},
        {"shrink_steps": -1},
        {"shrink_steps": 2.5},
        {"shrink_steps": 10**6},
        {"budget": -1.0},
        {"budget": float("nan")},
        {"budget": "2"},
        {"budget": True},
        {"budget": 1e9},
        {"cell": 0},
        {"cell": 65},
        {"cell": 1.5},
    ],
    ids=lambda o: f"{next(iter(o))}={str(next(iter(o.values())))[:12]}",
)
def test_an_invalid_option_is_refused(option: dict[str, object]) -> None:
    model = _classifier()
    with pytest.raises(OptionError):
        explain(model, _prepared(model, "evidence"), goal="other", **option)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text, goal",
    [
        ("", Goal("other")),
        ("any other class", Goal("other")),
        (" Other ", Goal("other")),
        ("evidence", Goal("class", "evidence")),
        ("class Other", Goal("class", "other")),
    ],
)
def test_class_goals_are_read_from_text(text: str, goal: Goal) -> None:
    assert parse_goal(_classifier(), text) == goal


@pytest.mark.parametrize(
    "text, goal",
    [
        ("left", Goal("label", "left")),
        ("+right", Goal("label", "right", on=True)),
        ("-left", Goal("label", "left", on=False)),
        ("switch right on", Goal("label", "right", on=True)),
        ("left: off", Goal("label", "left", on=False)),
    ],
)
def test_label_goals_are_read_from_text(text: str, goal: Goal) -> None:
    assert parse_goal(_labels(), text) == goal


@pytest.mark.parametrize(
    "text, goal",
    [
        ("left = 350", Goal("value", "left", value=350.0)),
        ("left=3.5 g", Goal("value", "left", value=3.5)),
        ("left = 350 ± 10 g", Goal("value", "left", value=350.0, tolerance=10.0)),
        ("left to -2 +- 0.5", Goal("value", "left", value=-2.0, tolerance=0.5)),
        ("left = 350, keep right within ±5 g", Goal("value", "left", value=350.0, hold=(("right", 5.0),))),
        ("LEFT = 1e2; hold right +/- 0.5 and", Goal("value", "left", value=100.0, hold=(("right", 0.5),))),
    ],
)
def test_value_goals_are_read_from_text(text: str, goal: Goal) -> None:
    assert parse_goal(planted_regressor(), text) == goal


@pytest.mark.parametrize(
    "make, text",
    [(_classifier, "top-1"), (_labels, ""), (_labels, "auto on"), (planted_regressor, "top-1 = 3")],
    ids=["multiclass", "multilabel-empty", "multilabel-auto", "regression"],
)
def test_a_goal_that_names_nothing_is_refused_rather_than_defaulting(make: object, text: str) -> None:
    with pytest.raises(TargetError, match=r"^name (a class|a label|an output) to aim for"):
        parse_goal(make(), text)  # type: ignore[operator]


@pytest.mark.parametrize("text", ["left", "left = lots", "left = 3; right"])
def test_an_unreadable_value_goal_is_refused(text: str) -> None:
    with pytest.raises(TargetError, match="could not read"):
        parse_goal(planted_regressor(), text)


def test_a_value_in_the_wrong_unit_is_refused() -> None:
    with pytest.raises(OptionError, match="measured in g, got 'kcal'"):
        parse_goal(planted_regressor(), "left = 350 kcal")


def test_a_zero_tolerance_is_refused() -> None:
    with pytest.raises(OptionError, match="positive number"):
        parse_goal(planted_regressor(), "left = 350 ± 0")


def test_an_unknown_output_is_refused() -> None:
    with pytest.raises(TargetError, match="no output named 'fat'"):
        parse_goal(planted_regressor(), "fat = 3")


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40))
@pytest.mark.parametrize(
    "make", [_classifier, _labels, planted_regressor], ids=["multiclass", "multilabel", "regression"]
)
def test_any_text_is_read_as_a_goal_or_refused_with_our_message(make: object, text: str) -> None:
    model = make()  # type: ignore[operator]
    try:
        goal = parse_goal(model, text)
    except (TargetError, OptionError):
        return
    assert isinstance(goal, Goal) and goal.kind in ("other", "class", "label", "value")


@pytest.mark.slow
def test_the_default_model_leaves_its_class_for_the_coffee_photo_within_seconds() -> None:
    from skimage import data

    from explainers.models.loading import load_model

    model = load_model(None)
    prepared = prepare_pil(model, Image.fromarray(data.coffee()))
    result = explain(model, prepared, goal="any other class")
    assert result.valid, result.message
    assert result.metrics["seconds"] < 6
    assert result.rgb.shape == prepared.rgb.shape
    assert _reread(model, result.rgb) != predict(model, prepared).decision
