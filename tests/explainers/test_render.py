"""Rendering: overlays land where the model looked, colours and scales mean what the colour bar says."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import ImageDraw

from explainers import OptionError
from explainers.models.preprocess import crop_box as timm_crop_box
from explainers.render import (
    COLORBAR_HEIGHT,
    TITLE_HEIGHT,
    change_level,
    change_overlay,
    colorbar_height,
    mark_box,
    masked_by_change,
    overlay,
    robust_scale,
    shared_scale,
    side_by_side,
)

# A landscape upload 120 wide, 80 tall; the model sees its central 80x80 square at 16x16 (5 original px per cell).
H, W = 80, 120
BOX = (20.0, 0.0, 100.0, 80.0)
MODEL_HW = (16, 16)


def grey(value: int = 128, height: int = H, width: int = W) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def peak_map(row: int, col: int, value: float = 1.0) -> np.ndarray:
    heatmap = np.zeros(MODEL_HW, dtype=np.float32)
    heatmap[row, col] = value
    return heatmap


def original_pixel(row: int, col: int) -> tuple[int, int]:
    """The original pixel at the centre of a model-input cell, through BOX."""
    left, top, right, bottom = BOX
    return int(top + (row + 0.5) * (bottom - top) / MODEL_HW[0]), int(left + (col + 0.5) * (right - left) / MODEL_HW[1])


def redness(pixel: np.ndarray) -> float:
    r, g, b = (float(v) for v in pixel)
    return r - (g + b) / 2


def drawn_texts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    texts: list[str] = []
    original = ImageDraw.ImageDraw.text

    def record(self: ImageDraw.ImageDraw, xy: object, text: str, *args: object, **kwargs: object) -> None:
        texts.append(text)
        original(self, xy, text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", record)
    return texts


def test_overlay_keeps_the_original_size_plus_a_colorbar_strip_of_known_height() -> None:
    out = overlay(grey(), peak_map(3, 3), BOX)
    assert out.dtype == np.uint8
    assert out.shape == (H + COLORBAR_HEIGHT, W, 3)
    assert overlay(grey(), peak_map(3, 3), BOX, colorbar=False).shape == (H, W, 3)


def test_a_wide_picture_gets_a_taller_colorbar_so_its_text_stays_legible() -> None:
    out = overlay(grey(width=2000, height=50), peak_map(3, 3), (0.0, 0.0, 2000.0, 50.0))
    assert colorbar_height(2000) > COLORBAR_HEIGHT
    assert out.shape == (50 + colorbar_height(2000), 2000, 3)


def test_the_hottest_cell_appears_red_where_the_crop_box_puts_it_in_a_non_square_upload() -> None:
    out = overlay(grey(), peak_map(4, 12), BOX, colorbar=False)
    y, x = original_pixel(4, 12)
    assert (y, x) == (22, 82)
    assert redness(out[y, x]) > 80
    # Stretching the map over the whole picture (ignoring the crop) would have put the peak here instead.
    assert redness(out[y, int((12 + 0.5) * W / 16)]) < 5
    assert redness(out[y, W - 1 - x]) < 5


def test_the_peak_lands_on_the_crop_box_that_timm_preprocessing_reports() -> None:
    config = {"input_size": (3, 16, 16), "crop_pct": 0.875, "crop_mode": "center"}
    box = timm_crop_box(config, 96, 160)  # portrait: the crop trims top and bottom
    heatmap = np.zeros(MODEL_HW, dtype=np.float32)
    heatmap[0, 8] = 1.0
    out = overlay(grey(height=160, width=96), heatmap, box, colorbar=False)
    left, top, right, bottom = box
    y, x = int(top + 0.5 * (bottom - top) / 16), int(left + 8.5 * (right - left) / 16)
    assert redness(out[y, x]) > 60
    assert (out[: int(top) - 1] < 128).all()  # above the model's view: dimmed


def test_pixels_outside_the_crop_box_are_greyed_and_dimmed_not_coloured() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    out = overlay(rgb, np.ones(MODEL_HW, dtype=np.float32), BOX, colorbar=False)
    outside = np.concatenate([out[:, :20], out[:, 100:]], axis=1)
    assert (outside[..., 0] == outside[..., 1]).all() and (outside[..., 1] == outside[..., 2]).all()
    assert outside.astype(int).sum() < 0.6 * np.concatenate([rgb[:, :20], rgb[:, 100:]], axis=1).astype(int).sum()
    assert redness(out[40, 60]) > 60


def test_a_signed_map_shows_negative_blue_and_positive_red() -> None:
    heatmap = np.ones(MODEL_HW, dtype=np.float32)
    heatmap[:, :8] = -1.0
    out = overlay(grey(), heatmap, BOX, colorbar=False)
    r, g, b = (int(v) for v in out[40, 25])
    assert b > r + 50 and b > g + 30
    assert redness(out[40, 95]) > 60


def test_an_unsigned_map_shows_only_the_positive_part() -> None:
    heatmap = np.ones(MODEL_HW, dtype=np.float32)
    heatmap[:, :8] = -5.0
    out = overlay(grey(), heatmap, BOX, signed=False, colorbar=False)
    assert (out[40, 25] == 128).all()
    assert not (out[40, 95] == 128).all()


def test_a_shared_scale_makes_a_half_strength_map_visibly_paler_than_the_full_one() -> None:
    full, half = peak_map(8, 8, 2.0), peak_map(8, 8, 1.0)
    scale = shared_scale([full, half])
    assert scale == 2.0
    y, x = original_pixel(8, 8)
    strong = overlay(grey(), full, BOX, scale=scale, colorbar=False)[y, x]
    weak = overlay(grey(), half, BOX, scale=scale, colorbar=False)[y, x]
    assert redness(strong) > redness(weak) + 30
    # Each on its own scale, the two would look the same: that is why comparisons need the shared one.
    alone = overlay(grey(), half, BOX, colorbar=False)[y, x]
    assert (alone == strong).all()


def test_an_all_zero_map_renders_the_picture_unchanged_and_the_colorbar_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = drawn_texts(monkeypatch)
    for signed in (True, False):
        out = overlay(grey(), np.zeros(MODEL_HW, dtype=np.float32), BOX, signed=signed, label="gradcam: cat")
        assert (out[:H, 20:100] == 128).all()
    assert texts.count("map is all zero") == 2
    assert "gradcam: cat" in texts


def test_a_zero_shared_scale_for_all_zero_maps_renders_without_dividing_by_zero() -> None:
    zeros = np.zeros(MODEL_HW, dtype=np.float32)
    scale = shared_scale([zeros, zeros])
    assert scale == 0.0
    assert overlay(grey(), zeros, BOX, scale=scale).shape == (H + COLORBAR_HEIGHT, W, 3)


def test_a_constant_map_renders_uniformly(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = drawn_texts(monkeypatch)
    out = overlay(grey(), np.full(MODEL_HW, 3.0, dtype=np.float32), BOX)
    box = out[:H, 20:100].reshape(-1, 3)
    assert (box == box[0]).all() and redness(box[0]) > 60
    assert {"-3", "0", "+3"} <= set(texts)


def test_the_colorbar_writes_the_scale_ends_and_the_map_extremes(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = drawn_texts(monkeypatch)
    heatmap = peak_map(1, 1, 0.25)
    heatmap[2, 2] = -0.125
    overlay(grey(), heatmap, BOX, scale=0.5, label="IG")
    assert {"IG", "-0.5", "0", "+0.5", "min -0.125  max 0.25"} <= set(texts)


def test_the_default_scale_ignores_a_few_outlier_pixels_so_the_rest_stays_visible() -> None:
    heatmap = np.full((100, 100), 0.5, dtype=np.float32)
    heatmap[0, :10] = 50.0  # 0.1% outliers, as integrated gradients often produces
    assert robust_scale(heatmap) == 0.5
    out = overlay(grey(), heatmap, (0.0, 0.0, 120.0, 80.0), colorbar=False)
    assert redness(out[40, 60]) > 60


def test_the_default_scale_of_a_sparse_map_is_its_peak() -> None:
    assert robust_scale(peak_map(3, 3, -2.0)) == 2.0
    assert robust_scale(peak_map(3, 3, -2.0), signed=False) == 0.0


def test_shared_scale_of_one_map_reproduces_its_default_overlay() -> None:
    heatmap = np.random.default_rng(4).normal(size=MODEL_HW).astype(np.float32)
    assert (overlay(grey(), heatmap, BOX) == overlay(grey(), heatmap, BOX, scale=shared_scale([heatmap]))).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_heatmap_raises_value_error_naming_the_problem(bad: float) -> None:
    heatmap = peak_map(1, 1)
    heatmap[5, 5] = bad
    with pytest.raises(ValueError, match="not finite"):
        overlay(grey(), heatmap, BOX)


def test_shared_scale_refuses_a_non_finite_map() -> None:
    with pytest.raises(ValueError, match="not finite"):
        shared_scale([peak_map(1, 1), np.full(MODEL_HW, np.nan)])


def test_shared_scale_refuses_an_empty_list() -> None:
    with pytest.raises(ValueError, match="at least one"):
        shared_scale([])


def test_a_negative_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        overlay(grey(), peak_map(1, 1), BOX, scale=-1.0)


def test_a_zero_scale_for_a_non_zero_map_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        overlay(grey(), peak_map(1, 1), BOX, scale=0.0)


def test_alpha_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        overlay(grey(), peak_map(1, 1), BOX, alpha=1.5)


def test_a_float_picture_is_refused() -> None:
    with pytest.raises(ValueError, match="uint8"):
        overlay(grey().astype(np.float32), peak_map(1, 1), BOX)


def test_a_three_dimensional_heatmap_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        overlay(grey(), np.ones((16, 16, 3)), BOX)


def test_an_inverted_crop_box_is_refused() -> None:
    with pytest.raises(ValueError, match="crop_box"):
        overlay(grey(), peak_map(1, 1), (100.0, 0.0, 20.0, 80.0))


def test_mark_box_draws_the_model_input_box_at_its_place_in_the_original() -> None:
    out = mark_box(grey(0), (4, 8, 8, 12), BOX, model_hw=MODEL_HW, width=1)
    # Model rows 4..8 -> original rows 20..39; model columns 8..12 -> original columns 60..79.
    yellow = (255, 255, 0)
    assert tuple(out[20, 60]) == yellow and tuple(out[39, 79]) == yellow and tuple(out[30, 60]) == yellow
    assert (out[30, 70] == 0).all() and (out[19, 60] == 0).all() and (out[30, 80] == 0).all()
    assert out.shape == (H, W, 3) and out.dtype == np.uint8


def test_mark_box_refuses_a_box_outside_the_model_input() -> None:
    with pytest.raises(ValueError, match="inside the 16x16 model input"):
        mark_box(grey(), (4, 8, 20, 12), BOX, model_hw=MODEL_HW)


def test_change_overlay_colours_where_the_counterfactual_changed_pixels() -> None:
    delta = np.zeros((16, 16, 3), dtype=np.float32)
    delta[2:4, 2:4] = -0.3  # a decrease is a change too
    out = change_overlay(grey(), delta, BOX)
    assert out.shape == (H + COLORBAR_HEIGHT, W, 3)
    y, x = original_pixel(3, 3)
    assert not (out[y, x] == 128).all()
    assert (out[60, 80] == 128).all()


def test_change_overlay_refuses_a_delta_without_three_channels() -> None:
    with pytest.raises(ValueError, match=r"\(h, w, 3\)"):
        change_overlay(grey(), np.zeros((16, 16, 4), dtype=np.float32), BOX)


def random_delta(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(16, 16, 3)).astype(np.float32)


def test_masked_by_change_threshold_zero_keeps_the_whole_picture() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    assert (masked_by_change(rgb, random_delta(), BOX, 0.0) == rgb).all()


def test_masked_by_change_threshold_one_dims_nearly_everything() -> None:
    rgb = grey(200)
    kept = (masked_by_change(rgb, random_delta(), BOX, 1.0) == 200).all(axis=2)
    assert kept.mean() < 0.01


def test_masked_by_change_keeps_exactly_the_changed_region() -> None:
    delta = np.zeros((16, 16, 3), dtype=np.float32)
    delta[:8, :8] = 0.5
    kept = (masked_by_change(grey(200), delta, BOX, 0.5) == 200).all(axis=2)
    assert kept[5, 25] and kept[35, 55]  # top-left quadrant of the model's view
    assert not kept[45, 65] and not kept[5, 5]  # rest of the view, and outside it


@pytest.mark.parametrize("threshold", [-0.1, 1.01, float("nan")])
def test_masked_by_change_refuses_a_threshold_outside_zero_to_one(threshold: float) -> None:
    with pytest.raises(OptionError, match=r"\[0, 1\]"):
        masked_by_change(grey(), random_delta(), BOX, threshold)


def test_masked_by_change_is_fast_enough_for_every_slider_move() -> None:
    rgb = np.random.default_rng(2).integers(0, 256, size=(768, 1024, 3), dtype=np.uint8)
    delta = np.random.default_rng(3).normal(size=(224, 224, 3)).astype(np.float32)
    box = timm_crop_box({"input_size": (3, 224, 224), "crop_pct": 0.875}, 1024, 768)
    masked_by_change(rgb, delta, box, 0.5)
    times = []
    for threshold in np.linspace(0.05, 0.95, 10):
        start = time.perf_counter()
        masked_by_change(rgb, delta, box, float(threshold))
        times.append(time.perf_counter() - start)
    print(f"masked_by_change 1024x768: median {1000 * np.median(times):.1f} ms, max {1000 * max(times):.1f} ms")


def test_side_by_side_puts_titled_panels_of_equal_height_in_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = drawn_texts(monkeypatch)
    out = side_by_side([grey(10, 40, 60), grey(20, 80, 80)], ["Grad-CAM", "Occlusion"])
    assert out.shape == (40 + TITLE_HEIGHT, 60 + 8 + 40, 3)
    assert (out[TITLE_HEIGHT + 20, 30] == 10).all() and (out[TITLE_HEIGHT + 20, 90] == 20).all()
    assert texts == ["Grad-CAM", "Occlusion"]


def test_side_by_side_refuses_a_title_count_that_does_not_match() -> None:
    with pytest.raises(ValueError, match="one title per panel"):
        side_by_side([grey(), grey()], ["only one"])


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    height=st.integers(1, 48),
    width=st.integers(1, 48),
    signed=st.booleans(),
    colorbar=st.booleans(),
)
def test_overlay_never_raises_for_finite_input_and_returns_uint8_of_the_expected_shape(
    data: st.DataObject, height: int, width: int, signed: bool, colorbar: bool
) -> None:
    heatmap = data.draw(
        hnp.arrays(
            np.float32,
            hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=24),
            elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
        )
    )
    left = data.draw(st.floats(-width, width))
    top = data.draw(st.floats(-height, height))
    box = (left, top, left + data.draw(st.floats(0.01, 2.0 * width)), top + data.draw(st.floats(0.01, 2.0 * height)))
    rgb = np.full((height, width, 3), 90, dtype=np.uint8)
    out = overlay(rgb, heatmap, box, signed=signed, colorbar=colorbar)
    assert out.dtype == np.uint8
    assert out.shape == (height + (colorbar_height(width) if colorbar else 0), width, 3)


def test_strong_evidence_stays_visible_on_a_red_subject() -> None:
    """A red overlay on a red cup: the picture goes grey under the map, so strong and no evidence look different."""
    red = np.zeros((H, W, 3), dtype=np.uint8)
    red[...] = (200, 30, 30)
    heatmap = np.zeros(MODEL_HW, dtype=np.float32)
    heatmap[:, 8:] = 1.0
    out = overlay(red, heatmap, BOX, colorbar=False).astype(int)
    nothing, strong = out[40, 30], out[40, 90]
    assert np.abs(strong - nothing).sum() > 80, (nothing, strong)  # was 5 with the photo in colour
    assert nothing[0] == nothing[1] == nothing[2]  # where the map says nothing the subject is grey, not red


def test_strong_evidence_is_outlined_in_black_outside_its_region() -> None:
    heatmap = np.zeros(MODEL_HW, dtype=np.float32)
    heatmap[4:12, 4:12] = 1.0
    out = overlay(grey(200), heatmap, BOX, colorbar=False)
    black = (out[:, 20:100] == 0).all(axis=2)
    assert black.sum() > 40  # the outline of an 8x8-cell square at 5 px per cell
    assert redness(out[40, 60]) > 60  # the region itself keeps its colour


def test_a_saturated_end_of_the_colour_bar_says_the_map_goes_beyond_it(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = drawn_texts(monkeypatch)
    heatmap = peak_map(1, 1, 0.722)
    heatmap[2, 2] = -0.1
    overlay(grey(), heatmap, BOX, scale=0.692)
    assert {"-0.692", ">=+0.692", "min -0.1  max 0.722"} <= set(texts)


def test_an_imperceptible_edit_still_shows_where_it_is_at_the_default_threshold() -> None:
    """A faint change over a region plus one strong pixel: relative to the peak (the old threshold) only the pixel
    would show; relative to the edit's total change the region holds most of it and shows."""
    delta = np.zeros((16, 16, 3), dtype=np.float32)
    delta[4:12, 4:12] = 1 / 255  # one grey level: invisible to a person
    delta[0, 0] = 40 / 255
    kept = (masked_by_change(grey(200), delta, BOX, 0.5) == 200).all(axis=2)
    y, x = original_pixel(8, 8)
    assert kept[y, x] and kept[:, 20:100].mean() > 0.2


def test_the_change_level_keeps_the_pixels_that_hold_the_rest_of_the_edit() -> None:
    magnitude = np.array([[4.0, 3.0], [2.0, 1.0]])
    assert change_level(magnitude, 0.0) == 1.0  # everything: 10 of 10
    assert change_level(magnitude, 0.3) == 3.0  # 4 + 3 = 7 of 10
    assert change_level(magnitude, 0.25) == 2.0  # 7.5 needed: 4 + 3 + 2
    assert change_level(magnitude, 1.0) == 4.0
    assert change_level(np.zeros((2, 2)), 0.5) == 0.0


def test_the_change_overlay_draws_no_outlines_around_a_speckled_edit() -> None:
    delta = np.zeros((16, 16, 3), dtype=np.float32)
    delta[::3, ::3] = 0.1  # isolated changed pixels
    out = change_overlay(grey(200), delta, BOX)[:H, 20:100]
    assert not (out == 0).all(axis=2).any()
