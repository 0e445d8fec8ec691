"""Grad-CAM: Selvaraju et al. 2017, "Visual Explanations from Deep Networks via Gradient-based Localization"."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ImageError, TargetError
from ..layers import LayerChoice, find_layer, forward_at, layer_grads, to_spatial
from ..targets import ensure_target, target_outputs
from ..types import Explanation, LoadedModel, Progress, Target

METHOD = "gradcam"
# Below this many cells per side a map cannot say much about where: a 7x7 grid is the ImageNet CNN norm at 224 px.
COARSE_GRID = 7


def explain(
    model: LoadedModel,
    image: torch.Tensor,
    *,
    target: Target | None = None,
    layer: str | None = None,
    progress: Progress | None = None,
) -> Explanation:
    """Grad-CAM map of one target: channel weights = spatially averaged gradients, map = weighted sum of channels.

    Args:
        model: the model to explain.
        image: normalised image (1, 3, h, w) on the model's device.
        target: what to explain; None = the top-1 class (classifiers) or the first output (regression).
        layer: a key from ``layers.candidate_layers``; None = the final feature map (or, for class-token heads, the
            last block whose patch tokens reach the output).
        progress: called with (fraction done, message).

    Returns:
        The raw signed map (no ReLU) upsampled bilinearly to (h, w); extras hold the layer, grid and reduction.

    Raises:
        OptionError: unknown layer key.
        TargetError: target index out of range.
        LayerError: the layer's features cannot be laid out on an image grid.
    """
    return _run(model, image, None if target is None else [target], layer, progress)[0]


def explain_many(
    model: LoadedModel,
    image: torch.Tensor,
    *,
    targets: Sequence[Target],
    layer: str | None = None,
    progress: Progress | None = None,
) -> tuple[Explanation, ...]:
    """Grad-CAM maps of several targets from one forward and one batched backward (same maps as separate calls).

    Args:
        model: the model to explain.
        image: normalised image (1, 3, h, w) on the model's device.
        targets: what to explain, one map each, in this order.
        layer: as in ``explain``.
        progress: called with (fraction done, message).

    Raises:
        TargetError: no targets, or a target index out of range.
        OptionError: unknown layer key.
    """
    if not targets:
        raise TargetError("explain_many needs at least one target; got none (use explain for the default target)")
    return _run(model, image, list(targets), layer, progress)


def _run(
    model: LoadedModel,
    image: torch.Tensor,
    targets: list[Target] | None,
    layer: str | None,
    progress: Progress | None,
) -> tuple[Explanation, ...]:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[:2] != (1, 3):
        found = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ImageError(
            f"expected a normalised image tensor of shape (1, 3, h, w), got {found}; prepare it with "
            "preprocess.prepare_image"
        )
    if torch.is_inference_mode_enabled():
        raise RuntimeError("Grad-CAM needs autograd: call it outside torch.inference_mode()")
    choice = find_layer(model, layer)
    h, w = int(image.shape[2]), int(image.shape[3])
    start = time.perf_counter()
    _report(progress, 0.0, "Grad-CAM: forward")
    features, outputs = forward_at(model, image.to(model.device), choice)
    chosen = [ensure_target(model, t, outputs) for t in (targets or [None])]  # type: ignore[list-item]
    forward_s = time.perf_counter() - start
    _report(progress, 0.5, "Grad-CAM: backward")
    with torch.enable_grad():  # the caller may be in no_grad; the selection must stay on the graph
        grads = layer_grads(target_outputs(model, outputs, chosen), features)
    chs = None if choice.index is None else choice.num_chs  # the final map's layout is the model's output_fmt
    with torch.no_grad():
        acts = to_spatial(features.detach(), model, (h, w), num_chs=chs).float()
        grads = to_spatial(grads.flatten(0, 1), model, (h, w), num_chs=chs).float()
        weights = grads.mean(dim=(2, 3), keepdim=True)  # alpha_k^c, eq. 1
        cams = (weights * acts).sum(dim=1, keepdim=True)  # eq. 2 without the ReLU: raw and signed
        maps = F.interpolate(cams, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        dead = (grads.flatten(1).abs().amax(dim=1) == 0).tolist()
    heatmaps = maps.cpu().numpy().astype(np.float32)
    total = time.perf_counter() - start
    _report(progress, 1.0, "Grad-CAM: done")
    grid = (int(acts.shape[2]), int(acts.shape[3]))
    notes, extras = _facts(choice, grid, (h, w))
    scores = outputs[0].detach().float().cpu()
    timings = {"forward": forward_s, "backward": total - forward_s, "total": total}
    return tuple(
        Explanation(
            method=METHOD,
            target=t,
            score=float(scores[t.index]),
            heatmap=heatmaps[k],
            options={"layer": choice.key},
            timings=dict(timings),
            notes=notes + ((_dead_note(choice),) if dead[k] else ()),
            extras={**extras, "zero_gradient": bool(dead[k])},
        )
        for k, t in enumerate(chosen)
    )


def _facts(choice: LayerChoice, grid: tuple[int, int], hw: tuple[int, int]) -> tuple[tuple[str, ...], dict]:
    reduction = choice.reduction or round(max(hw[0] / grid[0], hw[1] / grid[1]))
    coarse = min(grid) < COARSE_GRID
    extras = {"layer": choice.key, "grid": list(grid), "reduction": reduction, "coarse": coarse}
    notes: tuple[str, ...] = ()
    if coarse:
        notes = (
            f"Grad-CAM read layer '{choice.key}' on a {grid[0]}x{grid[1]} grid: it cannot localise finer than "
            f"about 1/{min(grid)} of the image. Check occlusion or integrated gradients before trusting where "
            "it points.",
        )
    return notes, extras


def _dead_note(choice: LayerChoice) -> str:
    return (
        f"The gradient at layer '{choice.key}' is zero everywhere, so this map is blank: the target does not "
        "depend on this layer's positions here. Pick an earlier layer or another method."
    )


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)
