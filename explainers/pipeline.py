"""One request end to end: model source + upload -> prepared image -> prediction or explanation, timed."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import counterfactual as cf
from . import options as opts
from . import registry
from .errors import OptionError
from .targets import resolve_target
from .trust import receipt
from .trust.scorecard import Scorecard, scorecards
from .types import Counterfactual, Explanation, LoadedModel, Prediction, PreparedImage, Progress

MASK_METHOD = "gradcam"  # until the faithfulness benchmark picks the best map per model
QUALITY_STEPS = 8  # deletion/insertion steps per scorecard in the app: half the library default, about half the cost


def explain(
    model: LoadedModel,
    prepared: PreparedImage,
    prediction: Prediction,
    method: str,
    *,
    target: str | int | None = None,
    direction: str = "raises",
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Explanation:
    """Run one attribution method from the registry for a target named the way users name it.

    Raises:
        OptionError: unknown method or options the method does not take.
        TargetError: unknown target.
    """
    explain_fn = registry.get(method).explain
    resolved = resolve_target(model, target, direction=direction, prediction=prediction)
    start = time.perf_counter()
    try:
        result = explain_fn(model, prepared.image, target=resolved, progress=progress, **(options or {}))
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise OptionError(f"{method} does not take option(s) {sorted(options or {})}: {exc}") from exc
        raise
    timings = {**result.timings, "total": result.timings.get("total", time.perf_counter() - start)}
    return result.with_updates(timings=timings)


def counterfactual(
    model: LoadedModel,
    prepared: PreparedImage,
    prediction: Prediction,
    goal: str,
    *,
    options: dict[str, Any] | None = None,
    mask_threshold: float = 0.0,
    mask_method: str = MASK_METHOD,
    progress: Progress | None = None,
) -> Counterfactual:
    """A counterfactual for a goal typed by the user, optionally confined to where the model's evidence is.

    Args:
        options: counterfactual.explain's options (l2, l1, tv, max_steps, seed, shrink_steps, budget, cell, ...).
        mask_threshold: 0 = edit anywhere; otherwise edit only where the top-1 class's map from ``mask_method``
            (positive part, scaled to its maximum) is at least this high.
        mask_method: the registry method whose map the mask is cut from ("gradcam", "occlusion",
            "integrated_gradients"); the map runs with that method's defaults.

    Returns:
        The counterfactual; its metrics["mask"] records the method, the threshold and the share of the view left free.
    """
    threshold = opts.real(mask_threshold, "mask threshold", low=0, high=1, words="a number (0 = edit anywhere)")
    if threshold == 1:
        raise OptionError("mask threshold must be below 1 (1 would leave only the map's peak free), got 1")
    method = opts.choice(mask_method, "mask method", registry.names())
    mask = None
    if threshold > 0:
        target = resolve_target(model, None, prediction=prediction)
        heat = registry.get(method).explain(model, prepared.image, target=target, **registry.get(method).defaults)
        positive = np.clip(heat.heatmap, 0, None)
        if positive.max() <= 0:
            raise OptionError(
                f"{registry.label(method)} found no positive evidence to confine the edit to; set the mask threshold "
                "to 0 or choose another mask method"
            )
        mask = positive >= threshold * positive.max()
    result = cf.explain(model, prepared, goal=goal, mask=mask, progress=progress, **(options or {}))
    free = 1.0 if mask is None else float(mask.mean())
    record = {"method": method, "threshold": threshold, "free_share": free}
    return dataclasses.replace(result, metrics={**result.metrics, "mask": record})


@dataclass(frozen=True)
class Scored:
    """An explanation with its scorecard and its receipt (JSON-ready), as every tab and endpoint returns it."""

    explanation: Explanation
    scorecard: Scorecard
    receipt: dict[str, Any]


@dataclass(frozen=True)
class Step:
    """One update of a streamed request: the maps finished so far, then (in the last step) the scored results."""

    explanations: tuple[Explanation, ...]
    scored: tuple[Scored, ...] = ()


def explain_steps(
    model: LoadedModel,
    prepared: PreparedImage,
    prediction: Prediction,
    methods: Sequence[str],
    *,
    target: str | int | None = None,
    direction: str = "raises",
    options: Mapping[str, dict[str, Any]] | None = None,
    quality_steps: int = QUALITY_STEPS,
    progress: Progress | None = None,
) -> Iterator[Step]:
    """Run methods for one target, yielding after each map; then score all maps in one scorecards call (agreement
    included), build receipts and yield the last step, whose ``scored`` is set.

    Args:
        methods: registry entry keys (``registry.entries``: method names, or variant keys such as "hirescam"), in
            display order; duplicates are refused.
        options: per-entry options, e.g. {"occlusion": {"window": 32}}.
        quality_steps: deletion/insertion steps of the scorecard (fewer is faster, coarser).
    """
    if not methods:
        raise OptionError("choose at least one method to run")
    if len(set(methods)) != len(methods):
        raise OptionError(f"each method runs once; got {list(methods)}")
    explanations: list[Explanation] = []
    for i, key in enumerate(methods):
        part = _sub_progress(progress, i / (len(methods) + 1), 1 / (len(methods) + 1), key)
        method, fixed = registry.entry(key)
        explanations.append(
            explain(
                model,
                prepared,
                prediction,
                method,
                target=target,
                direction=direction,
                options={**fixed, **((options or {}).get(key) or {})},
                progress=part,
            )
        )
        yield Step(tuple(explanations))
    scoring = _sub_progress(progress, len(methods) / (len(methods) + 1), 1 / (len(methods) + 1), "scorecard")
    cards = scorecards(model, prepared.image, explanations, steps=quality_steps, progress=scoring)
    yield Step(
        tuple(explanations),
        tuple(
            Scored(
                e, c, receipt.build(model, prepared, e, c, {"scorecard": c.seconds}, prediction=prediction).to_dict()
            )
            for e, c in zip(explanations, cards, strict=True)
        ),
    )


def explain_scored(
    model: LoadedModel, prepared: PreparedImage, prediction: Prediction, methods: Sequence[str], **options: Any
) -> list[Scored]:
    """``explain_steps`` run to its end: every map scored, with its receipt; options as there."""
    *_, last = explain_steps(model, prepared, prediction, methods, **options)
    return list(last.scored)


def _sub_progress(progress: Progress | None, start: float, span: float, label: str) -> Progress | None:
    if progress is None:
        return None
    return lambda fraction, desc: progress(start + span * fraction, f"{label}: {desc}")
