"""Integrated gradients (Sundararajan et al., 2017, "Axiomatic Attribution for Deep Networks"), optional SmoothGrad;
expected gradients (Erion et al., 2021) over a distribution of references through captum's GradientShap.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from captum.attr import GradientShap, IntegratedGradients

from .. import options
from ..errors import OptionError
from ..targets import ensure_target, forward_fn, raw_score
from ..types import Explanation, LoadedModel, Progress, Target
from .baselines import DISTRIBUTIONS, baseline, batch_size, check_image, distribution, probe

METHOD = "integrated_gradients"
# One reference (of baselines.BASELINES) for the straight path, or a distribution (baselines.DISTRIBUTIONS) for
# expected gradients: each sample a random reference and a random point on its path.
BASELINES = ("black", "blur", "noise", *DISTRIBUTIONS)
MAX_STEPS = 1024
MAX_SMOOTH_SAMPLES = 64
MAX_EVALUATIONS = 8192  # n_steps x samples: ~15 min of a small CNN on one CPU thread
RELATIVE_DELTA_WARNING = 0.01
# Defaults, from bench/faithfulness.py within ~3 s of one CPU thread for the built-in model (32 gradient evaluations;
# figures in bench/RESULTS_faithfulness.md, "How the defaults were chosen"): expected gradients over the image's blurs
# at four radii, 32 samples, put the peak in the right mosaic tile 0.85 of the time with 49% of the positive mass there
# (15 mosaics; blur 8 steps x 4 SmoothGrad copies, the previous default: 0.73 and 44%; "expected" 32: 0.70 and 48%),
# passed the scorecard on 5 of 16 photos (previous default 3, "expected" 1) and peaked on the object in 6 of 6 (5),
# median 2.52-2.69 CPU s per photo over two runs (2.48).
BASELINE, N_STEPS, SMOOTH_SAMPLES = "blurs", 32, 0


def explain(
    model: LoadedModel,
    image: torch.Tensor,
    *,
    target: Target | None = None,
    baselines: str = BASELINE,
    n_steps: int = N_STEPS,
    smooth_samples: int = SMOOTH_SAMPLES,
    smooth_stdev: float = 0.15,
    seed: int = 0,
    progress: Progress | None = None,
) -> Explanation:
    """Integrated gradients of the signed target along the straight path from a baseline to the image.

    Args:
        model, image, target: as every method takes them (see ``explainers.methods``).
        baselines: the reference, one of BASELINES: an image (see baselines.BASELINES) for the straight path, or a
            distribution (see baselines.DISTRIBUTIONS) for expected gradients.
        n_steps: integration points (captum's Gauss-Legendre rule), 1..MAX_STEPS; for a distribution, samples (each a
            random reference and a random point on its path).
        smooth_samples: SmoothGrad: average the attributions of this many noisy copies of the image (0 = off).
        smooth_stdev: SmoothGrad noise, as a fraction of the [0, 1] pixel range (0.15 = the paper's 10-20%).
        seed: seeds the "noise" baseline, the SmoothGrad noise (a private generator, never the global one) and
            expected gradients' draws (captum's, from the global generators, seeded and restored under a lock).
        progress: called with (fraction done, message).

    Returns:
        Attributions summed over colour channels (positive = the pixel raises the signed target relative to the
        baseline). extras: delta (sum of attributions minus F(image) - F(baseline), captum's convergence delta; the
        worst copy with SmoothGrad), relative_delta = |delta| / |F(image) - F(baseline)|, baseline_score,
        internal_batch_size. A note warns when relative_delta exceeds 1%. Expected gradients are complete only on
        average: their delta is read against the references' mean score (baseline_score).

    Raises:
        OptionError: bad baselines, n_steps, smooth_samples, smooth_stdev or seed.
        TargetError: target index out of range.
    """
    start = time.perf_counter()
    check_image(image)
    _check(baselines, n_steps, smooth_samples, smooth_stdev, seed)
    measured = probe(model, image, grad=True)
    target = ensure_target(model, target, measured.outputs)
    fn = forward_fn(model, target)
    copies = max(1, smooth_samples)
    inputs = image if smooth_samples == 0 else image + _noise(model, image, copies, smooth_stdev, seed)
    total = n_steps * copies
    size = batch_size(model, measured, total=total, grad=True)
    done = [0]

    def counted(images: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():  # captum's convergence check runs without grad: not an integration step
            done[0] += images.shape[0]
            if progress is not None:
                progress(min(done[0], total) / total, f"integrated gradients: {min(done[0], total)}/{total} steps")
        return fn(images)

    if baselines in DISTRIBUTIONS:
        refs = distribution(model, image, baselines, seed=seed)
        size = 1  # one sample per GradientShap call (see _expected)
        attr_sum, delta, gap, baseline_score = _expected(counted, fn, inputs, refs, n_steps, seed)
    else:
        ref = baseline(model, image, baselines, seed=seed)
        attr_sum, delta, gap, baseline_score = _straight(counted, fn, inputs, ref, n_steps, size)
    relative = torch.where(gap == 0, math.inf, delta.abs() / gap.abs())  # no gap: nothing to attribute
    worst = int(relative.argmax())
    rel = float(relative[worst])
    extras: dict[str, Any] = {
        "delta": float(delta[worst]),
        "relative_delta": rel if math.isfinite(rel) else None,
        "baseline_score": baseline_score * target.sign,
        "internal_batch_size": size,
    }
    notes = []
    if not math.isfinite(rel):
        notes.append(
            f"the target is the same on the image and the {baselines} baseline, so there is nothing to "
            "attribute; try another baseline"
        )
    elif rel > RELATIVE_DELTA_WARNING and baselines in DISTRIBUTIONS:
        notes.append(
            f"expected gradients add up to F(image) - the references' mean F only on average; these {n_steps} "
            f"samples miss it by {rel:.1%}; raise n_steps from {n_steps} to {min(4 * n_steps, MAX_STEPS)} to halve that"
        )
    elif rel > RELATIVE_DELTA_WARNING:
        most = min(4 * n_steps, MAX_STEPS, MAX_EVALUATIONS // copies)  # advice the limits above would accept
        advice = f"raise n_steps from {n_steps} to {most}" if most > n_steps else "try the blur baseline"
        notes.append(
            f"the attributions miss completeness by {rel:.1%} of F(image) - F(baseline) "
            f"(more than {RELATIVE_DELTA_WARNING:.0%}); for a more faithful map {advice}"
        )
    heatmap = (attr_sum[0].sum(0) / copies).cpu().numpy().astype(np.float32)
    return Explanation(
        method=METHOD,
        target=target,
        score=raw_score(target, measured.outputs[0]),
        heatmap=heatmap,
        options={
            "baselines": baselines,
            "n_steps": n_steps,
            "smooth_samples": smooth_samples,
            "smooth_stdev": smooth_stdev,
            "seed": seed,
        },
        timings={"probe": measured.seconds, "total": time.perf_counter() - start},
        notes=tuple(notes),
        extras=extras,
    )


def _straight(
    counted: Callable[[torch.Tensor], torch.Tensor],
    fn: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    ref: torch.Tensor,
    n_steps: int,
    size: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Captum's IG from one reference for each copy: (attributions summed over copies, delta and gap per copy,
    F(reference)).
    """
    chunk = min(len(inputs), size)  # captum batches whole steps of all the examples it is given: at most `size` images
    attr_sum = torch.zeros_like(inputs[:1])
    deltas, gaps = [], []
    with torch.enable_grad():
        ig = IntegratedGradients(counted)
        for i in range(0, len(inputs), chunk):
            x = inputs[i : i + chunk]
            attr, delta = ig.attribute(
                x,
                baselines=ref.expand_as(x),
                target=None,
                n_steps=n_steps,
                internal_batch_size=size // len(x) * len(x),
                return_convergence_delta=True,
            )
            attr_sum += attr.detach().sum(0, keepdim=True)
            deltas.append(delta.detach().double())
            # captum's delta = sum(attr) - (F(x) - F(baseline)), so the gap comes back without another forward pass.
            gaps.append(attr.detach().double().sum((1, 2, 3)) - deltas[-1])
    with torch.no_grad():
        baseline_score = float(fn(ref)[0])
    return attr_sum, torch.cat(deltas).cpu(), torch.cat(gaps).cpu(), baseline_score


