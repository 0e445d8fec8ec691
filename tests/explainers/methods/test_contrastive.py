"""Contrastive targets ("why A rather than B"): every method explains output A minus output B, receipts replay it, the
report says it, and the counterfactual goal "A vs B" makes A overtake B.
"""

from __future__ import annotations

import json

import numpy as np
import planted
import pytest
import torch
from PIL import Image

from explainers import predict, prepare_image
from explainers.counterfactual import Goal, explain, parse_goal
from explainers.errors import OptionError, TargetError
from explainers.methods import cam_variants, gradcam, integrated_gradients, occlusion
from explainers.models.preprocess import prepare_pil
from explainers.targets import raw_score, resolve_target, target_outputs
from explainers.trust import receipt, report
from explainers.types import LoadedModel, Target, TaskInfo

torch.set_num_threads(1)

LEFT_BOX, RIGHT_BOX = (0, 0, 64, 32), (0, 32, 64, 64)


def labels() -> LoadedModel:
    """Multi-label: "left" reads the left half, "right" the right half."""
    net = planted.PlantedRegionNet([LEFT_BOX, RIGHT_BOX])
    return planted.make_loaded(net, TaskInfo("multilabel", ("left", "right"), thresholds=(0.73, 0.73), abstain=0.25))


def three_classes() -> LoadedModel:
    net = planted.PlantedRegionNet([planted.quadrant_box(64, q) for q in (0, 1, 3)])
    return planted.make_loaded(net, TaskInfo("multiclass", ("espresso", "cup", "cat vs dog")), model_id="planted-3")


def test_a_vs_b_resolves_to_a_minus_b_in_any_case_and_with_indices() -> None:
    model = three_classes()
    for spec in ("espresso vs cup", "Espresso VS cup", "espresso vs. cup", "0 vs 1", " espresso  vs  1 "):
        target = resolve_target(model, spec)
        assert (target.index, target.contrast, target.contrast_name) == (0, 1, "cup"), spec
        assert target.label == "espresso vs cup" and target.sign == 1
    assert resolve_target(model, "cup vs espresso", direction="lowers").sign == -1


def test_a_name_that_contains_vs_is_that_output_not_a_contrast() -> None:
    target = resolve_target(three_classes(), "cat vs dog")
    assert (target.index, target.contrast) == (2, None)


def test_the_top_1_can_be_contrasted_with_another_class() -> None:
    model = three_classes()
    prediction = predict(model, prepare_pil(model, Image.new("RGB", (64, 64), (200, 30, 30))))
    top = int(prediction.scores.argmax())
    target = resolve_target(model, f"top-1 vs {(top + 1) % 3}", prediction=prediction)
    assert (target.index, target.contrast) == (top, (top + 1) % 3)


@pytest.mark.parametrize("spec", ["espresso vs", "vs cup", "espresso vs cup vs 2"])
def test_a_contrast_without_exactly_two_sides_is_a_target_error(spec: str) -> None:
    with pytest.raises(TargetError, match="one output on each side"):
        resolve_target(three_classes(), spec)


def test_a_contrast_of_an_output_with_itself_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="with itself"):
        resolve_target(three_classes(), "espresso vs 0")


def test_an_unknown_rival_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="no class named 'teapot'"):
        resolve_target(three_classes(), "espresso vs teapot")


def test_a_rival_index_out_of_range_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="out of range for 3 outputs"):
        gradcam.explain(
            three_classes(), planted.random_images(1, 64), target=Target(0, "espresso", "multiclass", 1, 7, "x")
        )


