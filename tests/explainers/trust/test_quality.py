"""Scorecard: the badge must tell maps that find planted evidence from maps that miss it, random and inverted maps."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from planted import box_mask, coarse_classifier, peak_in_box, planted_classifier, quadrant_box, random_images

import explainers
from explainers import registry
from explainers.errors import OptionError
from explainers.methods import gradcam, integrated_gradients, occlusion
from explainers.trust import scorecard as quality
from explainers.trust.curves import density, pool, randomised_copy, spearman
from explainers.types import Explanation, LoadedModel

torch.set_num_threads(1)

IMAGES_PER_QUADRANT = 6


@dataclass(frozen=True)
class Case:
    """One map of one planted image: did the pointing game find the planted quadrant, and what did the badge say."""

    model: str
    quadrant: int
    image: int
    method: str
    hit: bool
    card: quality.Scorecard


def _hand_made(like: Explanation, name: str, heatmap: np.ndarray) -> Explanation:
    """A map that no method made, tested like ``like`` (same target; same reference image when ``like`` had one)."""
    options = {k: v for k, v in like.options.items() if k == "baselines"}
    return like.with_updates(method=name, heatmap=np.asarray(heatmap, np.float32), options=options, extras={})


def _score(build, size: int) -> list[Case]:
    cases = []
    for q in range(4):
        loaded = build(q)
        box = quadrant_box(size, q)
        images = random_images(IMAGES_PER_QUADRANT, size, seed=q)
        for i in range(IMAGES_PER_QUADRANT):
            image = images[i : i + 1]
            cam = gradcam.explain(loaded, image)
            target = cam.target
            maps = [
                cam,
                occlusion.explain(loaded, image, target=target),
                integrated_gradients.explain(loaded, image, target=target),
            ]
            mask = box_mask(size, box).numpy()
            noise = np.random.default_rng(100 * q + i).random((size, size))
            maps += [
                _hand_made(maps[1], "inverted occlusion", -maps[1].heatmap),
                _hand_made(maps[2], "inverted ig", -maps[2].heatmap),
                _hand_made(cam, "wrong quadrant", box_mask(size, quadrant_box(size, 3 - q)).numpy()),
                _hand_made(cam, "random", noise),
                _hand_made(cam, "planted box", mask),
            ]
            cards = quality.scorecards(loaded, image, maps)
            for expl, card in zip(maps, cards, strict=True):
                cases.append(Case(loaded.model_id, q, i, expl.method, peak_in_box(expl.heatmap, box), card))
    return cases


@pytest.fixture(scope="module")
def coarse_cases() -> list[Case]:
    return _score(coarse_classifier, 48)


@pytest.fixture(scope="module")
def planted_cases() -> list[Case]:
    return _score(planted_classifier, 64)


def _of(cases: list[Case], *methods: str) -> list[Case]:
    return [c for c in cases if c.method in methods]


def _testable(cases: list[Case]) -> list[Case]:
    return [c for c in cases if c.card.curves is not None]


def test_occlusion_and_ig_pass_wherever_they_find_the_quadrant_grad_cam_misses(coarse_cases):
    right = [c for c in _of(coarse_cases, "occlusion", "integrated_gradients") if c.hit]
    testable = _testable(right)
    assert len(right) >= 40  # the known answer: both methods point into the planted quadrant
    assert len(testable) >= 0.75 * len(right)  # the reference image of the rest scores like the image: no test
    # The blurred-copy control holds back a few patchy coarse_to_fine maps of this texture-reading model: their blurred
    # copies find the quadrant better than they do. Nothing else stops them.
    held = [c for c in testable if c.card.badge != "pass"]
    assert all(c.card.badge == "warn" and "blurred copy" in c.card.reason for c in held)
    assert len(held) <= 0.1 * len(testable), len(held)
    gains = [c.card.curves.gain for c in testable]
    assert min(gains) > 2 * quality.PASS_GAIN


def test_grad_cam_never_passes_on_the_coarse_model_and_says_why(coarse_cases):
    cams = _of(coarse_cases, "gradcam")
    misses = [c for c in cams if not c.hit]
    assert len(misses) >= 3  # the known miss happens in this sample
    assert [c for c in cams if c.card.badge == "pass"] == []
    testable = [c for c in _testable(cams) if c.card.curves.gain >= quality.PASS_GAIN]
    assert testable and all("only 3x3" in c.card.reason for c in testable)


def test_maps_that_find_the_planted_quadrant_pass(planted_cases):
    right = _of(planted_cases, "occlusion", "integrated_gradients", "planted box")
    assert all(c.hit for c in _of(right, "occlusion", "integrated_gradients"))
    testable = _testable(right)
    assert len(testable) == len(right)
    assert [c for c in testable if c.card.badge != "pass"] == []
    assert min(c.card.curves.gain for c in testable) > 2 * quality.PASS_GAIN


@pytest.mark.parametrize("fixture", ["planted_cases", "coarse_cases"])
def test_inverted_maps_fail(fixture, request):
    inverted = _testable(_of(request.getfixturevalue(fixture), "inverted occlusion", "inverted ig"))
    assert len(inverted) >= 36
    assert [c for c in inverted if c.card.badge != "fail"] == []


def test_the_wrong_quadrant_never_passes_on_the_planted_classifier(planted_cases):
    wrong = _of(planted_cases, "wrong quadrant")
    assert not any(c.hit for c in wrong)
    assert [c for c in wrong if c.card.badge == "pass"] == []
    assert max(c.card.curves.gain for c in wrong) < 0


def test_random_maps_rarely_pass_and_never_by_much(planted_cases, coarse_cases):
    """The gain of a random order has mean 0 and spreads +-0.13 on the planted classifier: PASS_GAIN is ~2 sd.

    On the coarse model (an untrained ReLU net whose score jumps as pixels go) one order spreads +-0.37, so maps that
    rank like random order (random maps, a quadrant the model never sees) can pass by chance there; the measured rates
    are pinned here so that a change in them is noticed.
    """
    random = _testable(_of(planted_cases, "random"))
    assert len(random) == 4 * IMAGES_PER_QUADRANT
    assert sum(c.card.badge == "pass" for c in random) <= 1
    assert max(c.card.curves.gain for c in random) < quality.PASS_GAIN + 0.1
    assert abs(np.mean([c.card.curves.gain for c in random])) < 0.05
    random_like = _testable(_of(coarse_cases, "random", "wrong quadrant"))
    assert sum(c.card.badge == "pass" for c in random_like) <= 0.4 * len(random_like)


def test_methods_that_find_the_quadrant_agree_on_where(planted_cases):
    occ = _of(planted_cases, "occlusion")
    assert min(c.card.agreement["integrated_gradients"] for c in occ) > 0.5
    assert min(c.card.agreement["gradcam"] for c in occ) > 0.5
    assert all({"gradcam", "integrated_gradients"} <= set(c.card.agreement) for c in occ)
    assert all("occlusion" not in c.card.agreement for c in occ)
    inverted = _of(planted_cases, "inverted occlusion")
    assert max(c.card.agreement["occlusion"] for c in inverted) < 0.2


def test_randomisation_check_runs_for_gradient_methods_only(planted_cases):
    for c in planted_cases:
        if c.method in ("gradcam", "integrated_gradients"):
            assert c.card.randomisation is not None and c.card.randomisation < quality.WARN_CORRELATION
        elif c.method == "occlusion":
            assert c.card.randomisation is None


def test_a_map_that_ignores_the_model_fails_the_randomisation_check(monkeypatch):
    loaded = planted_classifier(3)
    image = random_images(1, 64, seed=5)

    def edges(model: LoadedModel, image: torch.Tensor, *, target=None, progress=None) -> Explanation:
        """Colour edges of the picture: what a map looks like when it shows the image, not the model."""
        cam = gradcam.explain(model, image, target=target)
        grey = image[0].mean(0).numpy()
        return cam.with_updates(method="edges", heatmap=np.hypot(*np.gradient(grey)).astype(np.float32), options={})

    monkeypatch.setitem(
        registry.METHODS, "edges", registry.Method("edges", "Edges", sanity=registry.Sanity(), function=edges)
    )
    card = quality.scorecard(loaded, image, edges(loaded, image))
    assert card.randomisation == pytest.approx(1.0)
    assert card.badge == "fail"
    assert "re-initialised" in card.reason


def test_randomised_copy_leaves_the_shared_model_untouched():
    loaded = planted_classifier(0)
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    copy = randomised_copy(loaded, seed=0)
    after = loaded.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    changed = {k for k, v in copy.model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"net.conv2.weight", "net.conv2.bias"}  # the last stage; the head pools fixed boxes
    assert copy.weights_sha256 != loaded.weights_sha256
    assert all(not p.requires_grad for p in copy.model.parameters())


def test_randomised_copy_redraws_the_last_stage_and_the_head_of_a_timm_model():
    import timm
    from planted import make_loaded

    net = timm.create_model("resnet18", pretrained=False, num_classes=3)
    loaded = make_loaded(net, explainers.TaskInfo("multiclass", ("a", "b", "c")))
    copy = randomised_copy(loaded, seed=1)
    before, after = loaded.model.state_dict(), copy.model.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"layer4", "fc"}


def test_spearman_of_known_rankings():
    a = np.arange(10.0)
    assert spearman(a, a * 3 + 1) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.ones(10)) == 0.0
    ties = np.array([0.0, 0.0, 1.0, 1.0])
    assert spearman(ties, np.array([0.0, 0.0, 5.0, 5.0])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differ in size"):
        spearman(np.zeros(3), np.zeros(4))


def test_pool_averages_over_cells():
    heatmap = np.zeros((64, 64), np.float32)
    heatmap[:4, :4] = 2.0
    pooled = pool(heatmap, 16)
    assert pooled.shape == (256,)
    assert pooled[0] == pytest.approx(2.0) and pooled[1:].max() == 0.0


def test_density_is_the_pooled_map_at_full_size_with_mean_magnitude_one():
    heatmap = np.zeros((64, 64), np.float32)
    heatmap[:32, :32] = 3.0  # the top-left quarter: 4 x 4 of the 8 x 8 cells, far from their borders in the middle
    spread = density(heatmap, 8)
    assert spread.shape == (64, 64) and spread.dtype == np.float32
    assert float(np.abs(spread).mean()) == pytest.approx(1.0, rel=1e-5)
    assert spread[8, 8] == pytest.approx(4.0, rel=1e-5) and spread[48, 48] == 0.0
    assert density(heatmap * 100, 8) == pytest.approx(spread, rel=1e-5)  # one unit, whatever the method's


def test_density_of_an_empty_map_stays_zero():
    assert not density(np.zeros((16, 16), np.float32), 16).any()


def test_scorecard_is_json_ready_and_deterministic():
    loaded = planted_classifier(1)
    image = random_images(1, 64, seed=3)
    cam = gradcam.explain(loaded, image)
    first, second = (quality.scorecard(loaded, image, cam).to_dict() for _ in range(2))
    first.pop("seconds"), second.pop("seconds")
    assert first == second
    text = json.dumps(first)
    assert '"badge"' in text and '"deletion_auc"' in text


def test_maps_share_one_random_order_per_reference():
    loaded = planted_classifier(2)
    image = random_images(1, 64, seed=4)
    cam = gradcam.explain(loaded, image)
    occ = occlusion.explain(loaded, image, target=cam.target)
    cards = quality.scorecards(loaded, image, [cam, occ], sanity=False)
    assert cards[0].curves.random_deletion == cards[1].curves.random_deletion
    assert cards[0].baselines == cards[1].baselines == "blur"


def test_each_map_is_tested_against_its_own_reference():
    loaded = planted_classifier(2)
    image = random_images(1, 64, seed=4)
    ig = integrated_gradients.explain(loaded, image, baselines="black")
    assert quality.scorecard(loaded, image, ig, sanity=False).baselines == "black"
    assert quality.scorecard(loaded, image, ig, sanity=False, baselines="mean").baselines == "mean"


def test_a_target_the_reference_scores_as_high_as_the_image_cannot_be_tested():
    loaded = planted_classifier(0)
    image = random_images(1, 64, seed=0)
    cam = gradcam.explain(loaded, image, target=explainers.Target(1, "other", "multiclass"))  # constant logit
    card = quality.scorecard(loaded, image, cam)
    assert card.curves is None and card.badge == "warn"
    assert "cannot test" in card.reason


def test_scorecards_are_the_same_from_several_threads():
    loaded = planted_classifier(3)
    image = random_images(1, 64, seed=9)
    cam = gradcam.explain(loaded, image)
    expected = quality.scorecard(loaded, image, cam).to_dict()
    results: list[dict] = []

    def run() -> None:
        results.append(quality.scorecard(loaded, image, cam).to_dict())

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in [expected, *results]:
        r.pop("seconds")
    assert results == [expected] * 3


def test_no_explanations_is_refused():
    with pytest.raises(OptionError, match="at least one"):
        quality.scorecards(planted_classifier(0), random_images(1, 64), [])


@pytest.mark.parametrize("steps", [1, 65])
def test_steps_out_of_range_are_refused(steps):
    loaded = planted_classifier(0)
    image = random_images(1, 64)
    with pytest.raises(OptionError, match="steps"):
        quality.scorecard(loaded, image, gradcam.explain(loaded, image), steps=steps)


def test_an_unknown_reference_is_refused():
    loaded = planted_classifier(0)
    image = random_images(1, 64)
    with pytest.raises(OptionError, match="baseline"):
        quality.scorecard(loaded, image, gradcam.explain(loaded, image), baselines="grey")


def test_an_unknown_method_cannot_be_rerun():
    loaded = planted_classifier(0)
    image = random_images(1, 64)
    cam = gradcam.explain(loaded, image)
    with pytest.raises(OptionError, match="unknown method"):
        quality.randomisation(loaded, image, cam.with_updates(method="loading"))


@pytest.mark.slow
def test_on_a_photo_grad_cam_passes_and_its_inverse_fails():
    import skimage.data

    loaded = explainers.load_model(None)
    prepared = explainers.prepare_image(loaded, skimage.data.coffee())
    cam = gradcam.explain(loaded, prepared.image)
    noise = np.random.default_rng(0).random(cam.heatmap.shape)
    maps = [cam, cam.with_updates(heatmap=-cam.heatmap), _hand_made(cam, "random", noise)]
    good, inverted, random = quality.scorecards(loaded, prepared.image, maps)
    assert good.badge == "pass", good.reason
    assert inverted.badge == "fail"
    assert random.badge != "pass"
    assert good.randomisation is not None and good.randomisation < quality.WARN_CORRELATION
