"""Occlusion: known answers on planted models, coarse_to_fine against dense, captum parity, threads, options."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

import planted  # noqa: E402
from captum.attr import Occlusion  # noqa: E402

from explainers.errors import ImageError, OptionError, TargetError  # noqa: E402
from explainers.methods import occlusion  # noqa: E402
from explainers.methods.baselines import baseline  # noqa: E402
from explainers.targets import forward_fn  # noqa: E402
from explainers.types import Target  # noqa: E402

N_IMAGES = 40
MODES = ("dense", "coarse_to_fine")


@pytest.fixture(scope="module")
def classifiers():
    return {q: planted.planted_classifier(q) for q in range(4)}


@pytest.fixture(scope="module")
def runs(classifiers):
    """Dense and coarse_to_fine on 40 images per quadrant, computed once for the tests that read them (a 15 x 15 grid
    of 9 px windows, the grid these tests were measured on)."""
    out = {}
    for q, model in classifiers.items():
        images = planted.random_images(N_IMAGES, 64, seed=q)
        out[q] = [
            {mode: occlusion.explain(model, images[i : i + 1], mode=mode, window=9, stride=4) for mode in MODES}
            for i in range(N_IMAGES)
        ]
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("quadrant", range(4))
def test_occlusion_peaks_in_the_planted_quadrant(runs, quadrant, mode):
    box = planted.quadrant_box(64, quadrant)
    hits = sum(planted.peak_in_box(r[mode].heatmap, box) for r in runs[quadrant])
    assert hits >= 0.95 * N_IMAGES


@pytest.mark.parametrize("quadrant", range(4))
def test_coarse_to_fine_needs_at_least_4x_fewer_forwards_than_dense(runs, quadrant):
    for r in runs[quadrant]:
        assert r["dense"].extras["n_forwards"] == 1 + r["dense"].extras["n_windows"] == 226
        assert r["dense"].extras["n_forwards"] >= 4 * r["coarse_to_fine"].extras["n_forwards"]


@pytest.mark.parametrize("quadrant", range(4))
def test_coarse_to_fine_finds_the_dense_critical_window_in_the_planted_quadrant(runs, quadrant):
    box = planted.quadrant_box(64, quadrant)
    same = 0
    for r in runs[quadrant]:
        top, left, bottom, right = r["coarse_to_fine"].extras["critical_box"]
        centre = ((top + bottom) // 2, (left + right) // 2)
        assert box[0] <= centre[0] < box[2] and box[1] <= centre[1] < box[3]
        same += r["coarse_to_fine"].extras["critical_box"] == r["dense"].extras["critical_box"]
    # The planted evidence is texture spread over a whole quadrant: ~50 windows within a few % of each other.
    # Exactly the same window was found for 139 of 160 images (87%) when this was written.
    assert same >= 0.75 * N_IMAGES


def test_critical_box_is_the_window_whose_fill_drops_the_target_most(classifiers):
    model, image = classifiers[1], planted.random_images(1, 64, seed=9)
    result = occlusion.explain(model, image, mode="dense", window=12, stride=6, baselines="zero")
    fn = forward_fn(model, result.target)
    drops = {}
    with torch.no_grad():
        for top in range(0, 64 - 6, 6):
            for left in range(0, 64 - 6, 6):
                x = image.clone()
                x[..., top : top + 12, left : left + 12] = 0
                drops[(top, left, min(top + 12, 64), min(left + 12, 64))] = float(fn(image) - fn(x))
    best = max(drops, key=drops.get)
    assert result.extras["critical_box"] == best
    assert result.extras["critical_drop"] == pytest.approx(drops[best], abs=1e-5)


@pytest.mark.parametrize("fill", occlusion.BASELINES)
def test_dense_occlusion_equals_captum_one_window_per_forward(classifiers, fill):
    model, image = classifiers[2], planted.random_images(1, 64, seed=4)
    result = occlusion.explain(model, image, mode="dense", window=10, stride=3, baselines=fill)
    reference = Occlusion(forward_fn(model, result.target)).attribute(
        image, sliding_window_shapes=(3, 10, 10), strides=(3, 3, 3), baselines=baseline(model, image, fill)
    )
    assert result.extras["perturbations_per_eval"] > 1
    np.testing.assert_allclose(result.heatmap, reference[0].mean(0).numpy(), atol=1e-6)


def test_coarse_to_fine_map_averages_windows_as_captum_does():
    drops = torch.randn(5, 5, generator=torch.Generator().manual_seed(0))
    boxes = [(r * 3, c * 3, min(r * 3 + 8, 20), min(c * 3 + 8, 20)) for r in range(5) for c in range(5)]
    ours = occlusion._box_map(boxes, drops.ravel().tolist(), (20, 20))

    def drop_of_the_hidden_window(x: torch.Tensor) -> torch.Tensor:
        out = []
        for img in x:  # the first filled pixel in reading order is the window's top-left corner
            hidden = (img[0] == -1).flatten().nonzero()
            t, left = divmod(int(hidden[0]), 20) if len(hidden) else (None, None)
            out.append(-drops[t // 3, left // 3] if t is not None else torch.tensor(0.0))
        return torch.stack(out)

    reference = Occlusion(drop_of_the_hidden_window).attribute(
        torch.zeros(1, 3, 20, 20), sliding_window_shapes=(3, 8, 8), strides=(3, 3, 3), baselines=-1.0
    )
    np.testing.assert_allclose(ours, reference[0, 0].numpy(), atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("output", ["left", "right"])
def test_regression_outputs_peak_in_the_half_they_read(output, mode):
    model = planted.planted_regressor()
    target = Target(model.task.names.index(output), output, "regression")
    half = (0, 0, 64, 32) if output == "left" else (0, 32, 64, 64)
    images = planted.random_images(N_IMAGES, 64, seed=11)
    hits = sum(
        planted.peak_in_box(occlusion.explain(model, images[i : i + 1], target=target, mode=mode).heatmap, half)
        for i in range(N_IMAGES)
    )
    assert hits >= 0.95 * N_IMAGES


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("quadrant", [0, 3])
def test_occlusion_finds_the_quadrant_a_coarse_model_cuts_out_at_its_input(quadrant, mode):
    model, box = planted.coarse_classifier(quadrant), planted.quadrant_box(48, quadrant)
    images = planted.random_images(N_IMAGES, 48, seed=quadrant)
    hits = sum(
        planted.peak_in_box(np.abs(occlusion.explain(model, images[i : i + 1], mode=mode).heatmap), box)
        for i in range(N_IMAGES)
    )
    assert hits >= 0.95 * N_IMAGES


def test_explaining_what_lowers_the_target_flips_the_map(classifiers):
    model, image = classifiers[0], planted.random_images(1, 64, seed=2)
    raises = occlusion.explain(model, image, target=Target(0, "evidence", "multiclass"), mode="dense")
    lowers = occlusion.explain(model, image, target=Target(0, "evidence", "multiclass", -1), mode="dense")
    np.testing.assert_allclose(lowers.heatmap, -raises.heatmap, atol=1e-6)
    assert lowers.score == raises.score


@pytest.mark.slow
def test_coarse_to_fine_finds_the_dense_critical_window_on_a_photo_with_4x_fewer_forwards():
    import skimage.data
    from PIL import Image

    from explainers.models.loading import load_model
    from explainers.models.preprocess import prepare_pil

    model = load_model(None)
    image = prepare_pil(model, Image.fromarray(skimage.data.coffee())).image
    dense = occlusion.explain(model, image, mode="dense")
    fast = occlusion.explain(model, image, mode="coarse_to_fine")
    assert dense.target.name == "espresso" and (dense.options["window"], dense.options["stride"]) == (32, 16)
    assert fast.extras["critical_box"] == dense.extras["critical_box"]
    assert dense.extras["n_forwards"] == 170 and fast.extras["n_forwards"] * 4 <= 170
    assert np.corrcoef(fast.heatmap.ravel(), dense.heatmap.ravel())[0, 1] > 0.8


@pytest.mark.parametrize("mode", MODES)
def test_four_threads_give_the_serial_results(classifiers, mode):
    model, images = classifiers[3], planted.random_images(8, 64, seed=21)
    serial = [occlusion.explain(model, images[i : i + 1], mode=mode) for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda i: occlusion.explain(model, images[i : i + 1], mode=mode), range(8)))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_allclose(a.heatmap, b.heatmap, atol=1e-5)
        assert a.extras["critical_box"] == b.extras["critical_box"]


@pytest.mark.parametrize("mode", MODES)
def test_options_replay_the_same_map(classifiers, mode):
    model, image = classifiers[1], planted.random_images(1, 64, seed=8)
    first = occlusion.explain(model, image, mode=mode, baselines="mean")
    again = occlusion.explain(model, image, target=first.target, **first.options)
    np.testing.assert_allclose(first.heatmap, again.heatmap, atol=1e-6)
    assert first.options == {"window": 9, "stride": 5, "baselines": "mean", "mode": mode}


def test_the_result_is_a_float32_map_at_input_size_with_its_facts(classifiers):
    result = occlusion.explain(classifiers[0], planted.random_images(1, 64))
    assert result.method == "occlusion" and result.heatmap.shape == (64, 64) and result.heatmap.dtype == np.float32
    assert result.options["mode"] == "coarse_to_fine"  # auto on the CPU
    assert result.target.name == "evidence" and result.timings["total"] > 0
    top, left, bottom, right = result.extras["critical_box"]
    assert (bottom - top, right - left) == (9, 9) or bottom == 64 or right == 64


def test_a_grid_too_small_to_save_forwards_falls_back_to_dense_with_a_note(classifiers):
    result = occlusion.explain(
        classifiers[0], planted.random_images(1, 64), window=32, stride=32, mode="coarse_to_fine"
    )
    assert result.options["mode"] == "dense" and result.extras["n_forwards"] == 5
    assert "saves nothing" in result.notes[0]


def test_progress_counts_windows_up_to_done(classifiers):
    calls = []
    occlusion.explain(
        classifiers[0], planted.random_images(1, 64), mode="dense", progress=lambda f, msg: calls.append((f, msg))
    )
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and calls[-1][1] == "occlusion: 144/144 windows"


def test_no_hook_grad_flag_or_mode_outlives_a_call(classifiers):
    model = classifiers[2]
    for mode in MODES:
        occlusion.explain(model, planted.random_images(1, 64), mode=mode, progress=lambda f, m: None)
    assert planted.hooks_left(model.model) == 0 and not model.model.training
    assert not any(p.requires_grad for p in model.model.parameters())
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("window", [0, -4, 65, 2.5, True, "32"])
def test_a_bad_window_is_refused(classifiers, window):
    with pytest.raises(OptionError, match="window"):
        occlusion.explain(classifiers[0], planted.random_images(1, 64), window=window)


@pytest.mark.parametrize("stride", [0, -1, 10, 1.5, False])
def test_a_bad_stride_is_refused(classifiers, stride):
    with pytest.raises(OptionError, match="stride"):
        occlusion.explain(classifiers[0], planted.random_images(1, 64), window=9, stride=stride)


@pytest.mark.parametrize("fill", ["black", "noise", "grey", None])
def test_a_fill_occlusion_does_not_offer_is_refused(classifiers, fill):
    with pytest.raises(OptionError, match="zero, mean, blur"):
        occlusion.explain(classifiers[0], planted.random_images(1, 64), baselines=fill)


def test_an_unknown_mode_is_refused(classifiers):
    with pytest.raises(OptionError, match="auto, dense, coarse_to_fine"):
        occlusion.explain(classifiers[0], planted.random_images(1, 64), mode="fast")


def test_too_many_windows_are_refused_with_their_count_and_a_stride_that_fits():
    model = planted.planted_classifier(0, input_size=128)
    with pytest.raises(OptionError, match=r"16,129 windows \(at most 4,096\); use stride >= 2"):
        occlusion.explain(model, planted.random_images(1, 128), window=2, stride=1)


def test_a_target_the_model_lacks_is_refused(classifiers):
    with pytest.raises(TargetError):
        occlusion.explain(classifiers[0], planted.random_images(1, 64), target=Target(5, "x", "multiclass"))


def test_a_batch_instead_of_one_image_is_refused(classifiers):
    with pytest.raises(ImageError, match="one image"):
        occlusion.explain(classifiers[0], planted.random_images(2, 64))


@pytest.mark.gpu
def test_dense_occlusion_on_cuda_batches_windows_and_matches_the_cpu(classifiers):
    import dataclasses

    cpu_model, image = classifiers[3], planted.random_images(1, 64, seed=1)
    gpu_model = planted.make_loaded(planted.planted_classifier(3).model.cuda(), cpu_model.task)
    gpu_model = dataclasses.replace(gpu_model, device=torch.device("cuda"))
    on_gpu = occlusion.explain(gpu_model, image.cuda())
    on_cpu = occlusion.explain(cpu_model, image, mode="dense")
    assert on_gpu.options["mode"] == "dense" and on_gpu.extras["perturbations_per_eval"] == 225
    np.testing.assert_allclose(on_gpu.heatmap, on_cpu.heatmap, atol=1e-4)


@pytest.mark.parametrize(("size", "window", "stride"), [(96, 12, 7), (224, 32, 16), (384, 60, 27)])
def test_default_fractions_give_the_same_grid_at_every_input_size(size, window, stride):
    model = planted.planted_classifier(3, input_size=size)
    result = occlusion.explain(model, planted.random_images(1, size), mode="coarse_to_fine")
    assert (result.options["window"], result.options["stride"]) == (window, stride)
    assert result.extras["n_windows"] == 13 * 13
    assert window + 12 * stride == size  # the windows tile the input edge to edge


def test_explicit_pixels_still_override_the_fractions(classifiers):
    result = occlusion.explain(classifiers[0], planted.random_images(1, 64), window=16, stride=8, window_fraction=0.5)
    assert (result.options["window"], result.options["stride"]) == (16, 8)


def test_a_window_in_pixels_keeps_half_of_it_as_the_default_stride(classifiers):
    result = occlusion.explain(classifiers[0], planted.random_images(1, 64), window=20)
    assert result.options["stride"] == 10


@pytest.mark.parametrize(
    ("option", "value"),
    [(o, v) for o in ("window_fraction", "stride_fraction") for v in (0, -0.1, 1.5, "1/7", None, float("nan"))],
)
def test_a_bad_fraction_is_refused(classifiers, option, value):
    with pytest.raises(OptionError, match=option):
        occlusion.explain(classifiers[0], planted.random_images(1, 64), **{option: value})


def test_a_stride_fraction_beyond_the_window_fraction_is_refused(classifiers):
    with pytest.raises(OptionError, match=r"stride_fraction \(0.3\) must not exceed window_fraction \(0.2\)"):
        occlusion.explain(classifiers[0], planted.random_images(1, 64), window_fraction=0.2, stride_fraction=0.3)
