"""What to explain: a class, label or regression output (+ direction), or the difference of two ("A vs B"), resolved
once for every method.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

from .errors import TargetError
from .models.tasks import decide
from .types import LoadedModel, Prediction, Target

Direction = Literal["raises", "lowers"]
# "espresso vs cup", "espresso vs. cup", "3 VS 5": the words around one " vs " name the two outputs.
_VS = re.compile(r"\s+vs\.?\s+", re.IGNORECASE)


def resolve_target(
    model: LoadedModel,
    spec: str | int | Target | None = None,
    *,
    direction: Direction | str = "raises",
    prediction: Prediction | None = None,
) -> Target:
    """Turn what a user asked for into a Target.

    Args:
        model: the model whose task names the outputs.
        spec: a name exactly as predict shows it, an index (int or digit string), None / "" for the top-1
            (multiclass, multilabel) or the first output (regression), or "A vs B" (each side any of these but
            empty) for why A rather than B: output A minus output B.
        direction: "raises" explains what pushes the output up, "lowers" what pushes it down.
        prediction: the image's prediction; needed for the top-1 default of classifiers.

    Raises:
        TargetError: unknown name, index out of range, a bad direction, or an "A vs B" whose sides are empty, the
            same output, or more than two.
    """
    if isinstance(spec, Target):
        return spec
    if direction not in ("raises", "lowers"):
        raise TargetError(f"direction must be 'raises' or 'lowers', got {direction!r}")
    if isinstance(spec, str) and contrast_sides(spec) and not _named_exactly(model, spec):
        return _contrast(model, spec, direction, prediction)
    sign: Literal[1, -1] = 1 if direction == "raises" else -1
    task = model.task
    names = task.names
    if spec is None or (isinstance(spec, str) and spec.strip() in ("", "top-1", "top1", "auto")):
        index = 0 if task.kind == "regression" or prediction is None else int(prediction.scores.argmax())
        return Target(index, names[index], task.kind, sign)
    if isinstance(spec, bool):
        raise TargetError(f"target must be a name or an index, got {spec!r}")
    if isinstance(spec, int) or (
        isinstance(spec, str) and spec.strip().isascii() and spec.strip().isdecimal() and spec.strip() not in names
    ):
        index = int(spec)
        if not 0 <= index < len(names):
            raise TargetError(
                f"target index {index} is out of range: this model has {len(names)} outputs (0..{len(names) - 1})"
            )
        return Target(index, names[index], task.kind, sign)
    text = str(spec).strip()
    if text in names:
        return Target(names.index(text), text, task.kind, sign)
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        index = lowered.index(text.lower())
        return Target(index, names[index], task.kind, sign)
    close = suggestions(names, text)
    hint = f"; did you mean: {', '.join(close)}?" if close else f"; e.g. {', '.join(names[:3])}"
    what = {"regression": "output", "multilabel": "label"}.get(task.kind, "class")
    raise TargetError(f"this model has no {what} named {text!r}{hint}")


def ranked_choices(names: Sequence[str], scores: Sequence[float] | None = None, *, top: int = 5) -> list[str]:
    """Names in the order a type-to-filter list should offer them: the ``top`` highest scores first, then the rest
    shortest first.

    A filter that keeps the names containing the typed text and takes the first one then picks the exact name when
    there is one (no longer name contains it and is as short): "cup" picks "cup", not "porcupine", "espresso" picks
    "espresso", not "espresso maker" (unless that is among the top scores; the UI then picks the exact name itself).
    """
    order = sorted(range(len(names)), key=lambda i: -float(scores[i]))[:top] if scores is not None else []
    rest = sorted((i for i in range(len(names)) if i not in set(order)), key=lambda i: (len(names[i]), names[i]))
    return [names[i] for i in [*order, *rest]]


def exact_name(names: Sequence[str], text: str | None) -> str | None:
    """The name ``text`` spells exactly, ignoring case and surrounding spaces; None when it names none."""
    wanted = (text or "").strip().lower()
    return next((n for n in names if n.lower() == wanted), None) if wanted else None


def suggestions(names: Sequence[str], text: str, *, limit: int = 5) -> list[str]:
    """Names close to ``text``: those containing it (shortest first), then near spellings ("espreso" -> espresso)."""
    wanted = text.strip().lower()
    if not wanted:
        return []
    lowered = {n.lower(): n for n in names}
    containing = sorted((n for n in names if wanted in n.lower()), key=lambda n: (len(n), n))
    spelled = [lowered[n] for n in difflib.get_close_matches(wanted, list(lowered), n=limit, cutoff=0.7)]
    return list(dict.fromkeys([*containing, *spelled]))[:limit]


def contrast_sides(text: str) -> list[str]:
    """The sides of "A vs B" as typed (stripped; empty where a side is missing), or [] when the text has no "vs"."""
    sides = _VS.split(f" {text} ")
    return [s.strip() for s in sides] if len(sides) > 1 else []


def _named_exactly(model: LoadedModel, spec: str) -> bool:
    """A name that itself contains " vs " is that output, not a contrast."""
    return spec.strip().lower() in (n.lower() for n in model.task.names)


def _contrast(model: LoadedModel, spec: str, direction: str, prediction: Prediction | None) -> Target:
    sides = contrast_sides(spec)
    if len(sides) != 2 or not all(sides):
        raise TargetError(
            f"a contrastive target is 'A vs B' with one output on each side, got {spec!r}; e.g. "
            f"'{' vs '.join(model.task.names[:2])}' (indices work too: '0 vs 1')"
        )
    first = resolve_target(model, sides[0], direction=direction, prediction=prediction)
    rival = resolve_target(model, sides[1], prediction=prediction)
    if rival.index == first.index:
        raise TargetError(
            f"{spec!r} contrasts {first.name} with itself, which is zero everywhere; name two different outputs"
        )
    return dataclasses.replace(first, contrast=rival.index, contrast_name=rival.name)


def target_outputs(model: LoadedModel, outputs: torch.Tensor, targets: Sequence[Target] | Target) -> torch.Tensor:
    """Signed raw outputs (N, K) for the targets: the quantity every method attributes (A - B for "A vs B")."""
    if isinstance(targets, Target):
        targets = [targets]
    index = torch.tensor([t.index for t in targets], device=outputs.device)
    sign = torch.tensor([float(t.sign) for t in targets], device=outputs.device, dtype=outputs.dtype)
    selected = outputs.index_select(1, index)
    if any(t.contrast is not None for t in targets):
        rival = torch.tensor([t.index if t.contrast is None else t.contrast for t in targets], device=outputs.device)
        used = torch.tensor([float(t.contrast is not None) for t in targets], device=outputs.device)
        selected = selected - outputs.index_select(1, rival) * used.to(outputs.dtype)
    return selected * sign


def raw_score(target: Target, row: Any) -> float:
    """The target's raw quantity in one row of outputs (K,), before its sign: output A, or A - B."""
    value = float(row[target.index])
    return value if target.contrast is None else value - float(row[target.contrast])


def forward_fn(model: LoadedModel, target: Target) -> Callable[[torch.Tensor], torch.Tensor]:
    """Images (N, 3, h, w) -> signed target output (N,); hand it to captum with target=None."""

    def fn(images: torch.Tensor) -> torch.Tensor:
        return target_outputs(model, model.model(images), target)[:, 0]

    return fn


def ensure_target(model: LoadedModel, target: Target | None, outputs: torch.Tensor) -> Target:
    """The given target, or the default one (top-1 / first output) read from the image's raw outputs (1, K)."""
    if target is not None:
        n = model.task.num_outputs
        for index in (target.index, target.contrast):
            if index is not None and not 0 <= index < n:
                raise TargetError(f"target index {index} is out of range for {n} outputs")
        return target
    return resolve_target(model, None, prediction=decide(model.task, outputs[0].detach().float().cpu().numpy()))
