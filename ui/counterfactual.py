"""The counterfactual tab (/counterfactual): the smallest, smoothest edit that moves the prediction to a goal."""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from explainers import counterfactual as cf_defaults
from explainers import render
from explainers.counterfactual import headline
from explainers.options import parse_number

from . import gpu, outputs
from .common import STOPPED, endpoint, model, plain, require_image, user_errors
from .components import Inputs, blank, picture_output, show_results
from .jobs import progress_for

SHRINK_STEPS = 20  # see on_counterfactual
# 'Where it changed' at 0.5 keeps the pixels holding half the edit: 1.8% of the coffee photo's view for the default
# search, where the old threshold (0.6 of the largest pixel's change) kept 0.08%, nearly nothing.
THRESHOLD = 0.5


@endpoint(
    "counterfactual",
    returns=(
        "counterfactual: the edited photo, PNG",
        "change: the edit in the model's view, float32 .npy (height x width x 3)",
        "result: JSON with the request, whether it is valid, why not, metrics (L2, L1, TV, steps), model and image",
        "original: the photo as the model sees it",
        "change_overlay: where and how much the photo changed",
        "masked: the photo where the change is above the threshold",
        "state: internal state for re-masking (ignore)",
    ),
)
def on_counterfactual(
    image: Any,
    model_id: str,
    revision: str,
    goal: str,
    l2: float,
    l1: float,
    tv: float,
    max_steps: float,
    mask_threshold: float,
    seed: float,
    threshold: float,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Counterfactual: the smallest, smoothest change to the photo that moves the prediction to the goal.

    Args:
        goal: 'any other class', a class name, 'cat on' / 'cat off' (multi-label), 'calories = 350' (regression).
        l2: weight of staying close to the photo (L2 of the change).
        l1: weight of changing few pixels (L1).
        tv: weight of a smooth change (total variation).
        max_steps: optimisation steps at most (10 to 1000).
        mask_threshold: confine the edit to where Grad-CAM is at least this share of its maximum (0 = anywhere).
        seed: random seed of the search.
        threshold: the 'masked' picture's threshold, relative to the edit's own size: the share of its total change
            left out (0 to 1); it keeps the most-changed pixels that hold the rest, so even an imperceptible edit
            shows where it is (0 = the whole photo).
    """
    loaded = model(model_id, revision)
    options = {
        "l2": parse_number(l2, "l2"),
        "l1": parse_number(l1, "l1"),
        "tv": parse_number(tv, "tv"),
        "max_steps": parse_number(max_steps, "max_steps", integer=True),
        "seed": parse_number(seed, "seed", integer=True),
        # A fixed number of shrinking steps, not a wall-clock budget: the same request gives the same edit on a busy
        # server (a receipt-like promise), ~2 s on one CPU thread (coffee: L1 148 -> 30 in 20 steps).
        "shrink_steps": SHRINK_STEPS,
        "budget": None,
    }
    mask_threshold = parse_number(mask_threshold, "mask threshold")
    view, result = gpu.counterfactual(
        model_id, revision, require_image(image), options, goal, float(mask_threshold), progress_for(progress)
    )
    if not result.valid:
        gr.Warning(result.message)
    cf_path = outputs.save_png(result.rgb, "counterfactual")
    summary = {
        "headline": headline(result),
        "request": result.request,
        "valid": result.valid,
        "message": result.message,
        "metrics": result.metrics,
        "options": {**options, "mask_threshold": float(mask_threshold)},
        "model_id": loaded.model_id,
        "revision": loaded.revision,
        "weights_sha256": loaded.weights_sha256,
        "image_sha256": view.sha256,
    }
    state = {
        "rgb": view.rgb,
        "delta": result.delta,
        "crop_box": view.crop_box,
        "edited": result.rgb,
        "headline": summary["headline"],
    }
    return (
        cf_path,
        outputs.save_npy(result.delta, "change"),
        plain(summary),
        view.rgb,
        render.change_overlay(view.rgb, result.delta, view.crop_box),
        _masked(state, threshold),
        state,
    )


def _masked(state: dict[str, Any] | None, threshold: float) -> np.ndarray | None:
    if not state:
        return None
    return render.masked_by_change(
        state["rgb"], state["delta"], state["crop_box"], parse_number(threshold, "threshold")
    )


def on_show(state: dict[str, Any] | None) -> tuple[str, Any]:
    """The headline ("espresso 96% -> cup 41%") in large type, and the before/after slider at the upload's size."""
    if not state:
        return "", None
    return f"## {state['headline']}", (state["rgb"], state["edited"])


@user_errors
def on_change_threshold(state: dict[str, Any] | None, threshold: float) -> np.ndarray | None:
    """Re-mask the original at a new change threshold without recomputing the counterfactual."""
    return _masked(state, threshold)


def build(inputs: Inputs) -> None:
    """The counterfactual tab: goal and search options, the four pictures, and a threshold that re-masks at once."""
    with gr.Tab("Counterfactual"):
        goal = gr.Textbox(
            value="any other class",
            label="Goal",
            info="'any other class', a class name, "
            "'cat on' / 'cat off' (multi-label), 'calories = 350; protein ± 5 g' (regression)",
        )
        with gr.Accordion("Options", open=False), gr.Row():
            l2 = gr.Number(value=cf_defaults.L2, label="L2 (stay close)")
            l1 = gr.Number(value=cf_defaults.L1, label="L1 (change few pixels)")
            tv = gr.Number(value=cf_defaults.TV, label="Total variation (smooth)")
            steps = gr.Slider(10, 1000, value=cf_defaults.MAX_STEPS, step=10, label="Max steps")
            mask = gr.Slider(0, 0.95, value=0, step=0.05, label="Confine to Grad-CAM above (0 = off)")
            seed = gr.Number(value=0, precision=0, label="Seed")
        with gr.Row(equal_height=True):
            run_button = gr.Button("Find a counterfactual", variant="primary", scale=4)
            stop_button = gr.Button("Stop", variant="stop", scale=1, min_width=80)
        headline_text = gr.Markdown()
        slider = gr.ImageSlider(label="Before / after (drag)", type="numpy", format="png", interactive=False)
        with gr.Row():
            original = picture_output("Original")
            change = picture_output("Change")
        with gr.Row():
            edited = picture_output("Counterfactual", type="filepath")
            masked = picture_output("Where it changed")
        threshold = gr.Slider(
            0,
            1,
            value=THRESHOLD,
            step=0.05,
            label="Change threshold",
            info="share of the edit's total change left out of 'Where it changed' (0.5: where half of it is)",
        )
        npy = gr.File(label="Change (.npy, float32, model input size x 3)")
        summary = gr.JSON(label="Result")
        state = gr.State()
    run = run_button.click(
        on_counterfactual,
        [*inputs.upload, goal, l2, l1, tv, steps, mask, seed, threshold],
        [edited, npy, summary, original, change, masked, state],
        api_name="counterfactual",
        **gpu.queue(),
    )
    shown = [headline_text, slider, edited, npy, summary, original, change, masked]
    show_results(inputs, run, shown)
    # The search checks for a cancel at each progress report (jobs.progress_for), so Stop ends it within a step.
    stop_button.click(lambda: blank(shown, STOPPED), None, shown, cancels=[run], api_visibility="private", queue=False)
    run.success(on_show, [state], [headline_text, slider], api_visibility="private", queue=False)
    threshold.change(on_change_threshold, [state, threshold], masked, api_visibility="private", queue=False)