def _expected(
    counted: Callable[[torch.Tensor], torch.Tensor],
    fn: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    refs: torch.Tensor,
    n_steps: int,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Expected gradients with captum's GradientShap: n_steps samples per copy, each a random reference of ``refs``
    and a random point on its path. One sample per call, seeded by (seed, copy, sample), so a replay draws the same
    samples whatever batch size the device would allow. Completeness holds in expectation, so delta and gap are read
    against the mean score of the references: (attributions summed over copies, delta and gap per copy, mean
    F(reference)).
    """
    attr_sum = torch.zeros_like(inputs[:1])
    deltas, gaps = [], []
    with torch.no_grad():
        baseline_score = float(fn(refs).double().mean())
    shap = GradientShap(counted)
    for i in range(len(inputs)):
        x, attr = inputs[i : i + 1], torch.zeros_like(inputs[:1])
        for sample in range(n_steps):
            with torch.enable_grad(), _captum_random(seed, i, sample):
                # stdevs 0: the SmoothGrad noise is ours (seeded, added before); GradientShap only draws.
                attr += shap.attribute(x, baselines=refs, n_samples=1, stdevs=0.0).detach()
        attr /= n_steps
        attr_sum += attr
        with torch.no_grad():
            gap = float(fn(x).double()[0]) - baseline_score
        gaps.append(gap)
        deltas.append(float(attr.double().sum()) - gap)
    return attr_sum, torch.tensor(deltas, dtype=torch.float64), torch.tensor(gaps, dtype=torch.float64), baseline_score


_CAPTUM_RANDOM = threading.Lock()


@contextmanager
def _captum_random(seed: int, copy: int, sample: int) -> Iterator[None]:
    """GradientShap draws references and path points from numpy's global generator (and zero noise from torch's):
    seed them from (seed, copy, sample) for replay, one call at a time, and restore both afterwards (the lock
    serialises concurrent expected-gradients samples; nothing else here draws from the global generators).
    """
    with _CAPTUM_RANDOM, torch.random.fork_rng(devices=[]):
        state = np.random.get_state()
        np.random.seed([seed, copy, sample])
        try:
            yield
        finally:
            np.random.set_state(state)


def _noise(model: LoadedModel, image: torch.Tensor, copies: int, stdev: float, seed: int) -> torch.Tensor:
    """SmoothGrad noise in normalised units: N(0, stdev) in pixel units, divided by the model's std per channel."""
    g = torch.Generator().manual_seed(seed + 1)  # not the "noise" baseline's stream
    noise = torch.randn((copies, *image.shape[1:]), generator=g) * stdev
    std = torch.tensor(model.data_config["std"], dtype=noise.dtype).view(1, 3, 1, 1)
    return (noise / std).to(device=image.device, dtype=image.dtype)


def _check(baselines: Any, n_steps: Any, samples: Any, stdev: Any, seed: Any) -> None:
    options.choice(baselines, "integrated gradients baselines", BASELINES)
    options.whole(n_steps, "n_steps", low=1, high=MAX_STEPS)
    options.whole(samples, "smooth_samples", low=0, high=MAX_SMOOTH_SAMPLES, off="off")
    if n_steps * max(1, samples) > MAX_EVALUATIONS:
        raise OptionError(
            f"n_steps x smooth_samples = {n_steps * samples:,} gradient evaluations (at most "
            f"{MAX_EVALUATIONS:,}); lower n_steps to {MAX_EVALUATIONS // samples} or fewer samples"
        )
    options.real(stdev, "smooth_stdev", low=0, high=1, low_open=True, words="a fraction of the pixel range")
    options.seed(seed)
