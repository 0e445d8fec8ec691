"""What to explain: a class, label or regression output (+ direction), resolved once for every method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from .errors import TargetError
from .models.tasks import decide
from .types import LoadedModel, Prediction, Target

Direction = Literal["raises", "lowers"]


def resolve_target(
    loaded: LoadedModel,
    spec: str | int | Target | None = None,
    *,
    direction: Direction | str = "raises",
    prediction: Prediction | None = None,
) -> Target:
    """Turn what a user asked for into a Target.

    Args:
        loaded: the model whose task names the outputs.
        spec: a name exactly as predict shows it, an index (int or digit string), or None / "" for the top-1
            (multiclass, multilabel) or the first output (regression).
        direction: "raises" explains what pushes the output up, "lowers" what pushes it down.
        prediction: the image's prediction; needed for the top-1 default of classifiers.

    Raises:
        TargetError: unknown name, index out of range, or a bad direction.
    """
    if isinstance(spec, Target):
        return spec
    if direction not in ("raises", "lowers"):
        raise TargetError(f"direction must be 'raises' or 'lowers', got {direction!r}")
    sign: Literal[1, -1] = 1 if direction == "raises" else -1
    task = loaded.task
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
    close = [n for n in names if text.lower() in n.lower()][:5]
    hint = f"; did you mean: {', '.join(close)}?" if close else f"; e.g. {', '.join(names[:3])}"
    what = {"regression": "output", "multilabel": "label"}.get(task.kind, "class")
    raise TargetError(f"this model has no {what} named {text!r}{hint}")


def target_outputs(loaded: LoadedModel, outputs: torch.Tensor, targets: list[Target] | Target) -> torch.Tensor:
    """Signed raw outputs (N, K) for the targets: the quantity every method attributes."""
    if isinstance(targets, Target):
        targets = [targets]
    index = torch.tensor([t.index for t in targets], device=outputs.device)
    sign = torch.tensor([float(t.sign) for t in targets], device=outputs.device, dtype=outputs.dtype)
    return outputs.index_select(1, index) * sign


def forward_fn(loaded: LoadedModel, target: Target) -> Callable[[torch.Tensor], torch.Tensor]:
    """Images (N, 3, h, w) -> signed target output (N,); hand it to captum with target=None."""

    def fn(images: torch.Tensor) -> torch.Tensor:
        return target_outputs(loaded, loaded.model(images), target)[:, 0]

    return fn


def ensure_target(loaded: LoadedModel, target: Target | None, outputs: torch.Tensor) -> Target:
    """The given target, or the default one (top-1 / first output) read from the image's raw outputs (1, K)."""
    if target is not None:
        if not 0 <= target.index < loaded.task.num_outputs:
            raise TargetError(f"target index {target.index} is out of range for {loaded.task.num_outputs} outputs")
        return target
    return resolve_target(loaded, None, prediction=decide(loaded.task, outputs[0].detach().float().cpu().numpy()))
