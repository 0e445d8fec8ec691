"""Grad-CAM: Selvaraju et al. 2017, "Visual Explanations from Deep Networks via Gradient-based Localization", and its
variants from the same forward and backward (cam_variants.py), plus attention rollout for ViTs (attention.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import options, registry
from ..errors import ImageError, LayerError, OptionError, TargetError
from ..layers import candidate_layers, find_layer, forward_at, layer_grads, to_spatial
from ..targets import ensure_target, raw_score, target_outputs
from ..types import Explanation, LoadedModel, Progress, Target
from . import attention, cam_variants

METHOD = "gradcam"
VARIANTS = tuple(registry.GRADCAM_VARIANTS)
# Below this many cells per side a map cannot say much about where: a 7x7 grid is the ImageNet CNN norm at 224 px.
COARSE_GRID = 7


def explain(
    model: LoadedModel,
    image: torch.Tensor,
    *,
    target: Target | None = None,
    layer: str | None = None,
    variant: str = "gradcam",
    progress: Progress | None = None,
) -> Explanation:
    """A class activation map of one target (Grad-CAM: channel weights = spatially averaged gradients).

    Args:
        model: the model to explain.
        image: normalised image (1, 3, h, w) on the model's device.
        target: what to explain; None = the top-1 class (classifiers) or the first output (regression).
        layer: a key from ``layers.candidate_layers``; None = the final feature map (or, for class-token heads, the
            last block whose patch tokens reach the output). Not for "attention", which reads every block.
        variant: one of VARIANTS: "gradcam", "hirescam" (gradient x activation per position), "gradcam++",
            "layercam" (ReLU(gradient) x activation per position), "eigencam" (first principal component of the
            activations: no gradient, the same map for every target) or "attention" (gradient-weighted attention
            rollout, ViT-style models only; see ``variants``).
        progress: called with (fraction done, message).

    Returns:
        The raw map upsampled bilinearly to (h, w), never normalised: signed for gradcam, hirescam, gradcam++ and
        layercam (no final ReLU; the ReLUs inside Grad-CAM++'s and LayerCAM's weights stay), signed with its larger
        side positive for eigencam, non-negative for attention (eq. 5's ReLU). extras hold the layer, grid and
        reduction.

    Raises:
        OptionError: unknown layer key or variant, or a layer for "attention".
        TargetError: target index out of range.
        LayerError: the layer's features cannot be laid out on an image grid, or "attention" on a model without
            attention blocks.
    """
    return _run(model, image, None if target is None else [target], (variant,), layer, progress)[variant][0]


def explain_many(
    model: LoadedModel,
    image: torch.Tensor,
    *,
    targets: Sequence[Target],
    layer: str | None = None,
    variant: str = "gradcam",
    progress: Progress | None = None,
) -> tuple[Explanation, ...]:
    """Maps of several targets from one forward and one batched backward (same maps as separate calls).

    Args:
        model: the model to explain.
        image: normalised image (1, 3, h, w) on the model's device.
        targets: what to explain, one map each, in this order.
        layer: as in ``explain``.
        variant: as in ``explain``.
        progress: called with (fraction done, message).

    Raises:
        TargetError: no targets, or a target index out of range.
        OptionError: unknown layer key or variant.
    """
    return _run(model, image, _some(targets), (variant,), layer, progress)[variant]


def explain_variants(
    model: LoadedModel,
    image: torch.Tensor,
    *,
    targets: Sequence[Target],
    variants: Sequence[str],
    layer: str | None = None,
    progress: Progress | None = None,
) -> dict[str, tuple[Explanation, ...]]:
    """Maps of several variants for several targets: every CAM variant from one forward and one batched backward
    (none for EigenCAM alone); "attention" adds its own forward and backward through every block.

    Args:
        targets: what to explain, one map each per variant.
        variants: choices from VARIANTS, each once; ``variants(model)`` lists those this model can use.
        layer: the layer of the CAM variants (attention reads every block whatever it is).

    Returns:
        variant -> its maps, in the order of ``targets``.
    """
    if not variants or len(set(variants)) != len(variants):
        raise OptionError(f"explain_variants needs each variant once, got {list(variants)}; choose from {VARIANTS}")
    return _run(model, image, _some(targets), tuple(variants), layer, progress, layer_for_attention=False)


def variants(model: LoadedModel) -> tuple[str, ...]:
    """The variants this model can use: the CAM variants where a layer has an image grid, "attention" where every
    block is timm self-attention (ViT, DeiT, BEiT, EVA).
    """
    try:
        candidate_layers(model)
        found = list(cam_variants.CAM_VARIANTS)
    except LayerError:
        found = []
    return (*found, *(["attention"] if attention.has_attention(model) else []))


def _some(targets: Sequence[Target]) -> list[Target]:
    if not targets:
        raise TargetError("explain_many needs at least one target; got none (use explain for the default target)")
    return list(targets)


def _run(
    model: LoadedModel,
    image: torch.Tensor,
    targets: list[Target] | None,
    wanted: tuple[str, ...],
    layer: str | None,
    progress: Progress | None,
    *,
    layer_for_attention: bool = True,
) -> dict[str, tuple[Explanation, ...]]:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[:2] != (1, 3):
        found = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ImageError(
            f"expected a normalised image tensor of shape (1, 3, h, w), got {found}; prepare it with "
            "preprocess.prepare_image"
        )
    if torch.is_inference_mode_enabled():
        raise RuntimeError("Grad-CAM needs autograd: call it outside torch.inference_mode()")
    for variant in wanted:
        options.choice(variant, "variant", VARIANTS)
    if "attention" in wanted and layer and layer_for_attention:
        raise OptionError(
            f"variant 'attention' rolls out every attention block and takes no layer, got layer {layer!r}; "
            "leave the layer empty"
        )
    cams = tuple(v for v in wanted if v != "attention")
    label = registry.GRADCAM_VARIANTS[wanted[0]] if len(wanted) == 1 else "CAM variants"
    out = _cams(model, image.to(model.device), targets, cams, layer, progress, label) if cams else {}
    if "attention" in wanted:
        chosen = [e.target for e in out[cams[0]]] if cams else targets
        out["attention"] = _attention(model, image.to(model.device), chosen, progress, label)
    return {v: out[v] for v in wanted}


def _cams(
    model: LoadedModel,
    image: torch.Tensor,
    targets: list[Target] | None,
    wanted: tuple[str, ...],
    layer: str | None,
    progress: Progress | None,
    label: str,
) -> dict[str, tuple[Explanation, ...]]:
    choice = find_layer(model, layer)
    h, w = int(image.shape[2]), int(image.shape[3])
    start = time.perf_counter()
    _report(progress, 0.0, f"{label}: forward")
    features, outputs = forward_at(model, image, choice)
    chosen = [ensure_target(model, t, outputs) for t in (targets or [None])]  # type: ignore[list-item]
    forward_s = time.perf_counter() - start
    chs = None if choice.index is None else choice.num_chs  # the final map's layout is the model's output_fmt
    grads, dead = None, [False] * len(chosen)
    if any(v in cam_variants.GRADIENT_CAMS for v in wanted):  # EigenCAM alone needs no backward
        _report(progress, 0.5, f"{label}: backward")
        with torch.enable_grad():  # the caller may be in no_grad; the selection must stay on the graph
            grads = layer_grads(target_outputs(model, outputs, chosen), features)
    with torch.no_grad():
        acts = to_spatial(features.detach(), model, (h, w), num_chs=chs).float()
        if grads is not None:
            grads = to_spatial(grads.flatten(0, 1), model, (h, w), num_chs=chs).float()
            dead = (grads.flatten(1).abs().amax(dim=1) == 0).tolist()
        backward_s = time.perf_counter() - start - forward_s
        maps = {v: _upsample(cam_variants.cams(v, acts, grads), (h, w)) for v in wanted}
        if "eigencam" in maps:
            maps["eigencam"] = np.repeat(maps["eigencam"], len(chosen), axis=0)
    total = time.perf_counter() - start
    _report(progress, 1.0, f"{label}: done")
    grid = (int(acts.shape[2]), int(acts.shape[3]))
    timings = {"forward": forward_s, "backward": backward_s, "total": total}
    out = {}
    for v in wanted:
        notes, extras = _facts(registry.GRADCAM_VARIANTS[v], choice.key, choice.reduction, grid, (h, w))
        if v == "eigencam":
            notes += (_EIGEN_NOTE,)
        reads = dead if v in cam_variants.GRADIENT_CAMS else [False] * len(chosen)
        where = f"layer '{choice.key}'"
        out[v] = _explanations(
            chosen, outputs, maps[v], {"layer": choice.key, "variant": v}, timings, notes, extras, reads, where
        )
    return out


def _attention(
    model: LoadedModel, image: torch.Tensor, targets: list[Target] | None, progress: Progress | None, label: str
) -> tuple[Explanation, ...]:
    h, w = int(image.shape[2]), int(image.shape[3])
    start = time.perf_counter()
    _report(progress, 0.0, f"{label}: forward and backward through every block")
    found = attention.rollout(model, image, targets)
    heat = _upsample(found.maps, (h, w))
    total = time.perf_counter() - start
    _report(progress, 1.0, f"{label}: done")
    grid = (int(found.maps.shape[1]), int(found.maps.shape[2]))
    key = f"attention rollout over {found.blocks} blocks"
    notes, extras = _facts("Attention rollout", key, None, grid, (h, w))
    notes += found.notes
    extras.update({"blocks": found.blocks, "heads": found.heads, "rows": found.rows})
    timings = {"forward": found.forward_s, "backward": total - found.forward_s, "total": total}
    options_ = {"layer": None, "variant": "attention"}
    where = "every attention block"
    return _explanations(list(found.targets), found.outputs, heat, options_, timings, notes, extras, found.dead, where)


def _explanations(
    chosen: list[Target],
    outputs: torch.Tensor,
    heat: np.ndarray,
    options_: dict[str, Any],
    timings: dict[str, float],
    notes: tuple[str, ...],
    extras: dict[str, Any],
    dead: Sequence[bool],
    where: str,
) -> tuple[Explanation, ...]:
    row = outputs[0].detach().float().cpu()
    return tuple(
        Explanation(
            method=METHOD,
            target=t,
            score=raw_score(t, row),
            heatmap=heat[k],
            options=dict(options_),
            timings=dict(timings),
            notes=notes + ((_dead_note(where),) if dead[k] else ()),
            extras={**extras, "zero_gradient": bool(dead[k])},
        )
        for k, t in enumerate(chosen)
    )


def _upsample(cams: torch.Tensor, hw: tuple[int, int]) -> np.ndarray:
    maps = F.interpolate(cams[:, None].float(), size=hw, mode="bilinear", align_corners=False)[:, 0]
    return maps.cpu().numpy().astype(np.float32)


_EIGEN_NOTE = (
    "EigenCAM reads no gradient: it is the layer's strongest pattern of activation, the same map for every target "
    "and direction, so it shows what the layer responds to, not the evidence for this target."
)


def _facts(
    label: str, key: str, reduction: int | None, grid: tuple[int, int], hw: tuple[int, int]
) -> tuple[tuple[str, ...], dict]:
    reduction = reduction or round(max(hw[0] / grid[0], hw[1] / grid[1]))
    coarse = min(grid) < COARSE_GRID
    extras = {"layer": key, "grid": list(grid), "reduction": reduction, "coarse": coarse}
    notes: tuple[str, ...] = ()
    if coarse:
        notes = (
            f"{label} read layer '{key}' on a {grid[0]}x{grid[1]} grid: it cannot localise finer than "
            f"about 1/{min(grid)} of the image. Check occlusion or integrated gradients before trusting where "
            "it points.",
        )
    return notes, extras


def _dead_note(where: str) -> str:
    return (
        f"The gradient at {where} is zero everywhere, so this map is blank: the target does not "
        "depend on this layer's positions here. Pick an earlier layer or another method."
    )


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)
