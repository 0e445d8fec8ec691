"""Readable maps: smoothed to each method's own resolution, clipped at robust percentiles, labelled in the target's
unit, and never touching the raw map that receipts keep."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from planted import planted_classifier, planted_regressor, random_images

from explainers import display
from explainers.display import (
    CLIP_PERCENTILE,
    PIXEL_SIGMA_FRACTION,
    display_map,
    gaussian,
    readable_overlay,
    smoothing_sigma,
)
from explainers.methods import gradcam, integrated_gradients, occlusion
from explainers.render import colorbar_height
from explainers.types import Explanation, Target

MODEL = planted_classifier(3)
IMAGE = random_images(1, 64, seed=1)


def _map(heatmap: np.ndarray, method: str = "integrated_gradients", **extras) -> Explanation:
    return Explanation(
        method=method,
        target=Target(0, "espresso", "multiclass"),
        score=1.0,
        heatmap=np.asarray(heatmap, np.float32),
        options={},
        extras=extras,
    )


def test_the_raw_map_is_left_exact():
    ig = integrated_gradients.explain(MODEL, IMAGE, n_steps=8)
    before = ig.heatmap.copy()
    display_map(ig)
    assert np.array_equal(ig.heatmap, before)


def test_grad_cam_is_shown_at_its_own_grid_without_more_smoothing():
    cam = gradcam.explain(MODEL, IMAGE)
    shown = display_map(cam)
    assert shown.sigma == 0.0 and shown.signed and shown.sign is None
    inside = np.abs(cam.heatmap) <= shown.scale
    assert np.allclose(shown.values[inside], cam.heatmap[inside], atol=1e-6)


def test_occlusion_is_smoothed_by_half_its_stride():
    occ = occlusion.explain(MODEL, IMAGE, window=16, stride=8)
    assert smoothing_sigma(occ) == 4.0
    shown = display_map(occ)
    assert shown.sigma == 4.0 and "smoothed 4.0 px" in shown.caption and "drops" in shown.caption


def test_per_pixel_maps_are_smoothed_a_few_pixels_and_shown_as_size_with_the_sign_apart():
    ig = integrated_gradients.explain(MODEL, IMAGE, n_steps=8)
    shown = display_map(ig)
    assert shown.sigma == pytest.approx(PIXEL_SIGMA_FRACTION * 64)
    assert not shown.signed and shown.values.min() >= 0
    assert shown.sign is not None and shown.sign.shape == ig.heatmap.shape
    assert shown.sign.min() >= -1 and shown.sign.max() <= 1


def test_speckle_becomes_a_region_a_person_can_see():
    """Alternating +-1 pixels with a weak positive square underneath: raw, the square is invisible in the speckle;
    shown, it is the only thing left."""
    rng = np.random.default_rng(0)
    speckle = rng.choice([-1.0, 1.0], size=(224, 224))
    square = np.zeros((224, 224))
    square[140:196, 140:196] = 0.3
    raw = speckle + square
    assert raw[145:190, 145:190].mean() < 2 * np.abs(raw[:100, :100]).mean()  # raw: lost in the speckle
    shown = display_map(_map(raw), absolute=False)
    inside, outside = shown.values[145:190, 145:190].mean(), np.abs(shown.values[:100, :100]).mean()
    assert inside > 3 * outside


def test_a_few_outliers_cannot_wash_out_the_rest():
    heatmap = np.zeros((64, 64))
    heatmap[20:40, 20:40] = 1.0
    heatmap[0, 0] = 1000.0
    shown = display_map(_map(heatmap, "gradcam", grid=[64, 64]))
    assert shown.scale < 10  # the percentile, not the outlier
    assert shown.values.max() == pytest.approx(shown.scale)
    assert np.percentile(np.abs(shown.values), CLIP_PERCENTILE) <= shown.scale


def test_the_colour_bar_speaks_the_target_unit():
    assert display_map(_map(np.ones((8, 8)))).unit == "logit of espresso"
    model = planted_regressor()
    model = dataclasses.replace(model, task=dataclasses.replace(model.task, target_std=(2.0, 2.0), target_mean=(0, 0)))
    reg = integrated_gradients.explain(model, IMAGE, n_steps=4)
    plain, scaled = display_map(reg), display_map(reg, task=model.task)
    assert scaled.unit == "left (g)" and "left (g)" in scaled.label
    assert scaled.scale == pytest.approx(2 * plain.scale)


def test_a_map_that_lowers_the_target_says_so():
    lowers = _map(np.ones((8, 8)), "gradcam", grid=[8, 8]).with_updates(
        target=Target(0, "espresso", "multiclass", sign=-1)
    )
    assert "red lowers" in display_map(lowers).label
    assert "red raises" in display_map(lowers.with_updates(target=Target(0, "espresso", "multiclass"))).label


def test_an_all_zero_map_shows_nothing_and_does_not_fail():
    shown = display_map(_map(np.zeros((16, 16))))
    assert shown.scale == 0 and not shown.values.any()


def test_a_non_finite_map_is_refused():
    with pytest.raises(ValueError, match="finite"):
        display_map(_map(np.full((8, 8), np.nan)))


def test_a_one_dimensional_map_is_refused():
    with pytest.raises(ValueError, match="2-D"):
        display_map(_map(np.zeros(8)))


def test_readable_overlay_adds_a_sign_panel_for_pixel_methods_only():
    rgb = np.full((80, 120, 3), 128, np.uint8)
    box = (20.0, 0.0, 100.0, 80.0)
    cam = gradcam.explain(MODEL, IMAGE)
    ig = integrated_gradients.explain(MODEL, IMAGE, n_steps=4)
    assert readable_overlay(rgb, cam, box).shape == (80 + colorbar_height(120), 120, 3)
    both = readable_overlay(rgb, ig, box)
    assert both.shape[1] > 2 * 120  # two panels side by side


def test_gaussian_keeps_the_mass_and_sigma_zero_is_a_copy():
    values = np.zeros((32, 32))
    values[16, 16] = 1.0
    assert gaussian(values, 2.0).sum() == pytest.approx(1.0)
    same = gaussian(values, 0)
    assert np.array_equal(same, values) and same is not values


def test_the_legend_outside_the_picture_names_the_unit_and_the_scale_ends():
    legend = display.legend_html(5.37, unit="evidence density <grid>", note="All panels share this scale.")
    assert "evidence density &lt;grid&gt;" in legend and "-5.37" in legend and "+5.37" in legend
    assert "linear-gradient" in legend and "All panels share this scale." in legend
    assert "all zero" in display.legend_html(0.0)
