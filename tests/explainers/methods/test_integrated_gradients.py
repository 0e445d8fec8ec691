"""Integrated gradients: known answers on planted models, completeness, SmoothGrad seeding, threads, options."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

import planted  # noqa: E402

from explainers.errors import ImageError, OptionError, TargetError  # noqa: E402
from explainers.methods import integrated_gradients as ig  # noqa: E402
from explainers.methods.baselines import baseline  # noqa: E402
from explainers.targets import forward_fn  # noqa: E402
from explainers.types import Target  # noqa: E402

N_IMAGES = 40


@pytest.fixture(scope="module")
def classifiers():
    return {q: planted.planted_classifier(q) for q in range(4)}


@pytest.mark.parametrize("quadrant", range(4))
def test_integrated_gradients_peak_in_the_planted_quadrant(classifiers, quadrant):
    box, images = planted.quadrant_box(64, quadrant), planted.random_images(N_IMAGES, 64, seed=quadrant)
    hits = sum(
        planted.peak_in_box(ig.explain(classifiers[quadrant], images[i : i + 1]).heatmap, box) for i in range(N_IMAGES)
    )
    assert hits >= 0.95 * N_IMAGES


@pytest.mark.parametrize("output", ["left", "right"])
def test_regression_outputs_peak_in_the_half_they_read(output):
    model = planted.planted_regressor()
    target = Target(model.task.names.index(output), output, "regression")
    half = (0, 0, 64, 32) if output == "left" else (0, 32, 64, 64)
    images = planted.random_images(N_IMAGES, 64, seed=11)
    hits = sum(
        planted.peak_in_box(ig.explain(model, images[i : i + 1], target=target).heatmap, half) for i in range(N_IMAGES)
    )
    assert hits >= 0.95 * N_IMAGES


@pytest.mark.parametrize("quadrant", [0, 3])
def test_integrated_gradients_find_the_quadrant_a_coarse_model_cuts_out_and_nothing_else(quadrant):
    model, box = planted.coarse_classifier(quadrant), planted.quadrant_box(48, quadrant)
    outside = torch.ones(48, 48, dtype=torch.bool)
    outside[box[0] : box[2], box[1] : box[3]] = False
    images = planted.random_images(N_IMAGES, 48, seed=quadrant)
    hits = 0
    for i in range(N_IMAGES):
        heatmap = ig.explain(model, images[i : i + 1]).heatmap
        assert np.all(heatmap[outside.numpy()] == 0)
        hits += planted.peak_in_box(np.abs(heatmap), box)
    assert hits >= 0.95 * N_IMAGES


@pytest.mark.parametrize("name", ["classifier", "regressor"])
def test_completeness_holds_within_1_percent_at_32_steps_from_a_blurred_baseline(name):
    # The worst relative delta over these 40 images was 0.57% (classifier) and 0.50% (regressor) when written.
    model = planted.planted_classifier(0) if name == "classifier" else planted.planted_regressor()
    images = planted.random_images(N_IMAGES, 64, seed=5)
    worst = max(
        ig.explain(model, images[i : i + 1], baselines="blur", n_steps=32, smooth_samples=0).extras["relative_delta"]
        for i in range(N_IMAGES)
    )
    assert worst < 0.01


@pytest.mark.parametrize("fill", ["black", "noise"])
def test_completeness_error_shrinks_below_1_percent_with_more_steps(classifiers, fill):
    # ReLU kinks on the path slow the quadrature: from black, the worst of 40 images is 2.9% at 32 steps, 0.65% at 128.
    images = planted.random_images(10, 64, seed=5)
    for i in range(10):
        one = {"baselines": fill, "smooth_samples": 0}
        few = ig.explain(classifiers[0], images[i : i + 1], n_steps=8, **one).extras["relative_delta"]
        many = ig.explain(classifiers[0], images[i : i + 1], n_steps=256, **one).extras["relative_delta"]
        assert many < 0.01 and many < few


def test_the_reported_delta_is_the_gap_the_map_leaves_unexplained(classifiers):
    model, image = classifiers[1], planted.random_images(1, 64, seed=3)
    result = ig.explain(model, image, baselines="black", n_steps=8, smooth_samples=0)
    fn = forward_fn(model, result.target)
    with torch.no_grad():
        gap = float(fn(image) - fn(baseline(model, image, "black")))
    assert result.heatmap.sum() == pytest.approx(gap + result.extras["delta"], abs=1e-4)
    assert result.extras["relative_delta"] == pytest.approx(abs(result.extras["delta"]) / abs(gap), rel=1e-4)
    assert result.extras["baseline_score"] == pytest.approx(float(result.score) - gap, abs=1e-5)


def test_a_large_completeness_error_comes_with_a_note_suggesting_more_steps(classifiers):
    image = planted.random_images(1, 64, seed=3)
    rough = ig.explain(classifiers[1], image, baselines="black", n_steps=1, smooth_samples=0)
    assert rough.extras["relative_delta"] > 0.01 and "raise n_steps from 1 to 4" in rough.notes[0]
    assert ig.explain(classifiers[1], image, baselines="blur", n_steps=32, smooth_samples=0).notes == ()


def test_a_baseline_the_target_cannot_tell_from_the_image_gets_a_note(classifiers):
    image = planted.random_images(1, 64, seed=3)
    result = ig.explain(classifiers[1], image, target=Target(1, "other", "multiclass"))  # "other" is constant 0
    assert result.extras["relative_delta"] is None and "nothing to attribute" in result.notes[0]


def test_explaining_what_lowers_the_target_flips_the_map(classifiers):
    model, image = classifiers[0], planted.random_images(1, 64, seed=2)
    raises = ig.explain(model, image, target=Target(0, "evidence", "multiclass"))
    lowers = ig.explain(model, image, target=Target(0, "evidence", "multiclass", -1))
    np.testing.assert_allclose(lowers.heatmap, -raises.heatmap, atol=1e-6)


@pytest.mark.parametrize("options", [{"baselines": "noise"}, {"smooth_samples": 4}])
def test_seeded_randomness_replays_and_a_new_seed_changes_the_map(classifiers, options):
    model, image = classifiers[2], planted.random_images(1, 64, seed=6)
    first = ig.explain(model, image, seed=7, **options)
    state = torch.get_rng_state()
    again = ig.explain(model, image, target=first.target, **first.options)
    assert torch.equal(state, torch.get_rng_state())  # the global generator is never drawn from
    other = ig.explain(model, image, seed=8, **options)
    np.testing.assert_allclose(first.heatmap, again.heatmap, atol=1e-6)
    assert np.abs(first.heatmap - other.heatmap).max() > 1e-4


def test_smoothgrad_averages_the_maps_of_noisy_copies(classifiers):
    model, image = classifiers[2], planted.random_images(1, 64, seed=6)
    smooth = ig.explain(model, image, baselines="black", smooth_samples=3, smooth_stdev=0.2, n_steps=8, seed=1)
    noise = ig._noise(model, image, 3, 0.2, 1)
    one = {"baselines": "black", "n_steps": 8, "smooth_samples": 0}
    copies = [ig.explain(model, image + noise[i : i + 1], target=smooth.target, **one).heatmap for i in range(3)]
    np.testing.assert_allclose(smooth.heatmap, np.mean(copies, axis=0), atol=1e-5)


def test_copies_beyond_the_batch_size_are_run_in_chunks_with_the_same_result(classifiers, monkeypatch):
    model, image = classifiers[2], planted.random_images(1, 64, seed=6)
    whole = ig.explain(model, image, baselines="blur", smooth_samples=5, n_steps=4)
    monkeypatch.setattr(ig, "batch_size", lambda *a, **k: 2)
    chunked = ig.explain(model, image, baselines="blur", smooth_samples=5, n_steps=4)
    assert chunked.extras["internal_batch_size"] == 2
    np.testing.assert_allclose(whole.heatmap, chunked.heatmap, atol=1e-5)


def test_four_threads_give_the_serial_results(classifiers):
    model, images = classifiers[3], planted.random_images(8, 64, seed=21)
    serial = [ig.explain(model, images[i : i + 1], smooth_samples=2, seed=i) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda i: ig.explain(model, images[i : i + 1], smooth_samples=2, seed=i), range(8)))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_allclose(a.heatmap, b.heatmap, atol=1e-5)


def test_it_works_when_the_caller_turned_gradients_off(classifiers):
    image = planted.random_images(1, 64, seed=1)
    with torch.no_grad():
        inside = ig.explain(classifiers[0], image)
    np.testing.assert_allclose(inside.heatmap, ig.explain(classifiers[0], image).heatmap, atol=1e-6)


def test_the_result_is_a_float32_map_at_input_size_with_its_facts(classifiers):
    result = ig.explain(classifiers[0], planted.random_images(1, 64))
    assert result.method == "integrated_gradients" and result.heatmap.shape == (64, 64)
    assert result.heatmap.dtype == np.float32 and result.timings["total"] > 0
    assert result.options == {"baselines": "blurs", "n_steps": 32, "smooth_samples": 0, "smooth_stdev": 0.15, "seed": 0}
    assert result.extras["internal_batch_size"] >= 1


def test_progress_counts_integration_steps_up_to_done(classifiers):
    calls = []
    ig.explain(
        classifiers[0],
        planted.random_images(1, 64),
        n_steps=16,
        smooth_samples=2,
        progress=lambda f, msg: calls.append((f, msg)),
    )
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and calls[-1] == (1.0, "integrated gradients: 32/32 steps")


def test_no_hook_grad_flag_or_mode_outlives_a_call(classifiers):
    model = classifiers[2]
    ig.explain(model, planted.random_images(1, 64), smooth_samples=2)
    assert planted.hooks_left(model.model) == 0 and not model.model.training
    assert not any(p.requires_grad for p in model.model.parameters())
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("fill", ["zero", "mean", "grey", None])
def test_a_baseline_integrated_gradients_does_not_offer_is_refused(classifiers, fill):
    with pytest.raises(OptionError, match="black, blur, noise"):
        ig.explain(classifiers[0], planted.random_images(1, 64), baselines=fill)


@pytest.mark.parametrize("n_steps", [0, -1, 1025, 3.5, True, "32"])
def test_bad_n_steps_are_refused(classifiers, n_steps):
    with pytest.raises(OptionError, match="n_steps must be a whole number from 1 to 1024"):
        ig.explain(classifiers[0], planted.random_images(1, 64), n_steps=n_steps)


@pytest.mark.parametrize("samples", [-1, 65, 1.5, True])
def test_bad_smooth_samples_are_refused(classifiers, samples):
    with pytest.raises(OptionError, match="smooth_samples"):
        ig.explain(classifiers[0], planted.random_images(1, 64), smooth_samples=samples)


@pytest.mark.parametrize("stdev", [0, -0.1, 1.5, float("nan"), "0.1"])
def test_a_bad_smooth_stdev_is_refused(classifiers, stdev):
    with pytest.raises(OptionError, match="smooth_stdev"):
        ig.explain(classifiers[0], planted.random_images(1, 64), smooth_samples=2, smooth_stdev=stdev)


@pytest.mark.parametrize("seed", [-1, 1.5, None])
def test_a_bad_seed_is_refused(classifiers, seed):
    with pytest.raises(OptionError, match="seed"):
        ig.explain(classifiers[0], planted.random_images(1, 64), seed=seed)


def test_too_many_gradient_evaluations_are_refused_with_a_step_count_that_fits(classifiers):
    with pytest.raises(OptionError, match=r"16,384 gradient evaluations \(at most 8,192\); lower n_steps to 512"):
        ig.explain(classifiers[0], planted.random_images(1, 64), n_steps=1024, smooth_samples=16)


def test_a_target_the_model_lacks_is_refused(classifiers):
    with pytest.raises(TargetError):
        ig.explain(classifiers[0], planted.random_images(1, 64), target=Target(5, "x", "multiclass"))


def test_a_batch_instead_of_one_image_is_refused(classifiers):
    with pytest.raises(ImageError, match="one image"):
        ig.explain(classifiers[0], planted.random_images(2, 64))
