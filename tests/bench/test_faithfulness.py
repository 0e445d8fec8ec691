"""A fast subset of the faithfulness benchmark (bench/faithfulness.py), asserting the issue's goals that are met."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from cues import cue_image, cue_model
from servers import ROOT

from explainers import registry
from explainers.methods import gradcam
from explainers.trust import scorecard as quality

sys.path.insert(0, str(ROOT / "bench"))
import faithfulness

torch.set_num_threads(1)
ENTRIES = faithfulness.registry_entries()


@pytest.fixture(scope="session")
def builtin():
    return faithfulness.load_model(None)


def test_the_benchmark_rows_are_the_registry_methods_with_their_own_defaults():
    assert [name for name, _ in ENTRIES] == registry.names()
    assert all(options == {} for _, options in ENTRIES)


def test_an_entry_names_a_method_and_its_options():
    name, options = faithfulness.parse_entry("occlusion:window_fraction=1/10,baselines=mean,window=none")
    assert name == "occlusion" and options == {"window_fraction": 0.1, "baselines": "mean", "window": None}
    assert faithfulness.entry_label((name, {"window_fraction": 0.1})) == "Occlusion (window_fraction=0.1)"


def test_an_entry_for_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method"):
        faithfulness.parse_entry("lime:samples=10")


@pytest.mark.slow
def test_every_method_finds_its_tile_in_a_mosaic(builtin):
    """Goals: peak hit rate >= 0.9 and >= 60% of the positive mass in the right tile over the full run's 60 tiles.
    One mosaic here, 4 tiles: every peak but at most one lands; Grad-CAM and occlusion hold the mass goal, integrated
    gradients does not (bench/RESULTS_faithfulness.md), so it is only held above chance (a quarter)."""
    tallies = faithfulness.grid_pointing(builtin, ENTRIES, limit=1)
    for label, t in tallies.items():
        assert len(t.shown_hits) == 4
        assert np.mean(t.shown_hits) >= 0.75, label
        assert np.mean(t.shown_mass) >= (0.3 if label == "Integrated gradients" else 0.6), label


@pytest.mark.parametrize("kind", ["cnn", "vit"])
def test_occlusion_and_integrated_gradients_peak_inside_a_planted_cue_at_96_px(kind):
    entries = [("occlusion", {}), ("integrated_gradients", {})]
    tallies = faithfulness.planted(entries, models=[(kind, 96)], seeds=5)[(kind, 96)]
    for label, t in tallies.items():
        assert all(t.shown_hits), label


def test_mosaics_are_tiles_of_different_confident_classes(builtin):
    mosaic = faithfulness.mosaics(builtin, limit=1)[0]
    assert mosaic.image.shape == (1, 3, 224, 224)
    classes = [target.index for _, target, _ in mosaic.tiles]
    assert len(set(classes)) == 4
    boxes = [box for _, _, box in mosaic.tiles]
    assert sorted(boxes) == [(0, 0, 112, 112), (0, 112, 112, 224), (112, 0, 224, 112), (112, 112, 224, 224)]


def test_the_blurred_copy_control_catches_a_map_that_wins_by_being_blurry():
    """A map that is right only roughly: the cue's neighbourhood as a wide blob, with its own detail pointing away from
    the cue (a ring around it). It beats random order; its blurred copy beats it, so it must not pass."""
    model = cue_model("cnn", 96)
    image, (top, left, bottom, right) = cue_image(96, seed=2)
    cam = gradcam.explain(model, image)
    rows, cols = np.mgrid[:96, :96]
    distance = np.hypot(rows - (top + bottom) / 2, cols - (left + right) / 2)
    ring = np.exp(-(((distance - 14) / 5) ** 2))
    card = quality.scorecard(model, image, cam.with_updates(method="ring", heatmap=ring.astype(np.float32)))
    assert card.curves is not None and card.curves.gain > 0
    assert card.curves.blurred_gain is not None and card.curves.blurred_gain > card.curves.gain
    assert card.badge != "pass"
    assert "blurred copy" in card.reason


def test_a_sharp_right_map_beats_both_controls_and_says_so():
    model = cue_model("cnn", 96)
    image, _ = cue_image(96, seed=2)
    card = quality.scorecard(model, image, gradcam.explain(model, image), sanity=False)
    assert card.badge == "pass", card.reason
    assert "better than random order" in card.reason and "than a blurred copy" in card.reason
