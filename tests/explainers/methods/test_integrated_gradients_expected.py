"""Expected gradients (IG over a distribution of references, captum's GradientShap): known answers, replay, threads."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(1)

import planted  # noqa: E402

from explainers import prepare_image  # noqa: E402
from explainers.errors import OptionError  # noqa: E402
from explainers.methods import integrated_gradients as ig  # noqa: E402
from explainers.methods.baselines import BLUR_SIGMA_FRACTIONS, DISTRIBUTIONS, NOISE_DRAWS, distribution  # noqa: E402
from explainers.targets import forward_fn  # noqa: E402
from explainers.trust import receipt  # noqa: E402

N_IMAGES = 20
FEW = {"n_steps": 8, "smooth_samples": 0}


@pytest.fixture(scope="module")
def classifier():
    return planted.planted_classifier(1)


@pytest.fixture(scope="module")
def vit():
    return planted.planted_vit()


@pytest.mark.parametrize("kind", DISTRIBUTIONS)
def test_expected_gradients_peak_in_the_planted_quadrant(classifier, kind):
    box, images = planted.quadrant_box(64, 1), planted.random_images(N_IMAGES, 64, seed=4)
    maps = [ig.explain(classifier, images[i : i + 1], baselines=kind, **FEW).heatmap for i in range(N_IMAGES)]
    assert sum(planted.peak_in_box(m, box) for m in maps) >= 0.95 * N_IMAGES


@pytest.mark.parametrize("kind", DISTRIBUTIONS)
def test_expected_gradients_peak_on_the_planted_vits_cue(vit, kind):
    images, boxes = planted.cue_images(N_IMAGES, seed=9)
    maps = [ig.explain(vit, images[i : i + 1], baselines=kind, **FEW).heatmap for i in range(N_IMAGES)]
    assert sum(planted.peak_in_box(m, b) for m, b in zip(maps, boxes, strict=True)) >= 0.95 * N_IMAGES


def test_the_blurs_are_the_image_at_each_radius_and_expected_adds_black_and_noise(classifier):
    image = planted.random_images(1, 64, seed=2)
    blurs, broad = distribution(classifier, image, "blurs"), distribution(classifier, image, "expected", seed=3)
    assert blurs.shape == (len(BLUR_SIGMA_FRACTIONS), 3, 64, 64)
    assert broad.shape == (len(BLUR_SIGMA_FRACTIONS) + 1 + NOISE_DRAWS, 3, 64, 64)
    assert torch.equal(broad[: len(blurs)], blurs)
    assert torch.allclose(broad[len(blurs)], torch.full((3, 64, 64), -1.0))  # black, in the planted (0.5, 0.5) space
    changes = [float((blurs[k] - image[0]).abs().mean()) for k in range(len(blurs))]
    assert changes == sorted(changes)  # wider blurs remove more
    assert not torch.equal(broad[-1], distribution(classifier, image, "expected", seed=4)[-1])


def test_an_unknown_distribution_is_refused(classifier):
    with pytest.raises(OptionError, match="blurs, expected"):
        distribution(classifier, planted.random_images(1, 64), "blur")


def test_the_map_adds_up_to_the_gap_to_the_references_mean_score_on_average(classifier):
    # Completeness holds in expectation: the error shrinks with samples (here 23% at 8, 6.0% at 64, 1.3% at 1024).
    image = planted.random_images(1, 64, seed=3)
    few = ig.explain(classifier, image, baselines="blurs", n_steps=8, smooth_samples=0)
    many = ig.explain(classifier, image, baselines="blurs", n_steps=1024, smooth_samples=0)
    fn = forward_fn(classifier, many.target)
    with torch.no_grad():
        mean = float(fn(distribution(classifier, image, "blurs")).mean())
    assert many.extras["baseline_score"] == pytest.approx(mean, abs=1e-5)
    assert many.heatmap.sum() == pytest.approx(float(many.score) - mean + many.extras["delta"], abs=1e-4)
    assert many.extras["relative_delta"] < few.extras["relative_delta"]
    assert many.extras["relative_delta"] < 0.02


def test_a_large_sampling_error_comes_with_a_note_about_averages(classifier):
    rough = ig.explain(classifier, planted.random_images(1, 64, seed=3), baselines="expected", n_steps=2)
    assert "only on average" in rough.notes[0] and "raise n_steps from 2 to 8" in rough.notes[0]


@pytest.mark.parametrize("options", [{"smooth_samples": 0}, {"smooth_samples": 2}])
def test_a_seed_replays_the_draws_and_leaves_the_global_generators_alone(classifier, options):
    image = planted.random_images(1, 64, seed=6)
    first = ig.explain(classifier, image, baselines="expected", n_steps=6, seed=7, **options)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    again = ig.explain(classifier, image, target=first.target, **first.options)
    assert torch.equal(torch_state, torch.get_rng_state())
    assert np.array_equal(numpy_state, np.random.get_state()[1])
    other = ig.explain(classifier, image, baselines="expected", n_steps=6, seed=8, **options)
    np.testing.assert_array_equal(first.heatmap, again.heatmap)
    assert np.abs(first.heatmap - other.heatmap).max() > 1e-4


def test_the_draws_do_not_depend_on_the_batch_size_the_device_allows(classifier, monkeypatch):
    image = planted.random_images(1, 64, seed=6)
    whole = ig.explain(classifier, image, baselines="blurs", n_steps=6, smooth_samples=2)
    monkeypatch.setattr(ig, "batch_size", lambda *a, **k: 1)
    np.testing.assert_array_equal(whole.heatmap, ig.explain(classifier, image, **whole.options).heatmap)


def test_four_threads_give_the_serial_results(classifier):
    images = planted.random_images(6, 64, seed=21)

    def run(i: int) -> np.ndarray:
        return ig.explain(classifier, images[i : i + 1], baselines="expected", n_steps=4, seed=i).heatmap

    serial = [run(i) for i in range(6)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(run, range(6)))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)


def test_progress_counts_samples_up_to_done(classifier):
    calls = []
    image = planted.random_images(1, 64)
    ig.explain(classifier, image, baselines="blurs", n_steps=5, smooth_samples=2, progress=lambda f, m: calls.append(f))
    assert calls == sorted(calls) and calls[-1] == 1.0 and len(calls) == 10


def test_no_hook_grad_flag_or_mode_outlives_a_call(classifier):
    ig.explain(classifier, planted.random_images(1, 64), baselines="expected", n_steps=4)
    assert planted.hooks_left(classifier.model) == 0 and not classifier.model.training
    assert not any(p.requires_grad for p in classifier.model.parameters())
    assert torch.is_grad_enabled()


def test_a_receipt_of_an_expected_gradients_map_replays_it(classifier, tmp_path):
    path = tmp_path / "picture.png"
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).resize((64, 64), Image.BILINEAR).save(path)
    prepared = prepare_image(classifier, path)
    original = ig.explain(classifier, prepared.image, baselines="expected", n_steps=6, smooth_samples=2, seed=5)
    made = json.loads(json.dumps(receipt.build(classifier, prepared, original).to_dict()))
    again = receipt.replay(made, path, loader=lambda model_id, revision: classifier)
    assert again.options == original.options and receipt.same_map(original, again)
