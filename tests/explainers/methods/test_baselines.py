"""Reference images (occlusion fills, IG baselines) and batch sizing from a measured probe."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)

import planted  # noqa: E402

from explainers.errors import ImageError, OptionError  # noqa: E402
from explainers.methods.baselines import BASELINES, Probe, baseline, batch_size, gaussian_blur, probe  # noqa: E402


@pytest.fixture(scope="module")
def model():
    # A mean/std that differ per channel, so "model-space zero" and "black" are distinguishable.
    net = planted.planted_classifier(0).model
    return planted.make_loaded(net, planted.planted_classifier(0).task, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))


@pytest.fixture(scope="module")
def image():
    return planted.random_images(1, 64, seed=3)


def pixels(model, x):
    mean = torch.tensor(model.data_config["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.data_config["std"]).view(1, 3, 1, 1)
    return x * std + mean


@pytest.mark.parametrize("kind", BASELINES)
def test_every_baseline_has_the_images_shape_dtype_and_device(model, image, kind):
    ref = baseline(model, image, kind)
    assert ref.shape == image.shape and ref.dtype == image.dtype and ref.device == image.device


@pytest.mark.parametrize("kind", BASELINES)
def test_every_baseline_is_deterministic(model, image, kind):
    assert torch.equal(baseline(model, image, kind), baseline(model, image, kind))


def test_zero_baseline_is_the_dataset_mean_colour(model, image):
    colour = pixels(model, baseline(model, image, "zero"))
    assert torch.allclose(colour, torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1).expand_as(colour))


def test_mean_baseline_is_the_images_own_mean_colour(model, image):
    ref = baseline(model, image, "mean")
    assert torch.allclose(ref, image.mean((2, 3), keepdim=True).expand_as(image))


def test_black_baseline_is_black_pixels(model, image):
    assert pixels(model, baseline(model, image, "black")).abs().max() < 1e-6


def test_blur_baseline_keeps_the_colour_layout_but_removes_detail(model, image):
    ref = baseline(model, image, "blur")
    detail = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    assert (ref[..., 1:, :] - ref[..., :-1, :]).abs().mean() < detail / 5
    assert torch.allclose(ref.mean((2, 3)), image.mean((2, 3)), atol=0.05)


def test_gaussian_blur_leaves_a_constant_image_unchanged():
    flat = torch.full((1, 3, 20, 30), 0.7)
    assert torch.allclose(gaussian_blur(flat, 3.0), flat)


def test_noise_baseline_is_uniform_pixel_noise_drawn_from_the_seed(model, image):
    noise = pixels(model, baseline(model, image, "noise", seed=5))
    assert noise.min() >= 0 and noise.max() <= 1 and abs(noise.mean() - 0.5) < 0.02
    assert torch.equal(baseline(model, image, "noise", seed=5), baseline(model, image, "noise", seed=5))
    assert not torch.equal(baseline(model, image, "noise", seed=5), baseline(model, image, "noise", seed=6))


def test_noise_baseline_leaves_the_global_random_state_alone(model, image):
    state = torch.get_rng_state()
    baseline(model, image, "noise", seed=1)
    assert torch.equal(state, torch.get_rng_state())


def test_an_unknown_baseline_kind_is_refused_with_the_valid_ones(model, image):
    with pytest.raises(OptionError, match="choose one of zero, mean, blur, black, noise"):
        baseline(model, image, "gray")


def test_a_tensor_that_is_not_an_image_batch_is_refused(model):
    with pytest.raises(ImageError, match=r"\(1, 3, h, w\)"):
        baseline(model, torch.zeros(3, 64, 64), "zero")


def test_probe_returns_the_models_outputs_and_counts_saved_activations_without_weights(model, image):
    measured = probe(model, image, grad=True)
    assert torch.allclose(measured.outputs, model.model(image))
    weights = sum(p.numel() * p.element_size() for p in model.model.parameters())
    activations = 8 * 64 * 64 * 4  # at least conv1's output is kept for backward
    assert activations <= measured.bytes_per_sample < activations * 20 + weights
    assert probe(model, image).bytes_per_sample == 0  # without grad the CPU is never memory-bound here


def test_cpu_batches_follow_the_measured_time_per_sample(model):
    def size(seconds: float, total: int = 1000) -> int:
        return batch_size(model, Probe(torch.zeros(1, 2), seconds, 0), total=total)

    assert size(0.001) == 100 and size(0.01) == 10 and size(1.0) == 1
    assert size(0.0001, total=7) == 7


def test_cpu_batches_with_gradients_stay_within_the_available_memory(model):
    huge = Probe(torch.zeros(1, 2), 1e-6, 1 << 50)
    assert batch_size(model, huge, total=1000, grad=True) == 1


def test_cuda_batches_fill_half_the_free_memory_at_the_probed_cost_per_sample(model, monkeypatch):
    import dataclasses

    on_cuda = dataclasses.replace(model, device=torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10 << 30, 80 << 30))
    measured = Probe(torch.zeros(1, 2), 0.01, 100 << 20)
    assert batch_size(on_cuda, measured, total=1000) == 51  # 5 GiB / 100 MiB
    assert batch_size(on_cuda, measured, total=1000, grad=True) == 25  # backward doubles the cost
    assert batch_size(on_cuda, measured, total=20) == 20
