"""Grad-CAM layers from timm's own metadata (feature_info, num_prefix_tokens, patch grid), and their gradients."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import torch

from .errors import LayerError, OptionError
from .types import LoadedModel

FINAL = "final features"
# Backward nodes of pure rearrangements (T with T @ T.T = I): a gradient can be carried through them exactly.
_REARRANGE_OPS = (
    "Alias Clone Permute ReshapeAlias Select Slice Split SplitWithSizes Squeeze Transpose Unbind UnsafeView"
)
_REARRANGE = frozenset(f"{op}Backward{v}" for op in [*_REARRANGE_OPS.split(), "Unsqueeze", "View"] for v in range(3))
# Whether forward_features' output can be laid out on the image grid, probed once per model structure (so that copies,
# e.g. the scorecard's randomised models, share the answer).
_probed: dict[tuple[Any, ...], bool] = {}
_probe_lock = threading.Lock()


@dataclass(frozen=True)
class LayerChoice:
    """A layer Grad-CAM can read.

    Attributes:
        key: stable name shown in the UI ("final features", "stage 3 (stages.2, 1/16)").
        index: index for timm's ``forward_intermediates``; None for the output of ``forward_features``.
        reduction: input pixels per feature cell, from feature_info (None when timm does not say).
        num_chs: channels at this layer.
    """

    key: str
    index: int | None
    reduction: int | None
    num_chs: int


def candidate_layers(model: LoadedModel) -> list[LayerChoice]:
    """Layers Grad-CAM can use, the default first, then deepest to shallowest.

    The default is the final feature map (``forward_features``, hook-free). timm's ``feature_info`` stages (whole
    blocks or stages only: inner layers are unsafe after timm's in-place residual adds) follow when the model has
    ``forward_intermediates``. For class-token heads the last block's patch tokens never reach the output, so the
    final map and the last block are left out and the block before them is the default. A final map that is not an
    image grid (pooled or class tokens, a list of branches) is left out after one probe forward per model structure.

    Raises:
        LayerError: no layer of this model can be laid out on the image grid.
    """
    net: Any = model.model
    info = [dict(d) for d in getattr(net, "feature_info", None) or []]
    reductions = {d.get("reduction") for d in info}
    word = "block" if len(info) > 1 and len(reductions) == 1 else "stage"
    if not hasattr(net, "forward_intermediates"):
        info = []  # no hook-free way to reach them
    staged = [LayerChoice(_key(word, i, d), i, d.get("reduction"), int(d["num_chs"])) for i, d in enumerate(info)]
    reduction = net.feature_info[-1].get("reduction") if getattr(net, "feature_info", None) else None
    final = LayerChoice(FINAL, None, reduction, int(net.num_features))
    if _class_token_head(net):
        finals, staged = [], staged[:-1]
    else:
        finals = [final] if _final_is_spatial(model) else []
        if finals and staged and (staged[-1].num_chs, staged[-1].reduction) == (final.num_chs, final.reduction):
            staged = staged[:-1]  # the last stage is the final feature map (up to a norm): list it once
    if not finals and not staged:
        raise LayerError(
            f"{model.architecture}: no layer keeps a spatial gradient (its final features are not an image grid and "
            "timm offers no forward_intermediates stage); use occlusion or integrated gradients for this model"
        )
    return [*finals, *staged[::-1]]


def find_layer(model: LoadedModel, key: str | None) -> LayerChoice:
    """The candidate named ``key`` (None or "" = the default).

    Raises:
        OptionError: no candidate has this key; the message lists the valid keys.
    """
    choices = candidate_layers(model)
    if not key:
        return choices[0]
    for choice in choices:
        if choice.key == key:
            return choice
    raise OptionError(
        f"layer {key!r} does not exist for {model.architecture}; expected one of: "
        f"{', '.join(repr(c.key) for c in choices)} (or None for the default)"
    )


def forward_at(model: LoadedModel, image: torch.Tensor, layer: LayerChoice) -> tuple[torch.Tensor, torch.Tensor]:
    """One hook-free forward that keeps the graph from the layer's features to the outputs.

    Returns:
        (features in the model's own layout, raw outputs (N, K)). The final map is computed without autograd and only
        the head is differentiated, so this costs one plain forward.
    """
    net: Any = model.model
    with torch.enable_grad():
        if layer.index is None:
            with torch.no_grad():
                features = net.forward_features(image)
            features = features.detach().requires_grad_(True)
            return features, net.forward_head(features)
        x = image.detach().requires_grad_(True)  # parameters are frozen: the graph needs one input that records
        final, intermediates = net.forward_intermediates(x, indices=[layer.index], stop_early=False)
        return intermediates[0], net.forward_head(final)


@torch.enable_grad()  # the carried gradient differentiates a backward; callers may be in no_grad
def layer_grads(outputs: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Gradients (K, *features.shape) of each of the K columns of ``outputs`` (1, K), in one batched backward.

    timm returns some intermediates as reshaped copies (ViT tokens -> NCHW, Swin NHWC -> NCHW) that the forward does
    not use. Their gradient is the on-path tensor's gradient carried through the same rearrangement: taken at its
    autograd edge, then mapped forward as the transpose of the rearrangement's (linear) backward.
    """
    k = outputs.shape[1]
    eye = torch.eye(k, device=outputs.device, dtype=outputs.dtype).view(k, 1, k)
    grads = torch.autograd.grad(outputs, features, eye, retain_graph=True, allow_unused=True, is_grads_batched=True)
    node, nr = features.grad_fn, features.output_nr
    while grads[0] is None and node is not None and type(node).__name__ in _REARRANGE:
        node, nr = node.next_functions[0]
    if grads[0] is not None:
        return grads[0]
    edge = torch.autograd.graph.GradientEdge(node, nr)
    on_path = torch.autograd.grad(outputs, edge, eye, allow_unused=True, is_grads_batched=True) if node else (None,)
    if node is features.grad_fn or on_path[0] is None:
        raise LayerError("the chosen layer's features do not reach the model output; pick another layer")
    probe = torch.zeros_like(features, requires_grad=True)
    (pulled,) = torch.autograd.grad(features, edge, probe, create_graph=True)
    return torch.autograd.grad(pulled, probe, on_path[0], is_grads_batched=True)[0]


def to_spatial(
    features: torch.Tensor, model: LoadedModel, input_hw: tuple[int, int], *, num_chs: int | None = None
) -> torch.Tensor:
    """Lay features out as (N, C, gh, gw): NCHW as is, NHWC permuted, tokens without prefix tokens on the patch grid.

    Args:
        features: (N, C, gh, gw), (N, gh, gw, C) or (N, L, C) tokens.
        model: the model that made them (num_features, output_fmt, num_prefix_tokens, patch_embed).
        input_hw: the input's (height, width), for dynamic-size token models.
        num_chs: channels at a forward_intermediates layer, whose layout is told by where they sit; None for the
            output of forward_features: num_features channels, laid out as the model's ``output_fmt`` says.

    Raises:
        LayerError: the features have no spatial layout this function knows.
    """
    net: Any = model.model
    if not isinstance(features, torch.Tensor):
        raise LayerError(f"{model.architecture} returns {type(features).__name__} features, not one image grid")
    chs = num_chs or int(getattr(net, "num_features", 0))
    shape = tuple(features.shape)
    if features.ndim == 4:
        nhwc = getattr(net, "output_fmt", None) == "NHWC" and num_chs is None
        if shape[-1] == chs and (nhwc or shape[1] != chs):
            return features.permute(0, 3, 1, 2)
        if shape[1] == chs:
            return features
    if features.ndim == 3 and shape[-1] == chs:
        tokens = features[:, int(getattr(net, "num_prefix_tokens", 0) or 0) :]
        gh, gw = _token_grid(net, input_hw, tokens.shape[1])
        return tokens.reshape(shape[0], gh, gw, chs).permute(0, 3, 1, 2)
    raise LayerError(
        f"{model.architecture}: features of shape {shape} ({chs} channels expected) cannot be laid out "
        "on an image grid, so Grad-CAM cannot map them; use occlusion or integrated gradients"
    )


def _token_grid(net: Any, input_hw: tuple[int, int], n_tokens: int) -> tuple[int, int]:
    embed = getattr(net, "patch_embed", None)
    grid: tuple[int, int] | None = None
    if embed is not None and getattr(net, "dynamic_img_size", False) and hasattr(embed, "dynamic_feat_size"):
        grid = tuple(embed.dynamic_feat_size(input_hw))
    elif embed is not None and getattr(embed, "grid_size", None) is not None:
        grid = (int(embed.grid_size[0]), int(embed.grid_size[1]))
    elif math.isqrt(n_tokens) ** 2 == n_tokens and input_hw[0] == input_hw[1]:
        grid = (math.isqrt(n_tokens),) * 2
    if grid is None or grid[0] * grid[1] != n_tokens:
        raise LayerError(
            f"{type(net).__name__}: {n_tokens} spatial tokens do not fit a patch grid {grid} for an input "
            f"of {input_hw[0]}x{input_hw[1]}; Grad-CAM cannot map them"
        )
    return grid


def _final_is_spatial(model: LoadedModel) -> bool:
    net: Any = model.model
    pool = getattr(net, "global_pool", None)
    layout = (getattr(net, name, None) for name in ("num_features", "output_fmt", "num_prefix_tokens"))
    key = (type(net), model.architecture, model.input_size, pool if isinstance(pool, str) else None, *layout)
    with _probe_lock:
        known = _probed.get(key)
    if known is None:  # a race only repeats the same probe
        h, w = model.input_size
        dtype = next(net.parameters(), torch.empty(0)).dtype
        with torch.no_grad():
            features = net.forward_features(torch.zeros(1, 3, h, w, device=model.device, dtype=dtype))
        try:
            to_spatial(features, model, (h, w))
            known = True
        except LayerError:
            known = False
        with _probe_lock:
            _probed[key] = known
    return known


def _key(word: str, i: int, info: dict[str, Any]) -> str:
    return f"{word} {i + 1} ({info.get('module', i)}, 1/{info.get('reduction')})"


def _class_token_head(net: Any) -> bool:
    """Pooled by a class token (ViT, DeiT, PiT...): the last block's patch tokens never reach the output."""
    pool, prefix = getattr(net, "global_pool", None), getattr(net, "num_prefix_tokens", 0)
    has_cls = bool(prefix) or getattr(net, "cls_token", None) is not None
    return isinstance(pool, str) and pool == "token" and has_cls and getattr(net, "attn_pool", None) is None
