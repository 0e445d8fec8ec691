"""Counterfactual goals and loss: what the user asks for, how far outputs are from it (slack), hinge and penalties."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from .. import options
from ..errors import OptionError, TargetError
from ..models.tasks import raw_from_value
from ..targets import contrast_sides, resolve_target
from ..types import LoadedModel, Prediction

GoalKind = Literal["other", "class", "label", "value", "beat"]

# Class and label slack is a logit gap. The first candidate must beat the runner-up (or the threshold) by this much,
# so that 8-bit rounding and the model's own resize rarely undo it; every failed round trip doubles the margin.
CLASS_MARGIN = 0.25
# Band slack is 1 - distance / tolerance (1 at the centre, 0 on the edge). The first candidate must sit in the inner
# 40% of every band; every failed round trip halves what is left of the band.
BAND_MARGIN = 0.6
# The hinge keeps pulling a little past the stopping margin so its gradient does not vanish right at the boundary.
HINGE_EXTRA = {"logit": 0.5, "band": 0.2}


@dataclass(frozen=True)
class Objective:
    """A goal resolved against one image: which outputs to move, in the head's raw units.

    Attributes:
        kind: "class" (make index the top class), "other" (make anything but index the top class), "on" / "off"
            (push label index over / under its threshold), "band" (bring every (index, centre, tolerance) of bands
            within its tolerance; the first band is the target, the rest are held outputs), "beat" (raise the logit
            of index above that of rival: "A vs B").
        index: the class or label; for "other" the class to leave.
        rival: "beat": the class or label to overtake.
        threshold: "on" / "off": the label's decision threshold as a logit.
        bands: "band": (output index, raw centre, raw tolerance) per constraint.
    """

    kind: str
    index: int = 0
    threshold: float = 0.0
    bands: tuple[tuple[int, float, float], ...] = ()
    rival: int = 0

    @property
    def unit(self) -> str:
        """What the margin is measured in: "band" (share of a band) or "logit"."""
        return "band" if self.kind == "band" else "logit"

    @property
    def first_margin(self) -> float:
        """The margin the first attempt asks for past the goal."""
        return BAND_MARGIN if self.kind == "band" else CLASS_MARGIN

    def bumped(self, margin: torch.Tensor) -> torch.Tensor:
        """A larger stopping margin after a candidate failed the round trip through the rendered picture."""
        if self.kind == "band":
            return (1.0 + margin) / 2.0
        return margin * 2.0

    def slack(self, outputs: torch.Tensor) -> torch.Tensor:
        """(N, K) raw outputs -> (N,) how far past the goal each row is: > 0 met (>= 0 for "on" and bands)."""
        if self.kind in ("class", "other"):
            own = outputs[:, self.index]
            rest = outputs.clone()
            rest[:, self.index] = -math.inf
            gap = own - rest.max(dim=1).values
            return gap if self.kind == "class" else -gap
        if self.kind == "on":
            return outputs[:, self.index] - self.threshold
        if self.kind == "off":
            return self.threshold - outputs[:, self.index]
        if self.kind == "beat":
            return outputs[:, self.index] - outputs[:, self.rival]
        return torch.stack([1.0 - (outputs[:, i] - c).abs() / t for i, c, t in self.bands], dim=1).min(dim=1).values

    def met(self, outputs: torch.Tensor, margin: torch.Tensor | float = 0.0) -> torch.Tensor:
        """(N,) whether each row meets the goal with at least `margin` to spare (decide's own rule at margin 0)."""
        slack = self.slack(outputs)
        if self.kind in ("class", "other", "off", "beat"):
            return slack > margin
        return slack >= margin

    def hinge(self, outputs: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
        """(N,) hinge loss: zero once a row is past its margin (plus a little), linear in the shortfall before."""
        extra = HINGE_EXTRA[self.unit]
        if self.kind != "band":
            return torch.relu(margin + extra - self.slack(outputs))
        # Every band pulls on its own, so a held output that drifts is pushed back while the target still moves.
        terms = [
            torch.relu((outputs[:, i] - c).abs() / t - (1.0 - margin - extra).clamp(min=0.0)) for i, c, t in self.bands
        ]
        return torch.stack(terms, dim=1).sum(dim=1)

    def pull(self, outputs: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
        """(N,) the loss the sparsity phase descends.

        -slack for classes and labels: it pulls even past the goal, so the cells that matter grow while the threshold
        prunes the rest. The hinge for bands: each band pulls only when its output drifts toward its edge, so the
        target is not dragged to its centre.
        """
        return self.hinge(outputs, margin) if self.kind == "band" else -self.slack(outputs)


def penalties(delta: torch.Tensor, *, l2: float, l1: float, tv: float) -> torch.Tensor:
    """(N, 3, h, w) change -> (N,) l2 * ||d||^2 + l1 * |d|_1 + tv * TV(d), sums over pixels and channels."""
    total = l2 * delta.pow(2).flatten(1).sum(1) + l1 * delta.abs().flatten(1).sum(1)
    if tv > 0:
        total = total + tv * total_variation(delta, smooth=True)
    return total


def total_variation(delta: torch.Tensor, *, smooth: bool = False) -> torch.Tensor:
    """(N, 3, h, w) -> (N,) isotropic total variation sum_pixels sqrt(dx^2 + dy^2), summed over channels.

    With smooth=True a small epsilon (a tenth of one 8-bit level) keeps the gradient finite where the change is flat.
    """
    dx = torch.nn.functional.pad(delta[..., :, 1:] - delta[..., :, :-1], (0, 1))
    dy = torch.nn.functional.pad(delta[..., 1:, :] - delta[..., :-1, :], (0, 0, 0, 1))
    eps = (0.1 / 255) ** 2 if smooth else 0.0
    norm = (dx.pow(2) + dy.pow(2) + eps).sqrt()
    if smooth:
        norm = norm - math.sqrt(eps)
    return norm.flatten(1).sum(1)


_OTHER_WORDS = ("", "other", "any", "any other", "any other class", "another class", "anything else", "something else")
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_PM = r"(?:±|\+/-|\+-|within\s*(?:±|\+/-|\+-)?)"
_UNIT = r"[^\d\s,;=±+-][^\s,;=±]*"
_TARGET_RE = re.compile(
    rf"^(?P<name>.+?)\s*(?:=|:|\bto\b)\s*(?P<value>{_NUM})\s*(?P<u1>{_UNIT})?\s*"
    rf"(?:{_PM}\s*(?P<tol>{_NUM})\s*(?P<u2>{_UNIT})?)?$",
    re.IGNORECASE,
)
_HOLD_RE = re.compile(
    rf"^(?:hold|keep)?\s*(?P<name>.+?)\s*{_PM}\s*(?P<tol>{_NUM})\s*(?P<unit>{_UNIT})?$", re.IGNORECASE
)
_LABEL_RE = re.compile(
    r"^(?:switch|turn|set)?\s*(?P<name>.+?)\s*(?:[:=]\s*|\s+)(?P<state>on|off|yes|no|true|false)$", re.IGNORECASE
)


@dataclass(frozen=True)
class Goal:
    """Where the prediction should go.

    Attributes:
        kind: "other" (any class but the predicted one), "class" (that class on top), "label" (a multi-label label
            switched on or off), "value" (a regression output brought to a value) or "beat" (a class or label whose
            logit should overtake another's: "A vs B").
        name: the class, label or output as the model names it.
        rival: beat: the class or label to overtake.
        on: label: True switches it on, False off, None flips whatever the image shows.
        value: value: the target in the output's user units (z-scored heads are de-normalised first).
        tolerance: value: the accepted band around the target, in user units; None is 5% of the requested change.
        hold: value: (output name, tolerance) pairs: outputs that must stay within tolerance of their current value.
    """

    kind: GoalKind
    name: str = ""
    on: bool | None = None
    value: float | None = None
    tolerance: float | None = None
    hold: tuple[tuple[str, float], ...] = ()
    rival: str = ""


def parse_goal(model: LoadedModel, text: str) -> Goal:
    """Read what the user typed into a Goal for this model.

    Accepted forms: multiclass "any other class" (or "" / "other") and a class name ("espresso", "class espresso");
    multi-label "cat on", "cat off", "+cat", "-cat" or "cat" (flip); regression "calories = 350", "calories = 350 ± 10
    kcal", then optional held outputs "; protein ± 5 g, hold fat within 2" ("±", "+-", "+/-" and "within" all work).
    Classes and labels also take "A vs B": the logit of A should overtake that of B (the counterfactual of "why A
    rather than B"; for multi-label models the thresholds play no part).

    Raises:
        TargetError: the text names no class, label or output of this model, or cannot be read.
        OptionError: a tolerance is not a positive number, or a unit differs from the output's.
    """
    if not isinstance(text, str):
        raise TargetError(f"the goal must be text such as 'any other class', got {type(text).__name__}")
    task, spec = model.task, " ".join(text.split())
    if contrast_sides(spec) and spec.lower() not in (n.lower() for n in task.names):
        return _beat(model, spec)
    if task.kind == "multiclass":
        if spec.lower() in _OTHER_WORDS:
            return Goal("other")
        if spec.lower().startswith("class ") and spec not in task.names:
            spec = spec[6:].strip()
        return Goal("class", _named(model, spec))
    if task.kind == "multilabel":
        on: bool | None = None
        if spec[:1] in "+-" and spec[1:].strip():
            spec, on = spec[1:].strip(), spec[0] == "+"
        elif (match := _LABEL_RE.match(spec)) and spec.lower() not in (n.lower() for n in task.names):
            spec, on = match["name"], match["state"].lower() in ("on", "yes", "true")
        return Goal("label", _named(model, spec), on=on)
    clauses = [c.strip() for c in re.split(r"[;,]|\band\b", spec) if c.strip()]
    match = _TARGET_RE.match(clauses[0]) if clauses else None
    if match is None:
        raise TargetError(
            f"could not read a target value from {text!r}; write it as "
            f"'{task.names[0]} = <value>', optionally '± <tolerance>'"
        )
    name = _named(model, match["name"])
    for unit in (match["u1"], match["u2"]):
        _check_unit(model, name, unit)
    tolerance = _tolerance(match["tol"], name) if match["tol"] else None
    hold: list[tuple[str, float]] = []
    for clause in clauses[1:]:
        held = _HOLD_RE.match(clause)
        if held is None:
            raise TargetError(f"could not read {clause!r} as a held output; write it as 'hold <output> ± <tolerance>'")
        held_name = _named(model, held["name"])
        _check_unit(model, held_name, held["unit"])
        hold.append((held_name, _tolerance(held["tol"], held_name)))
    return Goal("value", name, value=float(match["value"]), tolerance=tolerance, hold=tuple(hold))


def _beat(model: LoadedModel, spec: str) -> Goal:
    if model.task.kind == "regression":
        raise TargetError(
            f"{spec!r}: a regression goal is a value ('{model.task.names[0]} = <value>'); 'A vs B' goals are for "
            "classes and labels"
        )
    sides = contrast_sides(spec)
    if len(sides) != 2 or not all(sides):
        raise TargetError(f"an 'A vs B' goal names two outputs, got {spec!r}")
    name, rival = _named(model, sides[0]), _named(model, sides[1])
    if name == rival:
        raise TargetError(f"{spec!r} asks {name} to overtake itself; name two different outputs")
    return Goal("beat", name, rival=rival)


def other_classes(prediction: Prediction, k: int = 5) -> list[Goal]:
    """One "class" goal for each of the prediction's top-k classes but the first: explain_many's usual batch.

    Raises:
        TargetError: the prediction is not a multiclass one.
        OptionError: k is not a whole number from 2 to 1000.
    """
    if prediction.task != "multiclass":
        raise TargetError(
            f"other_classes needs a multiclass prediction, got a {prediction.task} one; name goals instead"
        )
    k = options.whole(k, "k", low=2, high=1000)
    order = np.argsort(-np.asarray(prediction.scores), kind="stable")[:k]
    return [Goal("class", prediction.names[int(i)]) for i in order[1:]]


def _named(model: LoadedModel, text: str) -> str:
    """The output a name (or index) refers to; unlike resolve_target, no default stands in for an empty name."""
    if text.strip().lower() in ("", "top-1", "top1", "auto"):
        what = {"regression": "an output", "multilabel": "a label"}.get(model.task.kind, "a class")
        raise TargetError(f"name {what} to aim for, e.g. {', '.join(model.task.names[:3])}; got {text!r}")
    if text.strip().isdigit() and not text.strip().isdecimal():  # "²" passes isdigit() but int() refuses it
        raise TargetError(f"{text.strip()!r} is not an index; give a name or the digits 0-9")
    return resolve_target(model, text).name


def _check_unit(model: LoadedModel, name: str, unit: str | None) -> None:
    expected = (model.task.units or ("",) * model.task.num_outputs)[model.task.names.index(name)]
    if unit and unit.lower() != expected.lower():
        scale = expected or "the output's own scale"
        raise OptionError(f"{name} is measured in {expected or 'no unit'}, got {unit!r}; give the number in {scale}")


def _tolerance(text: str, name: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise OptionError(f"the tolerance for {name} must be a positive number, got {text}")
    return value


def resolve(model: LoadedModel, goal: Goal, before: Prediction) -> tuple[Objective, str]:
    """The goal against this image: the objective in raw units and the request in words."""
    task = model.task
    kinds = {"multiclass": ("other", "class", "beat"), "multilabel": ("label", "beat"), "regression": ("value",)}
    fits = kinds[task.kind]
    if not isinstance(goal, Goal) or goal.kind not in fits:
        found = goal.kind if isinstance(goal, Goal) else type(goal).__name__
        raise TargetError(
            f"a {task.kind} model takes a goal of kind {' or '.join(fits)}, got {found!r}; "
            "parse_goal(model, text) builds the right one"
        )
    if goal.kind == "other":
        index = int(np.argmax(before.outputs))
        return Objective("other", index), f"any class other than {task.names[index]}"
    index = task.names.index(_named(model, goal.name))
    name = task.names[index]
    if goal.kind == "beat":
        rival = task.names.index(_named(model, goal.rival))
        return Objective("beat", index, rival=rival), f"{name} rather than {task.names[rival]}"
    if goal.kind == "class":
        return Objective("class", index), f"class {name}"
    if goal.kind == "label":
        threshold = (task.thresholds or (0.5,) * task.num_outputs)[index]
        on = goal.on if goal.on is not None else not before.scores[index] >= threshold
        kind = "on" if on else "off"
        return Objective(kind, index, threshold=math.log(threshold / (1 - threshold))), f"label {name} {kind}"
    units = task.units or ("",) * task.num_outputs
    if goal.value is None or not math.isfinite(goal.value):
        raise TargetError(f"a value goal needs a finite target value for {name}, got {goal.value!r}")
    current = float(before.scores[index])
    tolerance = goal.tolerance if goal.tolerance is not None else 0.05 * abs(goal.value - current)
    if tolerance == 0:
        raise TargetError(f"the model already predicts {name} = {current:g} {units[index]}; ask for another value")
    bands = [_band(model, index, raw_from_value(task, index, goal.value), tolerance)]
    words = [f"{name} = {goal.value:g} ± {tolerance:.3g} {units[index]}".rstrip()]
    for held_name, held_tolerance in goal.hold:
        held = task.names.index(_named(model, held_name))
        if held == index or held in [i for i, _, _ in bands]:
            raise TargetError(f"{task.names[held]} is named twice; hold each other output once, never the target")
        bands.append(_band(model, held, float(before.outputs[held]), held_tolerance))
        words.append(f"hold {task.names[held]} ± {held_tolerance:g} {units[held]}".rstrip())
    return Objective("band", index, bands=tuple(bands)), ", ".join(words)


def _band(model: LoadedModel, index: int, centre: float, tolerance: float) -> tuple[int, float, float]:
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, (int, float))
        or not (math.isfinite(tolerance) and tolerance > 0)
    ):
        raise OptionError(f"the tolerance for {model.task.names[index]} must be a positive number, got {tolerance!r}")
    std = model.task.target_std[index] if model.task.target_std is not None else 1.0
    return index, centre, tolerance / std


def failure(
    model: LoadedModel,
    objective: Objective,
    request: str,
    before: Prediction,
    after: Prediction,
    steps: int,
    renders: int,
    *,
    masked: bool,
) -> str:
    """Why the closest attempt is not valid, how close it got, and what to try."""
    task = model.task
    tips = (
        "more steps (max_steps), weaker penalties (l2, l1, tv)"
        + (", a wider mask" if masked else "")
        + (", a nearer value or looser tolerances" if objective.kind == "band" else ", a nearer goal")
    )
    how = f"no edit reached {request!r} in {steps} steps"
    if renders > 1:
        how += " that survived rounding to 8 bits and the model's own resize"
    if objective.kind in ("class", "other"):
        gap = -float(objective.slack(torch.as_tensor(after.outputs)[None])[0])
        return f"{how}; the closest attempt still reads as {after.decision} ({gap:.2f} logits short); try {tips}"
    if objective.kind == "beat":
        gap = -float(objective.slack(torch.as_tensor(after.outputs)[None])[0])
        a, b = task.names[objective.index], task.names[objective.rival]
        return f"{how}; the closest attempt still has {a} {gap:.2f} logits below {b}; try {tips}"
    if objective.kind in ("on", "off"):
        i = objective.index
        return (
            f"{how}; the closest attempt has {task.names[i]} at p = {after.scores[i]:.2f} (threshold "
            f"{(task.thresholds or (0.5,) * task.num_outputs)[i]:.2f}, it started at {before.scores[i]:.2f}); "
            f"try {tips}"
        )
    units = task.units or ("",) * task.num_outputs
    parts = [
        f"{task.names[i]} {before.scores[i]:.4g} -> {after.scores[i]:.4g} {units[i]}".rstrip()
        for i, _, _ in objective.bands
    ]
    return f"{how}; the closest attempt moved {'; '.join(parts)}; try {tips}"
