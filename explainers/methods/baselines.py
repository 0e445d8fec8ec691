"""Reference images for perturbation and path methods (occlusion fills, IG baselines), and batch sizing for them."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ImageError, OptionError
from ..models.preprocess import normalise
from ..types import LoadedModel

BASELINES = ("zero", "mean", "blur", "black", "noise")
"""zero: model-space zero (the dataset mean colour); mean: the image's own per-channel mean; blur: a Gaussian blur of
the image (sigma = a tenth of the shorter side); black: black pixels; noise: uniform pixel noise from the seed."""

BLUR_SIGMA_FRACTION = 0.1  # of the shorter side: removes objects, keeps the colour layout
DISTRIBUTIONS = ("blurs", "expected")
"""Reference distributions for expected gradients (Erion et al., 2021), one reference drawn per sample. blurs: the
image blurred at each of BLUR_SIGMA_FRACTIONS of the shorter side (objects removed at several scales, colours kept);
expected: those blurs, black, and NOISE_DRAWS uniform-noise images from the seed. No training set ships with a model,
so the distribution is built from the image itself and from noise rather than from other images."""
BLUR_SIGMA_FRACTIONS = (0.025, 0.05, 0.1, 0.2)
NOISE_DRAWS = 3
CPU_SECONDS_PER_BATCH = 0.1  # one thread gains nothing from big batches (cache-bound), so keep batches this short
CPU_MEMORY_SHARE = 0.25  # of the available RAM, for activations kept for backward
GPU_MEMORY_SHARE = 0.5  # of the free device memory
MAX_BATCH = 256


def baseline(model: LoadedModel, image: torch.Tensor, kind: str, *, seed: int = 0) -> torch.Tensor:
    """A reference image in the model's normalised space, same shape, dtype and device as ``image``.

    Args:
        model: the model whose data config (mean, std) defines the normalised space.
        image: normalised images (N, 3, h, w).
        kind: one of BASELINES.
        seed: only for "noise"; the same seed gives the same noise on every device.

    Raises:
        OptionError: an unknown kind.
        ImageError: ``image`` is not an (N, 3, h, w) tensor.
    """
    check_image(image, batch=False)
    if kind == "zero":
        return torch.zeros_like(image)
    if kind == "mean":
        return image.mean(dim=(2, 3), keepdim=True).expand_as(image).clone()
    if kind == "blur":
        return gaussian_blur(image, BLUR_SIGMA_FRACTION * min(image.shape[-2:]))
    if kind == "black":
        return normalise(model, torch.zeros_like(image))
    if kind == "noise":
        g = torch.Generator().manual_seed(int(seed))
        pixels = torch.rand(image.shape, generator=g, dtype=torch.float32)  # drawn on the CPU: device-independent
        return normalise(model, pixels.to(device=image.device, dtype=image.dtype))
    raise OptionError(f"unknown baseline {kind!r}; choose one of {', '.join(BASELINES)}")


def distribution(model: LoadedModel, image: torch.Tensor, kind: str, *, seed: int = 0) -> torch.Tensor:
    """The references of one of DISTRIBUTIONS, stacked (K, 3, h, w) in the model's normalised space.

    Args:
        model: the model whose data config (mean, std) defines the normalised space.
        image: one normalised image (1, 3, h, w).
        kind: one of DISTRIBUTIONS.
        seed: the noise images of "expected"; the same seed gives the same references on every device.

    Raises:
        OptionError: an unknown kind.
        ImageError: ``image`` is not a (1, 3, h, w) tensor.
    """
    check_image(image)
    if kind not in DISTRIBUTIONS:
        raise OptionError(f"unknown baseline distribution {kind!r}; choose one of {', '.join(DISTRIBUTIONS)}")
    side = min(image.shape[-2:])
    refs = [gaussian_blur(image, fraction * side) for fraction in BLUR_SIGMA_FRACTIONS]
    if kind == "expected":
        refs.append(baseline(model, image, "black"))
        refs += [baseline(model, image, "noise", seed=seed + k) for k in range(NOISE_DRAWS)]
    return torch.cat(refs)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (kernel radius 3 sigma, reflected borders); deterministic on every device."""
    radius = max(1, min(math.ceil(3 * sigma), min(image.shape[-2:]) - 1))  # reflect padding needs radius < side
    x = torch.arange(-radius, radius + 1, device=image.device, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(image.dtype)
    channels = image.shape[1]
    padded = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def check_image(image: torch.Tensor, *, batch: bool = True) -> None:
    """Raise ImageError unless ``image`` is a float (1, 3, h, w) tensor ((N, 3, h, w) when ``batch`` is False)."""
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != 3 or not image.is_floating_point():
        found = f"shape {tuple(image.shape)} {image.dtype}" if isinstance(image, torch.Tensor) else type(image).__name__
        raise ImageError(
            f"expected a normalised float image tensor (1, 3, h, w), got {found}; make one with prepare_image"
        )
    if batch and image.shape[0] != 1:
        raise ImageError(f"expected one image (1, 3, h, w), got a batch of {image.shape[0]}; explain them one by one")


@dataclass(frozen=True)
class Probe:
    """One forward pass of the image that also measured what a sample costs.

    Attributes:
        outputs: raw model outputs (1, K), detached.
        seconds: wall time of the pass.
        bytes_per_sample: device memory one more sample in a batch needs (0 when not measured).
    """

    outputs: torch.Tensor
    seconds: float
    bytes_per_sample: int


def probe(model: LoadedModel, image: torch.Tensor, *, grad: bool = False) -> Probe:
    """Run the model once on ``image`` and measure time and, when it matters, memory per sample.

    On CUDA the peak allocated memory of the pass is measured (forward only; ``grad`` keeps activations for backward).
    On the CPU with ``grad``, the bytes autograd saves for backward are counted; without it, memory is not the limit.
    """
    cuda = image.device.type == "cuda"
    start_bytes = 0
    if cuda:
        torch.cuda.synchronize(image.device)
        torch.cuda.reset_peak_memory_stats(image.device)  # process-wide: a concurrent probe can only overestimate
        start_bytes = torch.cuda.memory_allocated(image.device)
    start = time.perf_counter()
    with torch.enable_grad() if grad else torch.no_grad(), _saved_bytes(model, enabled=grad and not cuda) as saved:
        x = image.detach().requires_grad_(grad)
        outputs = model.model(x)
    if cuda:
        torch.cuda.synchronize(image.device)
        used = torch.cuda.max_memory_allocated(image.device) - start_bytes
    else:
        used = saved[0]
    return Probe(outputs.detach().float(), time.perf_counter() - start, int(used))


def batch_size(model: LoadedModel, measured: Probe, *, total: int, grad: bool = False) -> int:
    """How many samples to evaluate per forward pass, from the device and what the probe measured.

    CUDA: as many as fit in half the free memory (twice the probe's per-sample peak with ``grad``, for backward).
    CPU: batches of about CPU_SECONDS_PER_BATCH (a single thread gains little from batching and loses cache
    locality on big batches), bounded by a quarter of the available RAM when activations are kept for backward.
    """
    factor = 2 if grad else 1
    if model.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(model.device)
        per_sample = max(measured.bytes_per_sample * factor, 1)
        size = int(GPU_MEMORY_SHARE * free // per_sample)
    else:
        seconds = max(measured.seconds * (3 if grad else 1), 1e-6)  # forward + backward ~ 3 forwards
        size = int(CPU_SECONDS_PER_BATCH // seconds)
        if grad and measured.bytes_per_sample > 0:
            size = min(size, int(CPU_MEMORY_SHARE * _available_ram() // (measured.bytes_per_sample * factor)))
    return max(1, min(size, total, MAX_BATCH))


@contextmanager
def _saved_bytes(model: LoadedModel, *, enabled: bool) -> Iterator[list[int]]:
    """Count the bytes autograd saves for backward (not the weights); thread-local, nothing is left on the model."""
    counter = [0]
    if not enabled:
        yield counter
        return
    weights = {p.data_ptr() for p in model.model.parameters()} | {b.data_ptr() for b in model.model.buffers()}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in weights:
            counter[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield counter


def _available_ram() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30  # unknown platform: assume 4 GiB
