"""The integrated gradients tab (Sundararajan et al., 2017; SmoothGrad, Smilkov et al., 2017): /integrated_gradients."""

from __future__ import annotations

from typing import Any

import gradio as gr

from explainers import registry
from explainers.options import parse_number

from . import explanation
from .common import user_errors
from .components import Inputs

METHOD = "integrated_gradients"
BASELINES = ["blur", "black", "noise"]


@user_errors
def on_integrated_gradients(
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    n_steps: float,
    baselines: str,
    smooth_samples: float,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Integrated gradients from a baseline, with the completeness delta reported."""
    options = {
        "n_steps": parse_number(n_steps, "n_steps", integer=True),
        "baselines": baselines,
        "smooth_samples": parse_number(smooth_samples, "smooth_samples", integer=True),
    }
    return explanation.run(METHOD, image, model_id, revision, target, direction, options, progress)


def build(inputs: Inputs) -> None:
    """The integrated gradients tab: steps, baseline and SmoothGrad samples, then the explanation panel."""
    defaults = registry.METHODS[METHOD].defaults
    with gr.Tab(registry.label(METHOD)):
        with gr.Row():
            n_steps = gr.Slider(4, 256, value=defaults["n_steps"], step=4, label="n_steps")
            baseline = gr.Radio(
                BASELINES,
                value=defaults["baselines"],
                label="Baseline",
                info="blur converges fastest (completeness delta)",
            )
            smooth = gr.Slider(0, 16, value=defaults["smooth_samples"], step=1, label="SmoothGrad samples (0 = off)")
        controls = [n_steps, baseline, smooth]
        explanation.wire(
            inputs, on_integrated_gradients, controls, method=METHOD, button="Explain with integrated gradients"
        )
