"""Quality scorecard: deletion/insertion against random order (Petsiuk et al., 2018, "RISE"), model randomisation
(Adebayo et al., 2018, "Sanity Checks for Saliency Maps") and agreement between methods.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from .. import registry
from ..errors import OptionError
from ..methods.baselines import BASELINES
from ..types import Explanation, LoadedModel, Progress
from . import reference
from .curves import Curves, native, order_curves, pool, randomised_copy, spearman

Badge = Literal["pass", "warn", "fail"]

STEPS = 16
DEFAULT_BASELINES = "blur"  # keeps the image's colours and layout, removes objects: a gentle, in-distribution removal
GRID = 16  # cells per side removed / inserted together: pixel-wise random removal is adversarial noise to a CNN
# Thresholds on the gain, insertion minus deletion AUC in units of the score's range between the reference and the
# image. Random order gains exactly 0 on average (restoring cells in one order makes the images of removing them in the
# reverse order), so the map is held against 0; one random map spreads by +-0.13 on the planted classifier (largest
# of 72: 0.37) and within +-0.09 on skimage photos. Measured right maps: planted occlusion 0.70-0.88, IG 0.93-0.94;
# Grad-CAM / occlusion on photos 0.17-0.51 / -0.02-0.42; inverted maps -0.5 or lower.
PASS_GAIN = 0.25
FAIL_GAIN = -0.25
# Spearman correlation of |map| with the map of a randomised model (Adebayo et al., 2018): maps that stay this similar
# show the picture, not what the model learned (a map of the picture's edges scores 1.0). Measured on coffee: Grad-CAM
# -0.05, IG from black 0.49 (IG keeps some of the picture's edges, as Adebayo et al. found); planted models <= 0.3.
FAIL_CORRELATION = 0.7
WARN_CORRELATION = 0.5
# The blurred-copy control (curves.BLUR_CELLS): a map whose blurred copy gains more than it, by more than this, wins
# (if it wins) by where it points roughly, not by its detail, and is not passed. On the 16 benchmark photos the smooth
# maps and their blurred copies gain alike on average (Grad-CAM +0.23 vs +0.22, occlusion +0.22 vs +0.20), raw IG from
# blur loses to its copy (+0.25 vs +0.30): 0.05 keeps the first two level and catches the third.
BLUR_MARGIN = 0.05


@dataclass(frozen=True)
class Scorecard:
    """How far one attribution map can be trusted, with the numbers behind the verdict.

    Attributes:
        method: the explanation's method.
        badge: pass, warn or fail.
        reason: the verdict in one sentence.
        curves: deletion and insertion curves of the map and of a seeded random order; None when the baseline image
            scores like the image (nothing to delete).
        randomisation: Spearman correlation of |map| with the map of a copy of the model whose last stage was
            re-initialised; None for methods that do not read gradients.
        agreement: Spearman correlation of where this map and each other map (same image and target; keyed by
            ``registry.key``, so each Grad-CAM variant has its own) put
            supporting evidence: their positive parts averaged over the curves' cells, so that pixel-level sign noise
            (IG) and upsampled grids (Grad-CAM) compare, and maps made from different references can agree on where.
        baselines: the reference image the curves remove pixels to (see baselines.BASELINES).
        seconds: time spent on this scorecard.
        notes: further caveats.
    """

    method: str
    badge: Badge
    reason: str
    curves: Curves | None
    randomisation: float | None
    agreement: dict[str, float] = field(default_factory=dict)
    baselines: str = "blur"
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view for the API and receipts."""
        out = dataclasses.asdict(self)
        out["curves"] = None if self.curves is None else self.curves.to_dict()
        out["notes"] = list(self.notes)
        return out


