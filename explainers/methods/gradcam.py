"""Grad-CAM: Selvaraju et al. 2017, "Visual Explanations from Deep Networks via Gradient-based Localization", and its
variants from the same forward and backward (cam_variants.py), plus attention rollout for ViTs (attention.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from .. import options, registry
from ..errors import ImageError, LayerError, OptionError, TargetError
from ..layers import candidate_layers, find_layer, forward_at, layer_grads, to_spatial
from ..targets import ensure_target, target_outputs
from ..types import Explanation, LoadedModel, Progress, Target
from . import attention, cam_results, cam_variants

METHOD = cam_results.METHOD
VARIANTS = tuple(registry.GRADCAM_VARIANTS)


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
        model, image, target: as every method takes them (see ``explainers.methods``).
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
    _check(image, wanted, layer if layer_for_attention else None)
    image = image.to(model.device)
    cams = tuple(v for v in wanted if v != "attention")
    label = registry.GRADCAM_VARIANTS[wanted[0]] if len(wanted) == 1 else "CAM variants"
    out: dict[str, tuple[Explanation, ...]] = {}
    if cams:
        choice = find_layer(model, layer)
        h, w = int(image.shape[2]), int(image.shape[3])
        start = time.perf_counter()
        _report(progress, 0.0, f"{label}: forward")
        features, outputs = forward_at(model, image, choice)
        targets = [ensure_target(model, t, outputs) for t in (targets or [None])]  # type: ignore[list-item]
        forward_s = time.perf_counter() - start
        chs = None if choice.index is None else choice.num_chs  # the final map's layout is the model's output_fmt
        grads, dead = None, [False] * len(targets)
        if any(v in cam_variants.GRADIENT_CAMS for v in cams):  # EigenCAM alone needs no backward
            _report(progress, 0.5, f"{label}: backward")
            with torch.enable_grad():  # the caller may be in no_grad; the selection must stay on the graph
                grads = layer_grads(target_outputs(model, outputs, targets), features)
        with torch.no_grad():
            acts = to_spatial(features.detach(), model, (h, w), num_chs=chs).float()
            if grads is not None:
                grads = to_spatial(grads.flatten(0, 1), model, (h, w), num_chs=chs).float()
                dead = (grads.flatten(1).abs().amax(dim=1) == 0).tolist()
            cells = {v: cam_variants.cams(v, acts, grads) for v in cams}
        timings = {"forward": forward_s, "backward": time.perf_counter() - start - forward_s}
        _report(progress, 1.0, f"{label}: done")
        for v in cams:
            gradient = v in cam_variants.GRADIENT_CAMS
            out[v] = cam_results.explanations(
                targets,
                outputs,
                cells[v],
                (h, w),
                label=registry.GRADCAM_VARIANTS[v],
                key=choice.key,
                reduction=choice.reduction,
                options={"layer": choice.key, "variant": v},
                timings={**timings, "total": time.perf_counter() - start},
                dead=dead if gradient else [False] * len(targets),
                where=f"layer '{choice.key}'",
                notes=() if gradient else (_EIGEN_NOTE,),
            )
    if "attention" in wanted:
        out["attention"] = _attention(model, image, targets, progress, label)
    return {v: out[v] for v in wanted}


def _check(image: torch.Tensor, wanted: tuple[str, ...], layer: str | None) -> None:
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
    if "attention" in wanted and layer:
        raise OptionError(
            f"variant 'attention' rolls out every attention block and takes no layer, got layer {layer!r}; "
            "leave the layer empty"
        )


def _attention(
    model: LoadedModel, image: torch.Tensor, targets: list[Target] | None, progress: Progress | None, label: str
) -> tuple[Explanation, ...]:
    start = time.perf_counter()
    _report(progress, 0.0, f"{label}: forward and backward through every block")
    found = attention.rollout(model, image, targets)
    _report(progress, 1.0, f"{label}: done")
    total = time.perf_counter() - start
    return cam_results.explanations(
        found.targets,
        found.outputs,
        found.maps,
        (int(image.shape[2]), int(image.shape[3])),
        label="Attention rollout",
        key=f"attention rollout over {found.blocks} blocks",
        reduction=None,
        options={"layer": None, "variant": "attention"},
        timings={"forward": found.forward_s, "backward": total - found.forward_s, "total": total},
        dead=found.dead,
        where="every attention block",
        notes=found.notes,
        extras={"blocks": found.blocks, "heads": found.heads, "rows": found.rows},
    )


_EIGEN_NOTE = (
    "EigenCAM reads no gradient: it is the layer's strongest pattern of activation, the same map for every target "
    "and direction, so it shows what the layer responds to, not the evidence for this target."
)


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)