@pytest.mark.parametrize(
    "make", [three_classes, labels, planted.planted_regressor], ids=["multiclass", "multilabel", "regression"]
)
def test_the_explained_quantity_is_output_a_minus_output_b_for_every_task(make) -> None:
    model = make()
    image = planted.random_images(1, 64, seed=2)
    target = resolve_target(model, "0 vs 1", direction="lowers")
    with torch.no_grad():
        outputs = model.model(image)
    expected = float(outputs[0, 0] - outputs[0, 1])
    assert raw_score(target, outputs[0]) == pytest.approx(expected)
    assert float(target_outputs(model, outputs, target)[0, 0]) == pytest.approx(-expected)
    for explain_fn, options in [
        (gradcam.explain, {}),
        (occlusion.explain, {"window": 16, "stride": 8, "mode": "dense"}),
        (integrated_gradients.explain, {"n_steps": 8}),
    ]:
        assert explain_fn(model, image, target=target, **options).score == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("variant", ["gradcam", "hirescam"])
def test_a_linear_variant_maps_a_vs_b_as_map_a_minus_map_b(variant: str) -> None:
    model = planted.planted_regressor(select_in_head=True)
    image = planted.random_images(1, 64, seed=3)
    a, b = Target(0, "left", "regression"), Target(1, "right", "regression")
    both = Target(0, "left", "regression", 1, 1, "right")
    map_a, map_b, diff = gradcam.explain_many(model, image, targets=[a, b, both], variant=variant)
    np.testing.assert_allclose(diff.heatmap, map_a.heatmap - map_b.heatmap, atol=1e-6 * np.abs(diff.heatmap).max())


def test_dense_occlusion_maps_a_vs_b_as_map_a_minus_map_b() -> None:
    model, image = planted.planted_regressor(), planted.random_images(1, 64, seed=4)
    options = {"window": 16, "stride": 8, "mode": "dense", "baselines": "zero"}
    maps = [
        occlusion.explain(model, image, target=resolve_target(model, s), **options).heatmap
        for s in ("0", "1", "0 vs 1")
    ]
    np.testing.assert_allclose(maps[2], maps[0] - maps[1], atol=1e-5)


def test_integrated_gradients_of_a_vs_b_are_complete_for_the_difference() -> None:
    model, image = three_classes(), planted.random_images(1, 64, seed=5)
    result = integrated_gradients.explain(
        model, image, target=resolve_target(model, "espresso vs cup"), n_steps=256, baselines="black", smooth_samples=0
    )
    gap = result.score - result.extras["baseline_score"]  # F(image) - F(baseline) of espresso - cup
    assert float(result.heatmap.sum()) == pytest.approx(gap, rel=0.01)
    assert abs(result.extras["delta"]) <= 0.01 * abs(gap)


def test_the_contrast_map_of_the_halves_points_at_a_and_away_from_b() -> None:
    model = planted.planted_regressor()
    hits = []
    for i in range(20):
        image = planted.random_images(1, 64, seed=10 + i)
        heat = gradcam.explain(model, image, target=resolve_target(model, "left vs right"), variant="hirescam").heatmap
        hits.append(planted.peak_in_box(heat, LEFT_BOX) and planted.peak_in_box(-heat, RIGHT_BOX))
    assert np.mean(hits) >= 0.95


def test_every_cam_variant_takes_a_contrast_in_the_shared_backward() -> None:
    model = planted.planted_regressor()
    target = resolve_target(model, "left vs right")
    maps = gradcam.explain_variants(
        model, planted.random_images(1, 64), targets=[target], variants=cam_variants.CAM_VARIANTS
    )
    assert all(m[0].target == target and np.isfinite(m[0].heatmap).all() for m in maps.values())


def _picture(tmp_path) -> str:
    path = tmp_path / "picture.png"
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).resize((64, 64), Image.BILINEAR).save(path)
    return str(path)