def scorecards(
    model: LoadedModel,
    image: torch.Tensor,
    explanations: Sequence[Explanation],
    *,
    steps: int = STEPS,
    baselines: str | None = None,
    seed: int = 0,
    sanity: bool = True,
    progress: Progress | None = None,
) -> tuple[Scorecard, ...]:
    """Score several maps of one image at once: shared random-order curves, batched forwards without autograd.

    Args:
        model: the model the maps explain; never modified (randomisation works on a deep copy).
        image: the normalised image (1, 3, h, w) the maps were computed on.
        explanations: maps of this image; methods that ran for the same target are compared with each other.
        steps: points per curve after the start (each costs a forward pass per curve).
        baselines: what removed pixels become, one of baselines.BASELINES; None = each map's own reference (its
            ``baselines`` option: IG from black is tested by removing to black), "blur" for methods without one. A map
            tested against another reference than its own is judged on a question it did not answer.
        seed: the random order and the re-initialised weights.
        sanity: run the model-randomisation check for gradient methods (one rerun of the method each).
        progress: called with (fraction done, message).

    Raises:
        OptionError: steps out of range or no explanations.
    """
    if not explanations:
        raise OptionError("scorecards needs at least one explanation; got none")
    if not 2 <= steps <= 64:
        raise OptionError(f"steps must be between 2 and 64, got {steps}")
    start = time.perf_counter()
    _report(progress, 0.0, "Scorecard: deletion and insertion")
    kinds = [baselines or _own_reference(e) for e in explanations]
    curves: list[Curves | None] = [None] * len(explanations)
    for kind in dict.fromkeys(kinds):  # one set of random-order images per reference
        group = [k for k, other in enumerate(kinds) if other == kind]
        found = order_curves(
            model,
            image,
            [explanations[k].heatmap for k in group],
            [explanations[k].target for k in group],
            steps=steps,
            grid=GRID,
            baselines=kind,
            seed=seed,
        )
        for k, c in zip(group, found, strict=True):
            curves[k] = c
    shared = time.perf_counter() - start
    cards = []
    for k, expl in enumerate(explanations):
        t0 = time.perf_counter()
        _report(progress, 0.5 + 0.5 * k / len(explanations), f"Scorecard: sanity check of {expl.method}")
        rho = randomisation(model, image, expl, seed=seed) if sanity and _sanity(expl.method) else None
        agree = {  # keyed by entry (variant) key: several Grad-CAM variants share the method name
            registry.key(o.method, o.options): spearman(_support(expl.heatmap), _support(o.heatmap))
            for o in explanations
            if o is not expl and o.target == expl.target
        }
        badge, reason, notes = verdict(expl, curves[k], rho)
        seconds = shared / len(explanations) + time.perf_counter() - t0
        cards.append(Scorecard(expl.method, badge, reason, curves[k], rho, agree, kinds[k], seconds, notes))
    _report(progress, 1.0, "Scorecard: done")
    return tuple(cards)


def scorecard(model: LoadedModel, image: torch.Tensor, explanation: Explanation, **options: Any) -> Scorecard:
    """The scorecard of one map; options as in ``scorecards``."""
    return scorecards(model, image, [explanation], **options)[0]


def verdict(explanation: Explanation, curves: Curves | None, rho: float | None) -> tuple[Badge, str, tuple[str, ...]]:
    """The badge and its reason from the curves, the randomisation correlation and the method's own flags."""
    notes: list[str] = []
    if rho is not None and rho >= FAIL_CORRELATION:
        return (
            "fail",
            (
                f"the map barely changes when the model's last stage is re-initialised (rank correlation "
                f"{rho:.2f}): it shows the picture more than what the model learned"
            ),
            (),
        )
    if rho is not None and rho >= WARN_CORRELATION:
        notes.append(
            f"the map changes only partly when the model's last stage is re-initialised (rank correlation "
            f"{rho:.2f}); part of it reflects the picture rather than the model"
        )
    if curves is None:
        return (
            "warn",
            (
                "the reference image scores like the image itself for this target, so removing pixels cannot "
                "test this map"
            ),
            tuple(notes),
        )
    gain = curves.gain
    if gain <= FAIL_GAIN:
        return (
            "fail",
            (
                "removing the pixels this map ranks highest changes the score less than removing them in random "
                "order: the map points away from what the model uses"
            ),
            tuple(notes),
        )
    if gain < PASS_GAIN:
        return (
            "warn",
            f"the map is no better than random order at finding what the model uses (gain {gain:.2f}, below "
            f"{PASS_GAIN})",
            tuple(notes),
        )
    found = _evidence_phrase(curves)
    blurred = curves.blurred_gain
    beat = _controls(gain, blurred)
    grid = explanation.extras.get("grid")
    if explanation.extras.get("coarse") and grid:
        return (
            "warn",
            (
                f"{found} ({beat}), but {registry.label(explanation.method, explanation.options)}'s layer is only "
                f"{grid[0]}x{grid[1]} here, too coarse to say where "
                "within a cell; check occlusion or integrated gradients"
            ),
            tuple(notes),
        )
    if blurred is not None and gain < blurred - BLUR_MARGIN:
        return (
            "warn",
            (
                f"{found}, but a blurred copy of the map does better (gain {blurred:.2f} against its {gain:.2f}): "
                "only roughly where it points is borne out, not its detail; read it at a coarser scale"
            ),
            tuple(notes),
        )
    if notes:
        return "warn", f"{found} ({beat}), but {notes[0]}", tuple(notes[1:])
    return "pass", f"{found}: {beat}, so the map points at evidence the model uses", ()


