"""Explanations from raw class activation or rollout cells: bilinear upsampling to the input, grid facts, notes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..targets import raw_score
from ..types import Explanation, Target

METHOD = "gradcam"
# Below this many cells per side a map cannot say much about where: a 7x7 grid is the ImageNet CNN norm at 224 px.
COARSE_GRID = 7


def explanations(
    targets: Sequence[Target],
    outputs: torch.Tensor,
    cells: torch.Tensor,
    hw: tuple[int, int],
    *,
    label: str,
    key: str,
    reduction: int | None,
    options: dict[str, Any],
    timings: dict[str, float],
    dead: Sequence[bool],
    where: str,
    notes: tuple[str, ...] = (),
    extras: dict[str, Any] | None = None,
) -> tuple[Explanation, ...]:
    """One Explanation per target from raw cells (K, gh, gw), or (1, gh, gw) shared by every target.

    Args:
        targets: what each map explains.
        outputs: the model's raw outputs (1, K_out), for the scores.
        cells: the raw maps on the layer's grid; upsampled bilinearly (align_corners=False), never normalised.
        hw: the input's (height, width).
        label: the variant as people read it ("HiResCAM"), for the coarse-grid note.
        key: the layer's key, kept in extras["layer"].
        reduction: input pixels per cell when timm says; else measured from the grid.
        options: what replays the map (layer, variant).
        timings: seconds per phase, shared by the maps of one call.
        dead: per target, whether its gradient was zero everywhere (its map is blank and gets a note saying why).
        where: where that gradient was read ("layer 'final features'"), for that note.
        notes: further notes for every map.
        extras: further facts for every map.
    """
    grid = (int(cells.shape[1]), int(cells.shape[2]))
    with torch.no_grad():
        heat = F.interpolate(cells[:, None].float(), size=hw, mode="bilinear", align_corners=False)[:, 0]
    heat_np = heat.cpu().numpy().astype(np.float32)
    reduction = reduction or round(max(hw[0] / grid[0], hw[1] / grid[1]))
    coarse = min(grid) < COARSE_GRID
    facts = {"layer": key, "grid": list(grid), "reduction": reduction, "coarse": coarse, **(extras or {})}
    if coarse:
        notes = (
            f"{label} read layer '{key}' on a {grid[0]}x{grid[1]} grid: it cannot localise finer than "
            f"about 1/{min(grid)} of the image. Check occlusion or integrated gradients before trusting where "
            "it points.",
            *notes,
        )
    blank = (
        f"The gradient at {where} is zero everywhere, so this map is blank: the target does not "
        "depend on this layer's positions here. Pick an earlier layer or another method."
    )
    row = outputs[0].detach().float().cpu()
    return tuple(
        Explanation(
            method=METHOD,
            target=t,
            score=raw_score(t, row),
            heatmap=heat_np[min(k, len(heat_np) - 1)].copy(),
            options=dict(options),
            timings=dict(timings),
            notes=notes + ((blank,) if dead[k] else ()),
            extras={**facts, "zero_gradient": bool(dead[k])},
        )
        for k, t in enumerate(targets)
    )
