"""The first valid edit: Adam on the tanh parameters of the change, every goal's restarts in one batch.

After Wachter et al., "Counterfactual explanations without opening the black box" (2017), optimised like Carlini &
Wagner, "Towards evaluating the robustness of neural networks" (2017): a hinge on the goal plus L2, L1 and total
variation penalties, Adam on a tanh parameterisation that keeps pixels in [0, 1], several step sizes in one batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..models.preprocess import normalise
from ..models.tasks import decide
from ..types import LoadedModel, Prediction, PreparedImage
from .goals import Objective, penalties
from .roundtrip import eight_bit, round_trip, simulator
from .settings import Settings

# A pixel is x0 + tanh(p) * room, room = 1 - x0 going up and x0 going down: always in [0, 1], and, unlike a sigmoid
# of the pixel itself, as free to move at 0 or 1 as at mid-grey. Adam's early steps are about LR in p.
LR = 0.005  # a mid-grey pixel moves 0.6 of a level of 255 per step, so the first 8-bit crossings are single levels
LR_LADDER = 3.0  # restart i steps LR * LR_LADDER ** i: 0.005, 0.015, 0.045 cover fragile and stubborn goals
INIT_NOISE = 0.01  # restarts after the first start this far (in p; about one level) from the image
GRACE = 3  # see search
PATIENCE = 25  # steps without coming STALL closer to the goal (logits, or shares of a band) make a restart stalled
STALL = 0.01


@dataclass(frozen=True)
class Found:
    """One goal's result of the first phase: the edit and how the upload reads with it drawn on.

    Attributes:
        change: (3, h, w) the edit of the model's view, whole 8-bit levels, on the model's device.
        seen: (3, h, w) on the CPU: the model's view of rgb, read back like any upload.
        rgb: the upload with the edit drawn on.
        outputs: (1, K) raw outputs for seen.
        after: the prediction for seen.
        valid: whether outputs meet the goal.
        steps: the step the edit was found at.
        restart: its restart.
        steps_run: steps this goal ran.
        renders: round trips it tried.
        scale: 1 / the goal's mean pull per pixel value at its restart's start.
    """

    change: torch.Tensor
    seen: torch.Tensor
    rgb: np.ndarray
    outputs: torch.Tensor
    after: Prediction
    valid: bool
    steps: int
    restart: int
    steps_run: int
    renders: int
    scale: float


def per_row(
    objectives: Sequence[Objective], goal_of: torch.Tensor, fn: Callable[..., torch.Tensor], *args: torch.Tensor
) -> torch.Tensor:
    """``fn(objective, *its rows of args)`` goal by goal, e.g. Objective.slack: rows (N, ...) -> (N,)."""
    parts = []
    for g in goal_of.unique().tolist():
        rows = (goal_of == g).nonzero().flatten()
        parts.append((rows, fn(objectives[g], *(a[rows.to(a.device)] for a in args))))
    out = torch.zeros(len(goal_of), dtype=parts[0][1].dtype, device=parts[0][1].device)
    for rows, part in parts:
        out[rows.to(part.device)] = part
    return out


def first_valid(
    model: LoadedModel,
    prepared: PreparedImage,
    objectives: Sequence[Objective],
    weights: torch.Tensor,
    settings: Settings,
    progress: Callable[[float, str], None] | None,
) -> list[Found]:
    """Search every goal's restarts in one batch until each has a valid edit or gives up; see search.explain."""
    l1, max_steps, restarts = settings.l1, settings.max_steps, settings.restarts
    device = model.device
    goals = len(objectives)
    n = goals * restarts
    goal_of = torch.arange(n) // restarts  # rows are goal-major: goal g owns rows g * restarts ... + restarts - 1
    x0 = eight_bit(prepared.pixels.to(device).float())
    jitter = []
    for _ in range(goals):  # every goal gets the jitter a call for it alone would get
        noise = torch.rand((restarts, *x0.shape[1:]), generator=torch.Generator().manual_seed(settings.seed)) * 2 - 1
        noise[0] = 0.0
        jitter.append(noise * INIT_NOISE)
    param = torch.cat(jitter).to(device)
    lr = (LR * LR_LADDER ** (torch.arange(n) % restarts).float()).to(device).view(-1, 1, 1, 1)
    moment, second = torch.zeros_like(param), torch.zeros_like(param)
    margin = torch.tensor([objectives[int(g)].first_margin for g in goal_of], device=device)
    offset = torch.zeros_like(param)  # per row: what its last failed round trip added to the view it saw
    scale = torch.zeros(n, device=device)  # per row: 1 / the goal's mean pull per pixel value at its start
    support = (weights > 0).float()
    simulate = simulator(model, prepared)
    active = torch.ones(n, dtype=torch.bool)
    closest = torch.full((n,), -math.inf)  # per row: its best slack so far, and the step it got there
    closest_step = torch.zeros(n, dtype=torch.long)
    found: list[Found | None] = [None] * goals
    best_l2 = torch.full((goals,), math.inf)
    renders = [0] * goals
    finished = [False] * goals
    step = 0
    for step in range(max_steps + 1):
        rows = active.nonzero().flatten()
        rows_d = rows.to(device)
        owner = goal_of[rows]
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
        slack = per_row(objectives, owner, Objective.slack, out.detach()).cpu()
        better = slack > closest[rows] + STALL
        closest[rows[better]] = slack[better]
        closest_step[rows[better]] = step
        # A restart that has not come closer for PATIENCE steps sits where its penalties balance the goal, short of
        # its safety margin: try its view as soon as it meets the goal at all.
        stalled = step - closest_step[rows] >= PATIENCE
        need = torch.where(stalled.to(device), torch.zeros_like(margin[rows_d]), margin[rows_d])
        met = per_row(objectives, owner, Objective.met, out.detach(), need).cpu()
        for j in sorted((int(i) for i in np.flatnonzero(met.numpy())), key=lambda i: float(size[i])):
            b, g = int(rows[j]), int(owner[j])
            if size[j] >= best_l2[g]:
                continue
            rgb, again, seen = round_trip(model, prepared, change[j])
            renders[g] += 1
            if bool(objectives[g].met(again)[0]):
                found[g] = _found(model, change[j], (rgb, again, seen), step, b, restarts, float(scale[b]))
                best_l2[g] = float(size[j])
                active[b] = False
            else:
                offset[b] = seen - view[j].detach()
                margin[b] = objectives[g].bumped(margin[b])
                closest_step[b] = step  # the corrected view deserves its own PATIENCE steps
        for g in owner.unique().tolist():
            mine = owner == g
            best = found[g]
            if best is not None:
                # The others may still find a smaller change, but only soon: a restart already larger than the
                # winner or stalled is dropped, and all stop GRACE steps (plus half the winner's) after the winner.
                active[rows[mine & ((size >= best_l2[g]) | stalled)]] = False
                if step >= best.steps + GRACE + best.steps // 2:
                    active[goal_of == g] = False
            if step == max_steps or not bool(active[goal_of == g].any()) or bool(stalled[mine].all()):
                active[goal_of == g] = False
                finished[g] = True
                if best is None:  # the closest attempt, round-tripped so its numbers describe the upload
                    j = int(torch.where(mine, slack, torch.tensor(-math.inf)).argmax())
                    b = int(rows[j])
                    trip = round_trip(model, prepared, change[j])
                    renders[g] += 1
                    best = _found(model, change[j], trip, step, b, restarts, float(scale[b]), valid=False)
                found[g] = replace(best, steps_run=step, renders=renders[g])
        if all(finished) or not bool(active.any()):
            break
        keep = active[rows]  # only rows still running take a step
        with torch.enable_grad():
            hinge = per_row(objectives, owner, Objective.hinge, out, margin[rows_d])
            (pull,) = torch.autograd.grad(hinge.sum(), delta, retain_graph=True)
            if step == 0:
                mean = (pull.abs() * support).flatten(1).sum(1) / (3 * support.sum()).clamp(min=1)
                scale[rows_d] = torch.where(mean > 0, 1.0 / mean.clamp(min=1e-30), torch.ones_like(mean))
            smooth = penalties(delta, l2=settings.l2, l1=0.0, tv=settings.tv).sum()
            (rest,) = torch.autograd.grad(smooth, delta)
        with torch.no_grad():
            grad = scale[rows_d].view(-1, 1, 1, 1) * pull + rest
            # L1 by its smallest subgradient: a pixel not yet moved stays put until its pull exceeds l1 (as OWL-QN).
            grad = torch.where(delta == 0, grad.sign() * (grad.abs() - l1).clamp(min=0), grad + l1 * delta.sign())
            # Chain rule to the parameters; at 0 the room is the one on the side the pixel is pulled to.
            up = (p > 0) | ((p == 0) & (grad < 0))
            grad = grad * weights * (1 - torch.tanh(p).pow(2)) * torch.where(up, 1 - x0, x0)
            # Adam (Kingma & Ba 2015, Algorithm 1), one step size per row.
            t = step + 1
            k = rows_d[keep.to(device)]
            grad = grad[keep.to(device)]
            moment[k] = moment[k] * 0.9 + grad * 0.1
            second[k] = second[k] * 0.999 + grad.pow(2) * 0.001
            update = (moment[k] / (1 - 0.9**t)) / ((second[k] / (1 - 0.999**t)).sqrt() + 1e-12)
            param[k] = param[k] - lr[k] * update
        if progress is not None:
            progress(t / max_steps, f"step {t}/{max_steps}")
    return [f for f in found if f is not None]


def _found(
    model: LoadedModel,
    change: torch.Tensor,
    trip: tuple[np.ndarray, torch.Tensor, torch.Tensor],
    step: int,
    row: int,
    restarts: int,
    scale: float,
    *,
    valid: bool = True,
) -> Found:
    rgb, again, seen = trip
    after = decide(model.task, again[0].cpu().numpy())
    return Found(change, seen.cpu(), rgb, again, after, valid, step, row % restarts, step, 0, scale)