def test_a_receipt_round_trips_a_contrastive_target_and_the_report_says_why_a_rather_than_b(tmp_path) -> None:
    model, path = three_classes(), _picture(tmp_path)
    prepared = prepare_image(model, path)
    expl = gradcam.explain(model, prepared.image, target=resolve_target(model, "espresso vs cup"))
    made = json.loads(json.dumps(receipt.build(model, prepared, expl, prediction=predict(model, prepared)).to_dict()))
    assert made["target"] == {
        "name": "espresso",
        "index": 0,
        "kind": "multiclass",
        "direction": "raises",
        "contrast": "cup",
        "contrast_index": 1,
    }
    again = receipt.replay(made, path, loader=lambda model_id, revision: model)
    assert again.target == expl.target and receipt.same_map(expl, again)
    text = report.report(made)
    assert "why **espresso** rather than **cup**" in text and "difference of their logits" in text
    assert "not the top answer" not in text


def test_the_report_of_a_lowered_regression_contrast_names_both_outputs() -> None:
    made = {
        "method": "gradcam",
        "options": {"layer": None, "variant": "hirescam"},
        "target": {"name": "left", "index": 0, "kind": "regression", "direction": "lowers", "contrast": "right"},
        "score": 0.5,
        "prediction": None,
        "evidence": {"positive_share": 0, "regions": {}, "main": "centre", "main_share": 0, "area_half": 0},
        "model": {"id": "planted", "weights_sha256": "0" * 64},
        "image": {"sha256": "0" * 64, "grayscale": False},
    }
    text = report.report(made)
    assert "difference of their outputs (left minus right" in text
    assert "what lowers left rather than right" in text and "HiResCAM" in text


@pytest.mark.parametrize(
    "change",
    [
        {"contrast_index": 0},
        {"contrast_index": "1"},
        {"contrast_index": True},
        {"contrast": None},
        {"contrast": "teapot"},
    ],
    ids=["itself", "text index", "bool index", "no name", "wrong name"],
)
def test_a_tampered_contrast_in_a_receipt_is_refused(tmp_path, change: dict) -> None:
    model, path = three_classes(), _picture(tmp_path)
    prepared = prepare_image(model, path)
    expl = gradcam.explain(model, prepared.image, target=resolve_target(model, "espresso vs cup"))
    made = receipt.build(model, prepared, expl).to_dict()
    made["target"].update(change)
    with pytest.raises((OptionError, TargetError), match=r"contrast|output 1"):
        receipt.replay(made, path, loader=lambda model_id, revision: model)


def test_the_goal_a_vs_b_is_read_as_a_overtaking_b() -> None:
    assert parse_goal(three_classes(), "cup vs espresso") == Goal("beat", "cup", rival="espresso")
    assert parse_goal(labels(), "right vs left") == Goal("beat", "right", rival="left")
    assert parse_goal(three_classes(), "cat vs dog") == Goal("class", "cat vs dog")


def test_a_vs_b_goal_for_a_regression_model_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="'A vs B' goals are for classes and labels"):
        parse_goal(planted.planted_regressor(), "left vs right")


def test_a_vs_a_goal_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="overtake itself"):
        parse_goal(labels(), "left vs 0")


def test_the_counterfactual_of_a_vs_b_makes_a_overtake_b() -> None:
    model = labels()
    for seed in range(50):
        prepared = prepare_pil(
            model, Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64, 3), np.uint8))
        )
        before = predict(model, prepared)
        if before.outputs[0] > before.outputs[1] + 0.05:
            break
    result = explain(model, prepared, goal="right vs left")
    assert result.request == "right rather than left"
    assert result.valid and result.after.outputs[1] > result.after.outputs[0], result.message


def test_attention_rollout_explains_a_vs_b_from_the_difference_of_the_logits() -> None:
    model = planted.planted_vit()
    images, boxes = planted.cue_images(1, seed=2)
    result = gradcam.explain(model, images, target=resolve_target(model, "cue vs none"), variant="attention")
    with torch.no_grad():
        outputs = model.model(images)
    assert result.score == pytest.approx(float(outputs[0, 0] - outputs[0, 1]), rel=1e-5)
    assert planted.peak_in_box(result.heatmap, boxes[0])
