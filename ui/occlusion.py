"""The occlusion sensitivity tab (Zeiler & Fergus, 2014) and its endpoint, /occlusion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

from explainers import registry
from explainers.options import parse_number

from . import explanation
from .common import endpoint
from .components import Inputs

METHOD = "occlusion"
FILLS = ["zero", "mean", "blur"]
MODES = ["auto", "coarse_to_fine", "dense"]


@endpoint(METHOD, returns=explanation.RETURNS, about=explanation.STREAMS)
def on_occlusion(
    image: Any,
    model_id: str,
    revision: str,
    target: str,
    direction: str,
    window: float,
    stride: float,
    baselines: str,
    mode: str,
    progress: gr.Progress = gr.Progress(),
) -> Iterator[tuple[Any, ...]]:
    """Occlusion sensitivity (Zeiler & Fergus, 2014): how much the target drops when each window is hidden.

    Args:
        window: side of the hidden square in model-input pixels (4 to 112).
        stride: step between windows in pixels, at most the window (2 to 56).
        baselines: what hides a window: 'zero', 'mean' or 'blur'.
        mode: 'dense' (every window), 'coarse_to_fine' (4x fewer forwards) or 'auto' (dense on a GPU only).
    """
    options = {
        "window": parse_number(window, "window", integer=True),
        "stride": parse_number(stride, "stride", integer=True),
        "baselines": baselines,
        "mode": mode,
    }
    yield from explanation.run(METHOD, image, model_id, revision, target, direction, options, progress)


def build(inputs: Inputs) -> None:
    """The occlusion tab: window, stride, fill and mode, then the explanation panel."""
    defaults = registry.METHODS[METHOD].defaults
    with gr.Tab(registry.label(METHOD)):
        with gr.Row():
            window = gr.Slider(4, 112, value=defaults["window"], step=4, label="Window (px)")
            stride = gr.Slider(2, 56, value=defaults["stride"], step=2, label="Stride (px)")
        with gr.Row():
            fill = gr.Radio(FILLS, value=defaults["baselines"], label="Fill")
            mode = gr.Radio(
                MODES,
                value=defaults["mode"],
                label="Mode",
                info="auto: dense on a GPU, coarse-to-fine (4x fewer forwards) on a CPU",
            )
        controls = [window, stride, fill, mode]
        explanation.wire(inputs, on_occlusion, controls, method=METHOD, button="Explain with occlusion")
