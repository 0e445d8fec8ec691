"""Counterfactual explanation: the smallest, smoothest pixel edit that moves the prediction where the user asks.

After Wachter et al., "Counterfactual explanations without opening the black box" (2017), optimised like Carlini &
Wagner, "Towards evaluating the robustness of neural networks" (2017): a hinge on the goal plus L2, L1 and total
variation penalties, Adam on a tanh parameterisation that keeps pixels in [0, 1], several step sizes in one batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import options
from ..errors import OptionError, TargetError
from ..models.predict import model_outputs
from ..models.preprocess import normalise
from ..models.tasks import decide
from ..types import Counterfactual, LoadedModel, Prediction, PreparedImage
from .goals import Goal, Objective, failure, parse_goal, penalties, resolve, total_variation
from .roundtrip import eight_bit, round_trip, simulator

# Penalty weights are relative to the goal's pull: the hinge gradient is rescaled so its mean magnitude per pixel value
# is 1. So l1 = 1 keeps still every pixel pulled less hard than the average one (about half of them on ImageNet
# photos), l2 = 10 resists a 10-level change about as hard as the average pull, and tv = 0.1 only smooths a little:
# on the benchmark these gave the smallest changes without costing steps (l1 = 2 halves the pixels touched again but
# needs up to 3x the steps for a chosen class).
L2 = 10.0
L1 = 1.0
TV = 0.1
_MAX_WEIGHT = 1e6  # far past freezing every pixel; larger weights overflow float32 arithmetic
MAX_STEPS = 200
RESTARTS = 3
# A pixel is x0 + tanh(p) * room, room = 1 - x0 going up and x0 going down: always in [0, 1], and, unlike a sigmoid
# of the pixel itself, as free to move at 0 or 1 as at mid-grey. Adam's early steps are about LR in p.
LR = 0.005  # a mid-grey pixel moves 0.6 of a level of 255 per step, so the first 8-bit crossings are single levels
LR_LADDER = 3.0  # restart i steps LR * LR_LADDER ** i: 0.005, 0.015, 0.045 cover fragile and stubborn goals
INIT_NOISE = 0.01  # restarts after the first start this far (in p; about one level) from the image
GRACE = 3  # see _optimise
PATIENCE = 25  # steps without coming STALL closer to the goal (logits, or shares of a band) make a restart stalled
STALL = 0.01
CHANGED_EPS = 2 / 255  # a pixel counts as changed past 2 of 255 levels: 1-2 levels is rounding/JPEG noise, unseen
_MAX_RESTARTS = 16
_MAX_STEPS_LIMIT = 10_000


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
    progress: Callable[[float, str], None] | None = None,
) -> Counterfactual:
    """Find a small, smooth edit of the model's view that reaches the goal, and render it onto the upload.

    Restarts run as one batch, each with its own Adam step size. The forward pass sees what the model will see once
    the edit is drawn onto the upload: 8-bit levels, blurred as the trip through the upload's size blurs it. A restart
    that meets the goal there with a safety margin is rendered onto the upload and re-read like any upload; if that
    meets the goal too it is done, else its margin grows and the measured difference is fed back into its forward
    pass. The others go on only while they may still find a smaller change (at most half as many steps again, + 3).

    Args:
        model: the loaded model.
        prepared: the upload as the model sees it (prepare_image / prepare_pil).
        goal: a Goal, or text for parse_goal.
        l2: weight of the squared size of the change (stay close).
        l1: weight of its absolute size (change few pixels).
        tv: weight of its total variation (change smoothly).
        max_steps: Adam steps at most.
        mask: optional (h, w) bool or [0, 1] float array at the model's input size; the change is confined to it
            (scaled by it where it is fractional).
        restarts: step sizes tried together, LR * LR_LADDER ** i for restart i; all but the first start from a seeded
            jitter of about one level.
        seed: seeds the jitter; the same seed gives the same result.
        progress: called with (fraction of max_steps done, message).

    Returns:
        The counterfactual. Its pixels, delta and metrics describe the model's view of ``rgb`` re-read like any upload
        (with a mask, resampling may spread the change a pixel or two past the mask's edge unless the upload's crop
        box is the view itself). metrics: valid, l2 (Euclidean norm of the change, [0, 1] units), l1 (its sum of
        absolute values), linf_levels, changed_share (share of pixels changed by more than CHANGED_EPS in some
        channel), touched_share (by at least one level), tv (isotropic total variation of the change), steps (to the
        result), steps_run, renders (round trips tried), restart, seconds, slack (logits past the runner-up or the
        threshold; for values, 1 - distance / tolerance of the tightest band), before and after (Prediction.to_dict).
        When no restart got there: the closest attempt, valid=False and a message saying how close it got and what
        to try.

    Raises:
        TargetError: the goal names nothing this model predicts, or is already what the model predicts.
        OptionError: an option is out of range, or the image was prepared for another input size.
    """
    start = time.perf_counter()
    h, w = model.input_size
    _check_options(l2=l2, l1=l1, tv=tv, max_steps=max_steps, restarts=restarts, seed=seed, progress=progress)
    if tuple(prepared.pixels.shape) != (1, 3, h, w):
        raise OptionError(
            f"the image was prepared as {tuple(prepared.pixels.shape)} but this model takes (1, 3, {h}, "
            f"{w}); prepare it with this model"
        )
    weights = _weights(mask, prepared, h, w).to(model.device)
    parsed = parse_goal(model, goal) if isinstance(goal, str) else goal
    outputs0 = model_outputs(model, prepared.image)
    before = decide(model.task, outputs0[0].cpu().numpy())
    objective, request = resolve(model, parsed, before)
    if bool(objective.met(outputs0)[0]):
        raise TargetError(
            f"the model already predicts {request!r} for this image ({before.decision}); ask for "
            "something it does not predict yet"
        )
    run, info = _optimise(
        model,
        prepared,
        objective,
        weights,
        l2=l2,
        l1=l1,
        tv=tv,
        max_steps=max_steps,
        restarts=restarts,
        seed=seed,
        progress=progress,
    )
    valid = bool(objective.met(torch.as_tensor(run.after.outputs)[None])[0])
    x0 = eight_bit(prepared.pixels.float())[0]
    d = (run.seen - x0)[None]
    metrics: dict[str, Any] = {
        "valid": valid,
        "l2": float(d.flatten().norm()),
        "l1": float(d.abs().sum()),
        "linf_levels": round(float(d.abs().max()) * 255),
        # The change is in whole levels: "more than CHANGED_EPS" means at least one level more.
        "changed_share": float((d.abs().amax(dim=1) > CHANGED_EPS + 0.5 / 255).float().mean()),
        "touched_share": float((d.abs().amax(dim=1) > 0.5 / 255).float().mean()),
        "tv": float(total_variation(d)[0]),
        "steps": run.steps,
        "seconds": time.perf_counter() - start,
        "restart": run.restart,
        **info,
        "slack": float(objective.slack(torch.as_tensor(run.after.outputs)[None])[0]),
        "before": before.to_dict(),
        "after": run.after.to_dict(),
    }
    if progress is not None:
        progress(1.0, "done" if valid else "stopped without a valid counterfactual")
    return Counterfactual(
        request=request,
        valid=valid,
        pixels=run.seen.numpy(),
        rgb=run.rgb,
        delta=d[0].permute(1, 2, 0).contiguous().numpy(),
        before=before,
        after=run.after,
        metrics=metrics,
        message=""
        if valid
        else failure(model, objective, request, before, run.after, run.steps, info["renders"], masked=mask is not None),
    )


@dataclass(frozen=True)
class _Run:
    seen: torch.Tensor  # (3, h, w) on the CPU: the model's view of rgb, read back like any upload
    rgb: np.ndarray
    after: Prediction
    steps: int
    restart: int


def _optimise(
    model: LoadedModel,
    prepared: PreparedImage,
    objective: Objective,
    weights: torch.Tensor,
    *,
    l2: float,
    l1: float,
    tv: float,
    max_steps: int,
    restarts: int,
    seed: int,
    progress: Callable[[float, str], None] | None,
) -> tuple[_Run, dict[str, Any]]:
    """Adam on the tanh parameters of the change, all restarts in one batch; see explain for when it stops."""
    device = model.device
    x0 = eight_bit(prepared.pixels.to(device).float())
    generator = torch.Generator().manual_seed(seed)
    jitter = (torch.rand((restarts, *x0.shape[1:]), generator=generator) * 2 - 1) * INIT_NOISE
    jitter[0] = 0.0
    param = jitter.to(device)
    lr = (LR * LR_LADDER ** torch.arange(restarts, dtype=torch.float32)).to(device).view(-1, 1, 1, 1)
    moment, second = torch.zeros_like(param), torch.zeros_like(param)
    margin = torch.full((restarts,), objective.first_margin, device=device)
    offset = torch.zeros_like(param)  # per restart: what its last failed round trip added to the view it saw
    scale = torch.zeros(restarts, device=device)  # per restart: 1 / the goal's mean pull per pixel value at its start
    support = (weights > 0).float()
    simulate = simulator(model, prepared)
    active = torch.ones(restarts, dtype=torch.bool)
    closest = torch.full((restarts,), -math.inf)  # per restart: its best slack so far, and the step it got there
    closest_step = torch.zeros(restarts, dtype=torch.long)
    best: _Run | None = None
    best_l2 = math.inf
    renders = 0
    step = 0
    for step in range(max_steps + 1):
        rows = active.nonzero().flatten()
        rows_d = rows.to(device)
        with torch.enable_grad():
            p = param[rows_d].requires_grad_(True)
            delta = weights * torch.tanh(p) * torch.where(p > 0, 1 - x0, x0)
            # Straight-through rounding: the forward sees whole 8-bit levels, the gradient passes as if it did not.
            edit = delta + (eight_bit(x0 + delta) - x0 - delta).detach()
            view = x0 + (edit if simulate is None else simulate(edit))
            view = view + (eight_bit(view) - view).detach()
            out = model.model(normalise(model, view + offset[rows_d])).float()
        change = edit.detach()
        size = change.flatten(1).norm(dim=1).cpu()
        slack = objective.slack(out.detach()).cpu()
        better = slack > closest[rows] + STALL
        closest[rows[better]] = slack[better]
        closest_step[rows[better]] = step
        # A restart that has not come closer for PATIENCE steps sits where its penalties balance the goal, short of
        # its safety margin: try its view as soon as it meets the goal at all.
        stalled = step - closest_step[rows] >= PATIENCE
        need = torch.where(stalled.to(device), torch.zeros_like(margin[rows_d]), margin[rows_d])
        met = objective.met(out.detach(), need).cpu()
        for j in sorted((int(i) for i in np.flatnonzero(met.numpy())), key=lambda i: float(size[i])):
            if size[j] >= best_l2:
                break
            b = int(rows[j])
            rgb, again, seen = round_trip(model, prepared, change[j])
            renders += 1
            if bool(objective.met(again)[0]):
                best = _Run(seen.cpu(), rgb, decide(model.task, again[0].cpu().numpy()), step, b)
                best_l2 = float(size[j])
                active[b] = False
            else:
                offset[b] = seen - view[j].detach()
                margin[b] = objective.bumped(margin[b])
                closest_step[b] = step  # the corrected view deserves its own PATIENCE steps
        if best is not None:
            # The others may still find a smaller change, but only soon: a restart already larger than the winner or
            # stalled is dropped, and all stop GRACE steps (plus half the winner's) after the winner.
            active[rows[(size >= best_l2) | stalled]] = False
            if step >= best.steps + GRACE + best.steps // 2:
                active[:] = False
        if step == max_steps or not bool(active.any()) or bool(stalled.all()):
            break
        with torch.enable_grad():
            hinge = objective.hinge(out, margin[rows_d])
            (pull,) = torch.autograd.grad(hinge.sum(), delta, retain_graph=True)
            if step == 0:
                mean = (pull.abs() * support).flatten(1).sum(1) / (3 * support.sum()).clamp(min=1)
                scale[rows_d] = torch.where(mean > 0, 1.0 / mean.clamp(min=1e-30), torch.ones_like(mean))
            smooth = penalties(delta, l2=l2, l1=0.0, tv=tv).sum()
            (rest,) = torch.autograd.grad(smooth, delta)
        with torch.no_grad():
            grad = scale[rows_d].view(-1, 1, 1, 1) * pull + rest
            # L1 by its smallest subgradient: a pixel not yet moved stays put until its pull exceeds l1 (as OWL-QN).
            grad = torch.where(delta == 0, grad.sign() * (grad.abs() - l1).clamp(min=0), grad + l1 * delta.sign())
            # Chain rule to the parameters; at 0 the room is the one on the side the pixel is pulled to.
            up = (p > 0) | ((p == 0) & (grad < 0))
            grad = grad * weights * (1 - torch.tanh(p).pow(2)) * torch.where(up, 1 - x0, x0)
            # Adam (Kingma & Ba 2015, Algorithm 1), one step size per restart.
            t = step + 1
            moment[rows_d] = moment[rows_d] * 0.9 + grad * 0.1
            second[rows_d] = second[rows_d] * 0.999 + grad.pow(2) * 0.001
            update = (moment[rows_d] / (1 - 0.9**t)) / ((second[rows_d] / (1 - 0.999**t)).sqrt() + 1e-12)
            param[rows_d] = param[rows_d] - lr[rows_d] * update
        if progress is not None:
            progress(t / max_steps, f"step {t}/{max_steps}")
    if best is None:
        j = int(objective.slack(out.detach()).argmax())
        rgb, again, seen = round_trip(model, prepared, change[j])
        renders += 1
        best = _Run(seen.cpu(), rgb, decide(model.task, again[0].cpu().numpy()), step, int(rows[j]))
    return best, {"steps_run": step, "renders": renders}


def _check_options(
    *,
    l2: float,
    l1: float,
    tv: float,
    max_steps: int,
    restarts: int,
    seed: int,
    progress: Callable[[float, str], None] | None,
) -> None:
    for name, value in (("l2", l2), ("l1", l1), ("tv", tv)):
        options.real(value, name, low=0, high=_MAX_WEIGHT, words="a number (0 = off)")
    options.whole(max_steps, "max_steps", low=1, high=_MAX_STEPS_LIMIT)
    options.whole(restarts, "restarts", low=1, high=_MAX_RESTARTS)
    options.seed(seed)
    if progress is not None and not callable(progress):
        raise OptionError(f"progress must be a function (fraction, message) or None, got {type(progress).__name__}")


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
