"""The GPU work of every tab behind spaces.GPU, with durations estimated from the job, and their one queue group.

On ZeroGPU each call borrows a GPU for its estimated duration and returns only CPU data (results are pickled back);
off Spaces spaces.GPU returns the function unchanged. The model loads outside these functions, once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import spaces

import explainers as xai
from explainers import cost, pipeline
from explainers.models.predict import prepare
from explainers.trust import receipt

from .common import TOP1, View, model

# One GPU job at a time on ZeroGPU; raise it on a dedicated GPU with XAI_GPU_CONCURRENCY.
GPU_CONCURRENCY = int(os.environ.get("XAI_GPU_CONCURRENCY", "1"))
# Deletion/insertion steps of the scorecard shown with every map (fewer = faster; 16 is the library default).
QUALITY_STEPS = int(os.environ.get("XAI_QUALITY_STEPS", str(pipeline.QUALITY_STEPS)))


def queue() -> dict[str, Any]:
    """Event arguments that put a job in the one queue group of GPU jobs."""
    return {"concurrency_id": "gpu", "concurrency_limit": GPU_CONCURRENCY}


@spaces.GPU(duration=30)
def predict(model_id: str, revision: str, image: Any) -> xai.Prediction:
    """The model's prediction for an upload."""
    _, prediction = prepare(model(model_id, revision), image)
    return prediction


# spaces.GPU calls a duration function with the GPU function's own arguments: the job's size comes first in each.


def _explain_duration(model_id: str, revision: str, image: Any, options: dict[str, dict[str, Any]], *_: Any) -> int:
    """ZeroGPU duration estimate (seconds) for ``explain``'s maps at the model's own input size."""
    return cost.explain_seconds(options, model(model_id, revision).input_size)


@spaces.GPU(duration=_explain_duration)
def explain(
    model_id: str,
    revision: str,
    image: Any,
    options: dict[str, dict[str, Any]],
    target: str,
    direction: str,
    progress: Any = None,
) -> Iterator[tuple[View, pipeline.Step]]:
    """Runs where the GPU is: each map as it is done, then the scorecards and receipts (pipeline.explain_steps).

    A generator, so the tabs show a map before its scorecard; yields only CPU arrays (ZeroGPU pickles each step).

    Args:
        options: method name -> its options, for each method to run, in display order.
    """
    loaded = model(model_id, revision)
    prepared, prediction = prepare(loaded, image)
    view = View(prepared.rgb, prepared.crop_box, prepared.sha256)
    for step in pipeline.explain_steps(
        loaded,
        prepared,
        prediction,
        list(options),
        target=None if target in (None, "", TOP1) else target,
        direction=direction,
        options=options,
        quality_steps=QUALITY_STEPS,
        progress=progress,
    ):
        yield view, step


def _counterfactual_duration(model_id: str, revision: str, image: Any, options: dict[str, Any], *_: Any) -> int:
    """ZeroGPU duration estimate (seconds) for ``counterfactual``'s search."""
    return cost.counterfactual_seconds(options)


@spaces.GPU(duration=_counterfactual_duration)
def counterfactual(
    model_id: str,
    revision: str,
    image: Any,
    options: dict[str, Any],
    goal: str,
    mask_threshold: float,
    progress: Any = None,
) -> tuple[View, xai.Counterfactual]:
    """Runs where the GPU is: the counterfactual search (and its Grad-CAM mask, when one is asked for)."""
    loaded = model(model_id, revision)
    prepared, prediction = prepare(loaded, image)
    result = pipeline.counterfactual(
        loaded, prepared, prediction, goal, options=options, mask_threshold=mask_threshold, progress=progress
    )
    return View(prepared.rgb, prepared.crop_box, prepared.sha256), result


@spaces.GPU(duration=60)
def replay(receipt_data: dict[str, Any], image: Any) -> xai.Explanation:
    """Runs where the GPU is: the map a receipt describes, rerun on its model (the startup one for "default")."""
    return receipt.replay(receipt_data, image, loader=model)
