"""Counterfactual explanation: the smallest, smoothest pixel edit that moves the prediction where the user asks.

Two phases: the first valid edit (optimise.py, after Wachter et al. 2017 and Carlini & Wagner 2017), then a sparsity
phase that shrinks it while it stays valid (shrink.py, after EAD and CEM, 2018). Validity is always judged on the
upload re-read with the edit drawn on (roundtrip.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import OptionError, TargetError
from ..models.predict import model_outputs
from ..models.tasks import decide
from ..types import Counterfactual, LoadedModel, PreparedImage
from .goals import Goal, Objective, failure, parse_goal, resolve, total_variation
from .headline import describe
from .optimise import Found, first_valid
from .roundtrip import eight_bit
from .settings import BUDGET, CELL, L1, L2, MAX_STEPS, RESTARTS, SHRINK_STEPS, TV, Settings, settings
from .shrink import Clock, Shrunk, shrink

CHANGED_EPS = 2 / 255  # a pixel counts as changed past 2 of 255 levels: 1-2 levels is rounding/JPEG noise, unseen
_MAX_GOALS = 64


def explain(
    model: LoadedModel,
    prepared: PreparedImage,
    *,
    goal: Goal | str,
    l2: float = L2,
    l1: float = L1,
    tv: float = TV,
    max_steps: int = MAX_STEPS,
    mask: np.ndarray | None = None,
    restarts: int = RESTARTS,
    seed: int = 0,
    shrink_steps: int = SHRINK_STEPS,
    budget: float | None = BUDGET,
    cell: int = CELL,
    progress: Callable[[float, str], None] | None = None,
    clock: Clock = time.perf_counter,
) -> Counterfactual:
    """Find a small edit of the model's view that reaches the goal, shrink it, and render it onto the upload.

    First phase: restarts run as one batch, each with its own Adam step size. The forward pass sees what the model
    will see once the edit is drawn onto the upload: 8-bit levels, blurred as the trip through the upload's size
    blurs it. A restart that meets the goal there with a safety margin is rendered onto the upload and re-read like
    any upload; if that meets the goal too it is valid, else its margin grows and the measured difference is fed back
    into its forward pass. The others go on only while they may still find a smaller change (at most half as many
    steps again, + 3). Second phase (sparsity, shrink.py): proximal gradient steps with group soft thresholding of
    cells, the threshold rising while the edit meets the goal and falling while it does not, until shrink_steps or the
    budget run out; every smaller candidate that meets the goal is re-read from the upload the same way, and the
    smallest valid one is returned.

    Args:
        model: the loaded model.
        prepared: the upload as the model sees it (prepare_image / prepare_pil).
        goal: a Goal, or text for parse_goal.
        l2: weight of the squared size of the change (stay close), in both phases.
        l1: weight of its absolute size (change few pixels) in the first phase; the sparsity phase sets its own.
        tv: weight of its total variation (change smoothly) in the first phase.
        max_steps: Adam steps at most in the first phase (it is not cut short by the budget).
        mask: optional (h, w) bool or [0, 1] float array at the model's input size; the change is confined to it
            (scaled by it where it is fractional).
        restarts: step sizes tried together, LR * LR_LADDER ** i for restart i; all but the first start from a seeded
            jitter of about one level.
        seed: seeds the jitter; the same seed gives the same result when the budget does not cut the search.
        shrink_steps: steps of the sparsity phase at most; 0 returns the first valid edit.
        budget: seconds the call may take before the sparsity phase stops taking steps (it keeps the smallest valid
            edit so far); None = no clock, shrink_steps alone bounds it (fully reproducible).
        cell: side in pixels of the square cells the sparsity phase switches on and off together.
        progress: called with (fraction done, message).
        clock: seconds, for the budget (tests pass a fake one).

    Returns:
        The counterfactual. Its pixels, delta and metrics describe the model's view of ``rgb`` re-read like any upload
        (with a mask, resampling may spread the change a pixel or two past the mask's edge unless the upload's crop
        box is the view itself). metrics: valid, l2 (Euclidean norm of the change, [0, 1] units), l1 (its sum of
        absolute values), linf_levels, changed_share (share of pixels changed by more than CHANGED_EPS in some
        channel), touched_share (by at least one level), tv (isotropic total variation of the change), steps (to the
        first valid edit), steps_run, renders (round trips tried), restart, seconds, slack (logits past the runner-up
        or the threshold; for values, 1 - distance / tolerance of the tightest band), before and after
        (Prediction.to_dict), goal (the resolved goal, for headline), first_valid (the same size metrics for the first
        valid edit, and its seconds), shrink (steps, renders, best_step, stopped: "steps", "budget", "off" or
        "invalid"), options (every option that shaped it). When no restart got there: the closest attempt,
        valid=False and a message saying how close it got and what to try.

    Raises:
        TargetError: the goal names nothing this model predicts, or is already what the model predicts.
        OptionError: an option is out of range, or the image was prepared for another input size.
    """
    chosen = Settings(l2, l1, tv, max_steps, restarts, seed, shrink_steps, budget, cell)
    return _search(model, prepared, [goal], chosen, mask=mask, progress=progress, clock=clock)[0]


def explain_many(
    model: LoadedModel,
    prepared: PreparedImage,
    *,
    goals: Sequence[Goal | str],
    mask: np.ndarray | None = None,
    progress: Callable[[float, str], None] | None = None,
    clock: Clock = time.perf_counter,
    **options: Any,
) -> list[Counterfactual]:
    """Counterfactuals for several goals at once, optimised as one batch (every goal's restarts side by side).

    Each goal gets what explain would give it alone (the same jitter and stopping rules; batched arithmetic may
    differ in the last float bits). The budget is shared: it bounds the whole call.

    Args:
        goals: Goals, or texts for parse_goal; other_classes(prediction) gives every other top-5 class.
        options: explain's options by name (l2, l1, tv, max_steps, restarts, seed, shrink_steps, budget, cell); the
            budget (seconds for the whole call) defaults to BUDGET per goal.

    Returns:
        One Counterfactual per goal, in order; ``success_rate`` reads the share that are valid.

    Raises:
        TargetError: a goal names nothing this model predicts, or is already what the model predicts.
        OptionError: an unknown option or one out of range, no goals or too many, or the image was prepared for
            another input size.
    """
    if isinstance(goals, (str, Goal)) or not 1 <= len(goals) <= _MAX_GOALS:
        raise OptionError(f"goals must be a list of 1 to {_MAX_GOALS} goals, got {goals!r}")
    options = {"budget": BUDGET * len(goals), **options}  # by default as long per goal as explain takes for one
    return _search(model, prepared, goals, settings(options), mask=mask, progress=progress, clock=clock)


def _search(
    model: LoadedModel,
    prepared: PreparedImage,
    goals: Sequence[Goal | str],
    chosen: Settings,
    *,
    mask: np.ndarray | None,
    progress: Callable[[float, str], None] | None,
    clock: Clock,
) -> list[Counterfactual]:
    start = clock()
    h, w = model.input_size
    if progress is not None and not callable(progress):
        raise OptionError(f"progress must be a function (fraction, message) or None, got {type(progress).__name__}")
    if tuple(prepared.pixels.shape) != (1, 3, h, w):
        raise OptionError(
            f"the image was prepared as {tuple(prepared.pixels.shape)} but this model takes (1, 3, {h}, "
            f"{w}); prepare it with this model"
        )
    weights = _weights(mask, prepared, h, w).to(model.device)
    outputs0 = model_outputs(model, prepared.image)
    before = decide(model.task, outputs0[0].cpu().numpy())
    resolved: list[tuple[Objective, str]] = []
    for goal in goals:
        objective, request = resolve(model, parse_goal(model, goal) if isinstance(goal, str) else goal, before)
        if bool(objective.met(outputs0)[0]):
            raise TargetError(
                f"the model already predicts {request!r} for this image ({before.decision}); ask for "
                "something it does not predict yet"
            )
        resolved.append((objective, request))
    objectives = [o for o, _ in resolved]
    half = None if progress is None else lambda f, m: progress(f / 2, m)
    first = first_valid(model, prepared, objectives, weights, chosen, half)
    first_seconds = clock() - start
    ok = [i for i, f in enumerate(first) if f.valid]
    deadline = float("inf") if chosen.budget is None else start + chosen.budget
    rest = None if progress is None else lambda f, m: progress(0.5 + f / 2, m)
    picked = [first[i] for i in ok]
    shrunk = shrink(
        model,
        prepared,
        [objectives[i] for i in ok],
        weights,
        picked,
        chosen,
        deadline=deadline,
        clock=clock,
        progress=rest,
    )
    final: list[tuple[Found, Shrunk]] = [(f, Shrunk(0, 0, 0, "invalid")) for f in first]
    for i, pair in zip(ok, shrunk, strict=True):
        final[i] = pair
    seconds = clock() - start
    x0 = eight_bit(prepared.pixels.float())[0]
    results = []
    for (objective, request), found, (best, info) in zip(resolved, first, final, strict=True):
        metrics: dict[str, Any] = {
            "valid": best.valid,
            **_size(best.seen - x0),
            "steps": found.steps,
            "seconds": seconds,
            "restart": found.restart,
            "steps_run": found.steps_run,
            "renders": found.renders + info.renders,
            "slack": float(objective.slack(best.outputs.float().cpu())[0]),
            "before": before.to_dict(),
            "after": best.after.to_dict(),
            "goal": describe(model, objective, before),
            "first_valid": {**_size(found.seen - x0), "seconds": first_seconds} if found.valid else None,
            "shrink": {
                "steps": info.steps,
                "renders": info.renders,
                "best_step": info.best_step,
                "stopped": info.stopped,
            },
            "options": {**chosen.to_dict(), "masked": mask is not None},
        }
        d = (best.seen - x0)[None]
        message = (
            ""
            if best.valid
            else failure(
                model, objective, request, before, best.after, found.steps, found.renders, masked=mask is not None
            )
        )
        results.append(
            Counterfactual(
                request=request,
                valid=best.valid,
                pixels=best.seen.numpy(),
                rgb=best.rgb,
                delta=d[0].permute(1, 2, 0).contiguous().numpy(),
                before=before,
                after=best.after,
                metrics=metrics,
                message=message,
            )
        )
    if progress is not None:
        done = all(r.valid for r in results)
        progress(1.0, "done" if done else "stopped without a valid counterfactual")
    return results


def success_rate(results: Sequence[Counterfactual]) -> float:
    """The share of counterfactuals that are valid (0 for none)."""
    return sum(r.valid for r in results) / len(results) if results else 0.0


def _size(d: torch.Tensor) -> dict[str, Any]:
    """(3, h, w) change in whole levels -> its size metrics."""
    d = d[None]
    return {
        "l2": float(d.flatten().norm()),
        "l1": float(d.abs().sum()),
        "linf_levels": round(float(d.abs().max()) * 255),
        # The change is in whole levels: "more than CHANGED_EPS" means at least one level more.
        "changed_share": float((d.abs().amax(dim=1) > CHANGED_EPS + 0.5 / 255).float().mean()),
        "touched_share": float((d.abs().amax(dim=1) > 0.5 / 255).float().mean()),
        "tv": float(total_variation(d)[0]),
    }


def _weights(mask: np.ndarray | None, prepared: PreparedImage, h: int, w: int) -> torch.Tensor:
    """(1, 1, h, w) float: how much each view pixel may change (the mask, zero where the view leaves the picture)."""
    height, width = prepared.rgb.shape[:2]
    left, top, right, bottom = prepared.crop_box
    cx = left + (torch.arange(w) + 0.5) * (right - left) / w
    cy = top + (torch.arange(h) + 0.5) * (bottom - top) / h
    inside = ((cy >= 0) & (cy < height))[:, None] & ((cx >= 0) & (cx < width))[None, :]
    weights = inside.float()
    if mask is not None:
        array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if array.shape != (h, w):
            raise OptionError(
                f"the mask must be (h, w) = ({h}, {w}), the model's input size, got {array.shape}; "
                "resize it to the model's view"
            )
        if array.dtype != bool and not np.issubdtype(array.dtype, np.number):
            raise OptionError(f"the mask must hold booleans or numbers in [0, 1], got dtype {array.dtype}")
        values = array.astype(np.float32)
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise OptionError(
                "the mask's values must lie in [0, 1] (1 = may change, 0 = keep); "
                f"got a range of {values.min()}..{values.max()}"
            )
        weights = weights * torch.from_numpy(values)
    if not bool((weights > 0).any()):
        raise OptionError(
            "the mask leaves no pixel of the model's view free to change; widen it (e.g. lower the Grad-CAM threshold)"
        )
    return weights.view(1, 1, h, w)
