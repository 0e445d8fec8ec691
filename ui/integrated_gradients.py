"""The integrated gradients tab (Sundararajan et al., 2017; SmoothGrad, Smilkov et al., 2017): /integrated_gradients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

from explainers import registry
from explainers.methods import integrated_gradients as ig
from explainers.options import parse_number

from . import explanation
from .common import endpoint
from .components import Inputs

METHOD = "integrated_gradients"
# Distributions first (expected gradients; "blurs" won the faithfulness benchmark), then single-path baselines.
BASELINES = ["blurs", "expected", "blur", "black", "noise"]


@endpoint(METHOD, returns=explanation.RETURNS, about=explanation.STREAMS)
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
) -> Iterator[tuple[Any, ...]]:
    """Integrated gradients (Sundararajan et al., 2017) from a baseline, with the completeness delta reported.

    Args:
        n_steps: integration steps along the path from the baseline (4 to 1024; more is more faithful and slower;
            n_steps x smooth_samples at most 8192).
        baselines: where the paths start: 'blurs' (expected gradients over blurred copies at four radii, the default)
            or 'expected' (those, black and noise), each step a random reference and point on its path; or one
            baseline for every step: 'blur', 'black' or 'noise'.
        smooth_samples: SmoothGrad noisy copies averaged (0 to 16; 0 = off).
    """
    options = _options(n_steps, baselines, smooth_samples)
    yield from explanation.run(METHOD, image, model_id, revision, target, direction, options, progress)


def _options(n_steps: float, baselines: str, smooth_samples: float) -> dict[str, Any]:
    return {
        "n_steps": parse_number(n_steps, "n_steps", integer=True),
        "baselines": baselines,
        "smooth_samples": parse_number(smooth_samples, "smooth_samples", integer=True),
    }


def build(inputs: Inputs) -> None:
    """The integrated gradients tab: steps, baseline and SmoothGrad samples, then the explanation panel."""
    defaults = registry.METHODS[METHOD].defaults
    with gr.Tab(registry.label(METHOD)):
        with gr.Row():
            n_steps = gr.Slider(4, ig.MAX_STEPS, value=defaults["n_steps"], step=4, label="n_steps")
            baseline = gr.Radio(
                BASELINES,
                value=defaults["baselines"],
                label="Baseline",
                info="blurs / expected: expected gradients over several references (blurs scored best in "
                "bench/faithfulness.py); blur / black / noise: one path",
            )
            smooth = gr.Slider(0, 16, value=defaults["smooth_samples"], step=1, label="SmoothGrad samples (0 = off)")
        controls = [n_steps, baseline, smooth]
        explanation.wire(
            inputs,
            on_integrated_gradients,
            controls,
            method=METHOD,
            button="Explain with integrated gradients",
            options=_options,
        )
