"""One request end to end: model source + upload -> prepared image -> prediction or explanation, timed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .errors import OptionError
from .loading import load_model, parse_source
from .predict import predict
from .preprocess import prepare_image
from .targets import resolve_target
from .types import Explanation, LoadedModel, ModelSource, Prediction, PreparedImage

Progress = Callable[[float, str], None]


def resolve_source(model_id: str | None, revision: str | None, default: ModelSource) -> ModelSource:
    """What the public UI/API may name: the app's startup model ("default" / blank) or a Hub repo, never a path."""
    source = parse_source(model_id, revision, allow_local=False)
    return default if source.kind == "default" else source


def prepare(loaded: LoadedModel, image: Any) -> tuple[PreparedImage, Prediction]:
    """Decode and preprocess an upload, then predict on it (one forward; every method reuses it)."""
    prepared = prepare_image(loaded, image)
    return prepared, predict(loaded, prepared)


def explain(
    loaded: LoadedModel,
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
    from . import EXPLAINERS

    if method not in EXPLAINERS:
        raise OptionError(f"unknown method {method!r}; choose one of {', '.join(sorted(EXPLAINERS))}")
    resolved = resolve_target(loaded, target, direction=direction, prediction=prediction)
    start = time.perf_counter()
    try:
        result = EXPLAINERS[method](loaded, prepared.image, target=resolved, progress=progress, **(options or {}))
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise OptionError(f"{method} does not take option(s) {sorted(options or {})}: {exc}") from exc
        raise
    timings = {**result.timings, "total": result.timings.get("total", time.perf_counter() - start)}
    return result.with_updates(timings=timings)


__all__ = ["explain", "load_model", "prepare", "resolve_source"]
