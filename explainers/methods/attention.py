"""Gradient-weighted attention rollout: Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability for
Interpreting Bi-Modal and Encoder-Decoder Transformers" (ICCV), over timm's ViT / DeiT / BEiT / EVA attention.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from timm.layers import Attention, AttentionRope
from timm.models.beit import Attention as BeitAttention
from timm.models.eva import EvaAttention
from timm.models.vision_transformer_relpos import RelPosAttention
from torch import nn

from ..errors import LayerError
from ..layers import to_spatial
from ..targets import ensure_target, target_outputs
from ..types import LoadedModel, Target

# Attention modules whose unfused path is `softmax(q k^T + bias)` then `self.attn_drop(...)` exactly once per forward,
# with a `fused_attn` flag choosing scaled_dot_product_attention instead (timm 1.0).
ATTENTION_TYPES = (Attention, AttentionRope, BeitAttention, EvaAttention, RelPosAttention)
# Held from switching the flags off until they are restored, and by anything that copies a model, so that no copy and
# no other attention call ever sees a half-switched model.
switch_lock = threading.RLock()


@dataclass(frozen=True)
class Rollout:
    """Relevance of every patch for each target.

    Attributes:
        maps: (K, gh, gw) relevance on the patch grid: non-negative (the ReLU of eq. 5 is part of the method).
        outputs: the model's raw outputs (1, K_out), detached.
        targets: the targets explained, defaults resolved.
        dead: per target, whether every attention gradient was zero.
        blocks: attention blocks rolled out; heads: heads per block.
        rows: which tokens the head reads ("class token", "class + distillation tokens", "patch tokens").
        forward_s: seconds of the forward pass.
        notes: caveats (an attention-pooling head, whose own attention the rollout leaves out).
    """

    maps: torch.Tensor
    outputs: torch.Tensor
    targets: tuple[Target, ...]
    dead: tuple[bool, ...]
    blocks: int
    heads: int
    rows: str
    forward_s: float
    notes: tuple[str, ...] = ()


def attention_modules(model: LoadedModel) -> list[nn.Module]:
    """The attention module of every block of a ViT-style model (one token sequence through ``blocks``), or []."""
    blocks = getattr(model.model, "blocks", None)
    if not isinstance(blocks, (nn.Sequential, nn.ModuleList)) or len(blocks) == 0:
        return []
    found = [getattr(block, "attn", None) for block in blocks]
    kept: list[nn.Module] = [m for m in found if isinstance(m, ATTENTION_TYPES)]
    return kept if len(kept) == len(found) else []


def has_attention(model: LoadedModel) -> bool:
    """Whether the attention variant applies: every block of ``model.blocks`` is timm self-attention it can read."""
    return bool(attention_modules(model))


def rollout(model: LoadedModel, image: torch.Tensor, targets: Sequence[Target] | None) -> Rollout:
    """One forward with explicit attention, one batched backward to every block's attention, then eq. 5-6 of Chefer.

    Per block b: A_bar = mean over heads of ReLU(dy/dA_b * A_b); R = I, then R += A_bar @ R block by block. The map
    is R - I at the rows of the tokens the head reads (averaged) and the columns of the patch tokens (prefix tokens
    dropped), laid out on the patch grid; for a class-token head that is exactly Chefer's R[cls, patches].

    Raises:
        LayerError: no attention blocks, or a head that reads no token (global_pool '').
    """
    modules = attention_modules(model)
    if not modules:
        raise LayerError(
            f"variant 'attention' needs a transformer with attention blocks; {model.architecture} has none; use "
            "gradcam, hirescam, gradcam++, layercam or eigencam"
        )
    rows, what, notes = _pooled_rows(model)
    owner = threading.get_ident()
    captured: list[torch.Tensor] = []

    def keep(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if threading.get_ident() == owner:  # other threads share the module: their forwards are not ours
            captured.append(output)

    start = time.perf_counter()
    hooked: list[nn.Module] = [m.get_submodule("attn_drop") for m in modules]
    with switch_lock, _unfused(modules, owner), _forward_hooks(hooked, keep), torch.enable_grad():
        outputs = model.model(image.detach().requires_grad_(True))  # frozen weights: the input records the graph
    forward_s = time.perf_counter() - start
    if len(captured) != len(modules):
        raise LayerError(f"{model.architecture}: expected one attention map per block, caught {len(captured)}")
    chosen = tuple(ensure_target(model, t, outputs) for t in (targets or [None]))  # type: ignore[list-item]
    with torch.enable_grad():  # the caller may be in no_grad; the selection must stay on the graph
        signed = target_outputs(model, outputs, list(chosen))
        k = signed.shape[1]
        eye = torch.eye(k, device=signed.device, dtype=signed.dtype).view(k, 1, k)
        grads = torch.autograd.grad(signed, captured, eye, is_grads_batched=True, allow_unused=True)
    with torch.no_grad():
        n = captured[0].shape[-1]
        # float64: the identity's 1s would swallow the small terms of a model with small attention gradients.
        eye_n = torch.eye(n, device=signed.device, dtype=torch.float64)
        relevance = eye_n.expand(k, n, n)
        dead = torch.ones(k, dtype=torch.bool, device=signed.device)
        for attn, grad in zip(captured, grads, strict=True):
            if grad is None:
                continue
            dead &= grad.flatten(1).abs().amax(dim=1) == 0
            weighted = (grad[:, 0].double() * attn[0].double()).clamp(min=0).mean(dim=1)  # (K, N, N), eq. 5
            relevance = relevance + weighted @ relevance  # eq. 6
        # What the pooled tokens draw from every token through attention; the identity (each token's own residual
        # stream) is left out: it adds nothing to a class token's row and a constant 1/N to an average-pooled one.
        read = (relevance - eye_n)[:, rows].mean(dim=1).float()  # (K, N)
        h, w = int(image.shape[2]), int(image.shape[3])
        grid = to_spatial(read[..., None], model, (h, w), num_chs=1)[:, 0]
    heads = int(captured[0].shape[1])
    return Rollout(grid, outputs.detach(), chosen, tuple(dead.tolist()), len(modules), heads, what, forward_s, notes)


def _pooled_rows(model: LoadedModel) -> tuple[slice | list[int], str, tuple[str, ...]]:
    net: Any = model.model
    pool = getattr(net, "global_pool", None)
    prefix = int(getattr(net, "num_prefix_tokens", 0) or 0)
    if pool == "token" and prefix:
        if getattr(net, "dist_token", None) is not None:
            return [0, 1], "class + distillation tokens", ()  # DeiT-distilled averages both heads at inference
        return [0], "class token", ()
    if pool in ("avg", "avgmax", "max", "map", "prr"):
        notes: tuple[str, ...] = ()
        if getattr(net, "attn_pool", None) is not None or pool in ("map", "prr"):
            notes = (
                "This model pools its tokens with a learned attention head, which the rollout does not include: "
                "it weighs every pooled token alike. Check occlusion before trusting where it points.",
            )
        if getattr(net, "pool_include_prefix", False):
            return slice(None), "all tokens", notes
        return slice(prefix, None), "patch tokens", notes
    raise LayerError(
        f"{model.architecture} pools its tokens as {pool!r}; the attention variant needs a class-token or "
        "average-pooled head"
    )


class _Unfused:
    """Stands in for a module's ``fused_attn`` flag during one call: False on the calling thread (so the softmax
    weights exist as a tensor), the original value on every other thread, whose maps stay bit for bit what they are
    without this call.
    """

    def __init__(self, original: Any, owner: int) -> None:
        self.original, self.owner = original, owner

    def __bool__(self) -> bool:
        return False if threading.get_ident() == self.owner else bool(self.original)


@contextmanager
def _unfused(modules: Sequence[nn.Module], owner: int) -> Iterator[None]:
    own = ["fused_attn" in m.__dict__ for m in modules]  # set per instance by timm; a class default is left as is
    originals = [getattr(m, "fused_attn", False) for m in modules]
    try:
        for module, original in zip(modules, originals, strict=True):
            module.__dict__["fused_attn"] = _Unfused(original, owner)
        yield
    finally:
        for module, original, mine in zip(modules, originals, own, strict=True):
            if mine:
                module.__dict__["fused_attn"] = original
            else:
                del module.__dict__["fused_attn"]


@contextmanager
def _forward_hooks(modules: Sequence[nn.Module], hook: Any) -> Iterator[None]:
    handles = []
    try:
        for module in modules:
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()