def _controls(gain: float, blurred: float | None) -> str:
    """Which controls the map beat, in words."""
    random = f"better than random order (gain {gain:.2f}, random's expectation 0)"
    if blurred is None:
        return random
    if gain >= blurred:
        return f"{random} and than a blurred copy of itself ({blurred:.2f})"
    if gain >= blurred - BLUR_MARGIN:
        return f"{random} and as good as a blurred copy of itself ({blurred:.2f}, within {BLUR_MARGIN})"
    return f"{random} but not than a blurred copy of itself ({blurred:.2f})"


def _evidence_phrase(curves: Curves) -> str:
    deletion, insertion = curves.deletion_speedup, curves.insertion_speedup
    parts = []
    if deletion is not None and deletion > 1:
        parts.append(f"deletion drops the score {deletion:.1f}x faster than random order")
    if insertion is not None and insertion > 1:
        parts.append(
            f"insertion restores it {insertion:.1f}x faster"
            if parts
            else f"insertion restores the score {insertion:.1f}x faster than random order"
        )
    return " and ".join(parts) or f"insertion and deletion beat random order by {curves.gain:.2f}"


def randomisation(
    model: LoadedModel, image: torch.Tensor, explanation: Explanation, *, seed: int = 0, settle: bool = True
) -> float:
    """Spearman correlation of |map| with the same method's |map| on copies whose last stage is re-initialised.

    The median over the method's draws (the registry's ``sanity``). Maps made on a coarser grid (Grad-CAM's
    ``extras["grid"]``) are compared on that grid, and cells or pixels that are zero in both maps are left out: there
    the architecture itself cuts the input off (a mask, a crop), which says nothing about whether the method reads the
    learned weights.

    Args:
        settle: stop drawing once the median of all draws is sure to stay below WARN_CORRELATION whatever the
            remaining draws give (the verdict, which then neither warns nor prints the value, cannot change); the
            value is then the median of the draws made. False always makes every draw.
    """
    check = _sanity(explanation.method) or registry.Sanity()
    caps = check.caps
    options = {k: (min(v, caps[k]) if k in caps and isinstance(v, int) else v) for k, v in explanation.options.items()}
    explain = registry.get(explanation.method).explain
    found = explanation.extras.get("grid")
    grid = tuple(int(n) for n in found) if isinstance(found, (list, tuple)) and len(found) == 2 else None
    if grid is not None and grid == explanation.heatmap.shape:
        grid = None

    def cells(heatmap: np.ndarray) -> np.ndarray:
        return np.abs(native(heatmap, grid) if grid is not None else heatmap)

    original = cells(explanation.heatmap)
    values = []
    for draw in range(check.draws):
        copy = reference.randomised(model, seed + draw, functools.partial(randomised_copy, model, seed=seed + draw))
        rerun = explain(copy, image, target=explanation.target, **options)
        other = cells(rerun.heatmap)
        tol = 1e-6 * max(float(original.max()), float(other.max()), 1e-30)
        keep = (original > tol) | (other > tol)
        values.append(spearman(original[keep], other[keep]) if keep.any() else 0.0)
        if settle and np.median(values + [1.0] * (check.draws - 1 - draw)) < WARN_CORRELATION:
            break
    return float(np.median(values))


def _sanity(method: str) -> registry.Sanity | None:
    return registry.METHODS[method].sanity if method in registry.METHODS else None


def _support(heatmap: np.ndarray) -> np.ndarray:
    return pool(np.maximum(heatmap, 0.0), GRID)


def _own_reference(explanation: Explanation) -> str:
    kind = explanation.options.get("baselines")
    return kind if isinstance(kind, str) and kind in BASELINES else DEFAULT_BASELINES


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)
